"""Fonts for figures whose text needs more than matplotlib's default font has."""
from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def japanese_font():
    """A font with Japanese glyphs (IPAexGothic, shipped by the ``matplotlib-fontja`` package): a
    ``FontProperties`` to pass as ``fontproperties=`` to the texts that need it.

    The package's font file is used directly: importing the package would switch every later figure
    of the process to that font.

    Raises:
        ModuleNotFoundError: the package is not installed.
    """
    import importlib.util

    from matplotlib.font_manager import FontProperties

    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("matplotlib-fontja is not installed (requirements/lock.txt has it: run make setup)")
    return FontProperties(fname=str(Path(spec.submodule_search_locations[0]) / "fonts" / "ipaexg.ttf"))
