"""The flow's retry policy, from DVC's output alone (no Prefect run)."""
from pipelines.flows import BAD_INPUT, bad_input_message, retry_unless_bad_input


class _State:
    def __init__(self, name):
        self.name = name


DVC_BAD_PARAMS = [
    "Running stage 'tabular-train':",
    "> python -m stages.tabular.train",
    "05:25:26 ERROR reprolab: params.yaml: tabular.train.C: Input should be a valid number (got 'abc')",
    "params.yaml: tabular.train.gamma: Input should be greater than 0 (got -1.0)",
    "ERROR: failed to reproduce 'tabular-train': failed to run: python -m stages.tabular.train, exited with 2",
]


def test_bad_input_message_is_the_stages_own_lines():
    assert bad_input_message(DVC_BAD_PARAMS) == (
        "params.yaml: tabular.train.C: Input should be a valid number (got 'abc'); "
        "params.yaml: tabular.train.gamma: Input should be greater than 0 (got -1.0)")


def test_a_crash_is_not_bad_input():
    crash = [*DVC_BAD_PARAMS[:2], "Traceback (most recent call last):", "MemoryError",
             "ERROR: failed to reproduce 'tabular-train': failed to run: python -m x, exited with 1"]
    assert bad_input_message(crash) is None
    assert bad_input_message([*DVC_BAD_PARAMS[:-1], DVC_BAD_PARAMS[-1].replace("exited with 2", "exited with -9")]) is None


def test_retry_condition():
    assert retry_unless_bad_input(None, None, _State(BAD_INPUT)) is False
    assert retry_unless_bad_input(None, None, _State("Failed")) is True
