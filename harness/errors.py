"""The harness's exceptions. Each message is one line that names the file, row, key or plugin."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class: the CLI prints the message on one line and exits with :attr:`exit_code`."""

    exit_code = 1


class UsageError(HarnessError):
    """The user asked for something that does not exist or is ill-formed (exit code 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """An unknown or ill-typed configuration key."""


class PluginError(HarnessError):
    """A plugin is broken: it failed to import, raised in its hook, or returned bad records."""


class DataError(HarnessError):
    """A dataset file is missing or malformed, or too many images are unreadable."""


class ImageReadError(DataError):
    """One image could not be read; the loaders skip it and list it in ``skipped.csv``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class NonFiniteLossError(HarnessError):
    """Training produced a NaN or infinite loss."""
