"""The course check's stand-ins for tabular (``python -m pipelines course-check tabular``).

The course downloads seaborn's ``titanic.csv``; offline, a CSV in its exact columns is served from
127.0.0.1 instead: real passengers (the embedded set's first 200) with seaborn's derived columns, and
fare, embarked and deck (which the embedded set lacks) drawn per class from a seeded generator.
"""
from __future__ import annotations

from typing import Any

import numpy as np

CAPS: dict[str, Any] = {}  # the course's SVM on a few hundred rows takes seconds as it is

COLUMNS = ["survived", "pclass", "sex", "age", "sibsp", "parch", "fare", "embarked", "class", "who",
           "adult_male", "deck", "embark_town", "alive", "alone"]  # seaborn's titanic.csv, in its order


def standins(kit) -> dict[str, Any]:
    from stages.tabular.titanic import derive_seaborn_columns, load_embedded

    frame = load_embedded().head(200).copy()
    rng = np.random.default_rng(kit.seed)
    frame["fare"] = np.round(rng.gamma(2.0, np.select([frame.pclass == 1, frame.pclass == 2], [40.0, 10.0], 5.0)), 4)
    frame["embarked"] = rng.choice(["S", "C", "Q"], len(frame), p=[0.72, 0.19, 0.09])
    frame["deck"] = np.where((frame.pclass == 1) & (rng.random(len(frame)) < 0.8), rng.choice(list("ABCDE"), len(frame)), None)
    frame = derive_seaborn_columns(frame)
    frame["embark_town"] = frame["embarked"].map({"S": "Southampton", "C": "Cherbourg", "Q": "Queenstown"})
    served = kit.put("titanic.csv", frame.reindex(columns=COLUMNS).to_csv(index=False).encode())
    return {"tabular.download.url": served.url, "tabular.download.sha256": served.sha256}
