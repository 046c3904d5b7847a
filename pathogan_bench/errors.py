"""Exceptions that the command line turns into exit codes."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or usage: reported as one line, exit code 2."""


class UnknownComponentError(UserError, KeyError):
    """A registry name that no plugin registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateComponentError(Exception):
    """Two plugins registered the same name for one kind."""


class NonFiniteLossError(Exception):
    """Training produced non-finite losses too many steps in a row."""
