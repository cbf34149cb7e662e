"""Errors of the generation module: each carries a message meant for the artist."""

from __future__ import annotations


class GenerateError(Exception):
    """A problem that stops a command before or between jobs (printed without traceback)."""


class ModelNotFoundError(GenerateError):
    """A model named by a recipe is not in the registry or not on disk."""


class DeviceError(GenerateError):
    """The requested device (e.g. CUDA) is not available."""


class JobError(Exception):
    """One job failed; the run goes on with the jobs that do not depend on it."""

    def __init__(self, message: str, *, out_of_memory: bool = False) -> None:
        super().__init__(message)
        self.out_of_memory = out_of_memory


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's CUDA out-of-memory error and the RuntimeErrors that mean the same."""
    if type(exc).__name__ == "OutOfMemoryError" or isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
