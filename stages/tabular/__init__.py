"""The `tabular` pipeline (course 1-3): titanic → split → encode → impute → analyze → scale →
balance → train (SVC) → evaluate."""
