"""Errors a stage raises for bad input. Each message names the file and the field at fault."""


class StageError(Exception):
    """Base class: a stage stopped because its input or config is wrong (not a bug)."""


class ParamsError(StageError):
    """params.yaml does not match the schema (a typo, a wrong type, a missing key)."""


class DataError(StageError):
    """An input file is missing, corrupt, or lacks a required field."""


class DownloadError(StageError):
    """A download failed: HTTP error, timeout, or a checksum that does not match."""


class IntegrityError(StageError):
    """A stored artifact's content does not match the hash recorded when it was written."""


class TrainingError(StageError):
    """Training stopped because it cannot give a usable model: a loss became NaN or infinite."""
