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
