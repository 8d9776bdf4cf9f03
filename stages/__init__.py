"""Stage code: one module per DVC stage (`python -m stages.<pipeline>.<step>`)."""
