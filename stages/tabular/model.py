"""The course's classifier: shared by `tabular-train` (the model it pickles) and `tabular-evaluate`
(the unscaled-vs-scaled comparison trains the same settings again)."""
from __future__ import annotations

import pandas as pd
from sklearn.svm import SVC

from stages.tabular.frames import features_target
from stages.tabular.params import TrainParams


def train_svc(train: pd.DataFrame, train_params: TrainParams, seed: int) -> SVC:
    """An SVC fitted on every feature column of ``train``."""
    X, y = features_target(train)
    return SVC(C=train_params.C, kernel=train_params.kernel, gamma=train_params.gamma, random_state=seed).fit(X, y)
