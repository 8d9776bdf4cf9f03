"""Stage code: one module per DVC stage (`python -m stages.<pipeline>.<step>`).

The one piece of import-time work in the project: dvc.yaml's commands call ``python``, which is the
project's venv only when the venv is activated (``.venv/bin/dvc repro`` alone runs the first ``python``
on PATH). Without this check such a run ends in a bare ``ModuleNotFoundError`` traceback from deep
inside a stage; with it, in one line that says what to do. ``find_spec`` only looks the packages up on
sys.path (it imports nothing), so the check costs about a millisecond.
"""
import importlib.util as _util
import sys as _sys

# the third-party packages the stages import (any one missing means: not the project's venv)
_REQUIRED = ("pydantic", "yaml", "numpy", "pandas", "scipy", "sklearn", "torch", "cv2")


def _check_interpreter() -> None:
    """Exit with one line naming this interpreter and the missing package when it is not the venv's."""
    for name in _REQUIRED:
        if _util.find_spec(name) is None:
            raise SystemExit(f"error: python is {_sys.executable}, which lacks {name}; "
                             "activate the project's venv: source .venv/bin/activate")


_check_interpreter()
