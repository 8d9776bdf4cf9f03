"""`python -m pipelines course-check anomaly`: the course profile end to end offline (real formats, the book's sizes).

It runs gan's stages too (the digits and the DCGAN that anomaly reads) with gan's course settings and
stand-ins, so it is also gan's course check."""
import pytest

from tests.course import assert_course_check_passes


@pytest.mark.e2e
@pytest.mark.slow(90)
def test_course_profile_runs_end_to_end(tmp_path):
    assert_course_check_passes("anomaly", tmp_path)
