"""`python -m pipelines course-check sequence`: the course profile (T = 100, 128 units; the whole Tanaka
corpus by URL, wider translators) end to end, with a small archive of the same layout served
locally and sequences, pairs and epochs capped."""
import pytest

from tests.course import assert_course_check_passes


@pytest.mark.e2e
@pytest.mark.slow(30)
def test_course_profile_runs_end_to_end(tmp_path):
    params = assert_course_check_passes("sequence", tmp_path)
    assert params["sequence.memory.steps"] == 100 and params["sequence.memory.hidden"] == 128
    assert params["sequence.dates.hidden"] == 256 and params["sequence.dates.emb"] == 64
    assert params["sequence.pairs.source"] == "url" and params["sequence.pairs.url"].startswith("http://127.0.0.1:")
    assert params["sequence.translate.d_model"] == 256 and params["sequence.translate.layers"] == 3
