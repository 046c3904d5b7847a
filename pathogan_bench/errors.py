"""Exceptions that the command line turns into exit codes."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or usage: reported as one line, exit code 2."""


class UnknownComponentError(UserError, KeyError):
    """A registry name that no plugin registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ModelOptionsError(UserError):
    """A model option the model does not have, or a value out of its range (``[model_options]``, ``--model-option``)."""


class DuplicateComponentError(UserError):
    """A name two plugins registered for one kind: asking for it fails, the rest of the registry works."""


class RunFailedError(Exception):
    """Training went wrong in a way the run's policy does not accept; the run is marked failed (exit code 1)."""


class NonFiniteLossError(RunFailedError):
    """Training produced non-finite losses too many steps in a row."""


class TooManySkippedUpdatesError(RunFailedError):
    """More optimizer updates were skipped (non-finite loss or gradients) than the run allows."""


class TrainingInterrupted(Exception):
    """Training stopped on SIGINT or SIGTERM after saving a checkpoint; the command exits 130."""

    def __init__(self, signal_name: str, step: int):
        super().__init__(f"{signal_name or 'interrupt'} at step {step}")
        self.signal_name, self.step = signal_name, step


class DiskFullError(Exception):
    """A file could not be written because its disk (or quota) is full: ``disk full: ...``, exit code 1.

    ``note`` says what survives (e.g. a run's last good checkpoint and how to continue it).
    """

    def __init__(self, path: object, reason: str = "No space left on device"):
        super().__init__(path, reason)
        self.path, self.reason, self.note = path, reason, ""

    def __str__(self) -> str:
        return f"cannot write {self.path}: the disk is full ({self.reason})" + (f"; {self.note}" if self.note else "")


#: errno values of a full disk or an exhausted quota
DISK_FULL_ERRNOS = (28, 122)  # ENOSPC, EDQUOT


def disk_full(exc: BaseException, path: object = None) -> DiskFullError | None:
    """``exc`` as a :class:`DiskFullError` naming ``path`` (else the file the error names), or None."""
    if isinstance(exc, DiskFullError):
        return exc
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return DiskFullError(path or exc.filename or "a file", exc.strerror or "No space left on device")
    return None


class ContractError(UserError):
    """A plugin's component that does not provide what its kind's contract declares (pathogan_bench.contracts)."""
