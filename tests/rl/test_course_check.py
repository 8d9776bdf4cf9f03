"""`python -m pipelines course-check rl`: the course profile (FrozenLake 8x8) end to end, episodes capped."""
import pytest

from tests.course import assert_course_check_passes


@pytest.mark.e2e
@pytest.mark.slow(30)
def test_course_profile_runs_end_to_end(tmp_path):
    params = assert_course_check_passes("rl", tmp_path)
    assert params["rl.frozenlake.map_name"] == "8x8"
