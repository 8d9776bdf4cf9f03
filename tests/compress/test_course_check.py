"""`python -m pipelines course-check compress`: the course profile (CIFAR-10, a ResNet-18 teacher) end
to end offline, on a stand-in tarball in CIFAR-10's format."""
import pytest

from tests.course import assert_course_check_passes


@pytest.mark.e2e
@pytest.mark.slow(120)
def test_course_profile_runs_end_to_end(tmp_path):
    params = assert_course_check_passes("compress", tmp_path)
    assert params["compress.teacher.net.arch"] == "resnet18"
    assert params["compress.data.source"] == "url"
