"""Stage `tabular-train`: fit an SVC on the (balanced, scaled) train split and pickle it."""
from __future__ import annotations

import logging

from stages.core.io import read_parquet
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.tabular import params
from stages.tabular.model import train_svc

log = logging.getLogger(__name__)


def main(stage: Declared) -> None:
    model = train_svc(read_parquet(stage.dep("train.parquet")), params.load().train, load_common().seed)
    with stage.outputs() as out:
        out.pickle(stage.out("model.pkl"), model)
    log.info("SVC fitted: %d support vectors", int(model.n_support_.sum()))


if __name__ == "__main__":
    run_stage(main)
