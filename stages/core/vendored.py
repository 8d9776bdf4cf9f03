"""Data files vendored into the repository (an embedded default that no package ships and no seed
generates), each checked against the sha256 its folder's README gives before it is read."""
from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .io import sha256_file


def vendored_file(folder: Path, name: str, expected: str) -> Path:
    """The path of the vendored file ``folder/name``, its sha256 checked against ``expected``.

    Raises:
        DataError: the file is missing, or its bytes are not the ones the folder's README describes.
    """
    path = folder / name
    if not path.is_file():
        raise DataError(f"{path}: vendored data file missing (restore it: git checkout -- {path})")
    digest = sha256_file(path)
    if digest != expected:
        raise DataError(f"{path}: sha256 {digest} is not the vendored file's {expected} "
                        f"({folder / 'README.md'}); restore it with git checkout")
    return path
