"""The one figure helper: Agg backend, PNG bytes that depend only on what was drawn."""
import hashlib

import numpy as np

from stages.core.figures import new_figure, pyplot, save
from stages.core.io import atomic_outputs


def _draw():
    fig, ax = new_figure(figsize=(2, 2))
    ax.plot(np.arange(5), np.arange(5) ** 2)
    return fig


def test_backend_is_agg_and_figures_are_closed(tmp_path):
    plt = pyplot()
    assert plt.get_backend().lower() == "agg"
    before = len(plt.get_fignums())
    save(_draw(), tmp_path / "a.png")
    assert len(plt.get_fignums()) == before  # closed after saving: long stages do not leak figures


def test_png_bytes_are_deterministic_and_carry_no_software_tag(tmp_path):
    save(_draw(), tmp_path / "a.png")
    with atomic_outputs() as out:  # Outputs.figure saves through the same helper
        out.figure(tmp_path / "b.png", _draw())
    a, b = (tmp_path / "a.png").read_bytes(), (tmp_path / "b.png").read_bytes()
    assert a[:8] == b"\x89PNG\r\n\x1a\n"
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()
    assert b"matplotlib" not in a.lower() and b"Software" not in a
