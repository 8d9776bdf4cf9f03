"""`python -m pipelines course-check sequence`: the course profile (T = 100, 128 units) end to end, sequences capped."""
import pytest

from tests.course import assert_course_check_passes


@pytest.mark.e2e
@pytest.mark.slow(30)
def test_course_profile_runs_end_to_end(tmp_path):
    params = assert_course_check_passes("sequence", tmp_path)
    assert params["sequence.memory.steps"] == 100 and params["sequence.memory.hidden"] == 128
    assert params["sequence.dates.hidden"] == 256 and params["sequence.dates.emb"] == 64
