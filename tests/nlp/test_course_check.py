"""`python -m pipelines course-check nlp`: the course profile end to end offline (real formats, the book's sizes)."""
import pytest

from tests.course import assert_course_check_passes


@pytest.mark.e2e
@pytest.mark.slow(95)
def test_course_profile_runs_end_to_end(tmp_path):
    assert_course_check_passes("nlp", tmp_path)
