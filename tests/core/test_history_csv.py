"""history.csv keeps the validation columns when validation runs only every few epochs."""
import io

import pandas as pd

from stages.core.training import history_csv


def test_columns_of_later_rows_are_kept_and_missing_cells_are_empty():
    history = [{"epoch": 1, "loss_sgd": 0.9, "seconds": 1.0},
               {"epoch": 2, "loss_sgd": 0.5, "val_loss": 0.7, "val_acc": 0.75, "seconds": 1.0, "images_per_s": 9.0}]
    frame = pd.read_csv(io.StringIO(history_csv(history)))
    assert list(frame.columns) == ["epoch", "loss_sgd", "val_loss", "val_acc"]  # no wall clock
    assert frame["val_acc"].isna().tolist() == [True, False]
    assert frame.loc[1, "val_acc"] == 0.75
