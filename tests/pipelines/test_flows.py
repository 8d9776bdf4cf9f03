"""The flow's retry policy, from DVC's output alone (no Prefect run)."""
import pytest


@pytest.fixture(scope="module")
def flows():
    """:mod:`pipelines.flows`, imported when a test of this file runs: it imports Prefect (1-2 s of CPU),
    which every xdist worker would otherwise pay while collecting."""
    from pipelines import flows

    return flows


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


def test_bad_input_message_is_the_stages_own_lines(flows):
    assert flows.bad_input_message(DVC_BAD_PARAMS) == (
        "params.yaml: tabular.train.C: Input should be a valid number (got 'abc'); "
        "params.yaml: tabular.train.gamma: Input should be greater than 0 (got -1.0)")


def test_a_crash_is_not_bad_input(flows):
    crash = [*DVC_BAD_PARAMS[:2], "Traceback (most recent call last):", "MemoryError",
             "ERROR: failed to reproduce 'tabular-train': failed to run: python -m x, exited with 1"]
    assert flows.bad_input_message(crash) is None
    assert flows.bad_input_message([*DVC_BAD_PARAMS[:-1], DVC_BAD_PARAMS[-1].replace("exited with 2", "exited with -9")]) is None


def test_retry_condition(flows):
    assert flows.retry_unless_bad_input(None, None, _State(flows.BAD_INPUT)) is False
    assert flows.retry_unless_bad_input(None, None, _State("Failed")) is True
