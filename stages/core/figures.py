"""Figures: matplotlib on the Agg backend, saved as byte-stable PNGs.

Every stage makes its figures through this module: :func:`pyplot` selects the non-interactive Agg
backend once (stages run headless, under DVC or Prefect, with no display), :func:`new_figure` opens a
grid of axes, and :func:`save` writes a PNG whose bytes depend only on what was drawn (no
``Software`` metadata with matplotlib's version, fixed DPI), so an unchanged figure keeps its DVC
hash. ``Outputs.figure`` (stages.core.io) saves through :func:`save`; inside a folder from
``Outputs.dir`` a stage calls :func:`save` directly (the whole folder is renamed into place).
"""
from __future__ import annotations

import functools
from pathlib import Path

DPI = 100


@functools.cache
def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (chosen once per process, before pyplot is imported)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_figure(nrows: int = 1, ncols: int = 1, **kwargs):
    """A figure and its axes: ``plt.subplots(nrows, ncols, **kwargs)`` on the Agg backend.

    Returns:
        (fig, axes) exactly as ``plt.subplots`` returns them (pass ``squeeze=False`` for a 2-D array).
    """
    return pyplot().subplots(nrows, ncols, **kwargs)


def save(fig, path: str | Path, dpi: int = DPI) -> None:
    """Write ``fig`` as PNG to ``path`` and close it.

    ``metadata={"Software": None}`` drops the matplotlib version from the file, so the bytes (and
    the output's hash) do not change when only matplotlib is upgraded.
    """
    fig.savefig(path, dpi=dpi, bbox_inches="tight", format="png", metadata={"Software": None})
    pyplot().close(fig)
