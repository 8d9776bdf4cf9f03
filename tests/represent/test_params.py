"""The represent section's schema: the committed values validate; bad margins, temperatures, scales
and label fractions are one line naming the key; a batch no larger than the classes is refused."""
import pytest
import torch

from stages.core.errors import ParamsError
from stages.core.params import validate_section
from stages.represent.methods import method_parts
from stages.represent.params import RepresentParams
from tests.conftest import committed_params_with


def section(key="represent.seeds", value=3):
    return validate_section(committed_params_with(key, value), "represent", RepresentParams)


def test_the_committed_section_validates():
    p = section()
    assert p.triplet.mining == "semihard" and p.views.transform.scale == (0.8, 1.15) and p.probe.label_fractions == [0.01, 0.1, 1.0]


@pytest.mark.parametrize("key, value", [("represent.contrastive.margin", -0.1), ("represent.triplet.margin", -1),
                                        ("represent.simclr.temperature", 0), ("represent.simclr.temperature", -0.5),
                                        ("represent.views.transform.scale", [1.2, 0.8]), ("represent.probe.label_fractions", [0.0, 0.5]),
                                        ("represent.views.views_per_image", 1), ("represent.triplet.mining", "random"),
                                        ("represent.encoder.dim", 0)])
def test_a_bad_value_is_one_line_naming_the_key(key, value):
    with pytest.raises(ParamsError, match=key.replace(".", r"\.")) as err:
        section(key, value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("method", ["contrastive", "triplet"])
def test_a_batch_that_cannot_hold_a_pair_of_one_class_is_one_line_naming_the_key(method):
    p = section(f"represent.{method}.batch_size", 10)
    views, labels = torch.zeros(20, 2, 1, 8, 8, dtype=torch.uint8), torch.arange(20) % 10
    summary = {"classes": [str(c) for c in range(10)], "channels": 1, "mean": [0.5], "std": [0.2]}
    with pytest.raises(ParamsError, match=rf"represent\.{method}\.batch_size is 10: a batch must hold more images than the 10 classes") as err:
        method_parts(method, getattr(p, method), p.encoder, 1, 0, views, labels, summary)
    assert "\n" not in str(err.value)
    method_parts("simclr", p.simclr, p.encoder, 1, 0, views, labels, summary)  # SimCLR needs no classes in a batch
