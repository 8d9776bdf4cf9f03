"""`python -m pipelines course-check represent`: the course profile (STL-10, a ResNet-18 encoder,
SimCLR's recipe) end to end offline, on a stand-in tarball in STL-10's binary format."""
import pytest

from tests.course import assert_course_check_passes


@pytest.mark.e2e
@pytest.mark.slow(90)
def test_course_profile_runs_end_to_end(tmp_path):
    params = assert_course_check_passes("represent", tmp_path)
    assert params["represent.encoder.arch"] == "resnet18" and params["represent.views.image_px"] == 96
    assert params["represent.views.source"] == "url" and params["represent.simclr.temperature"] == 0.07
