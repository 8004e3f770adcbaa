"""Exception types whose messages say what is wrong, where, and how to fix it.

The CLI turns any ``TunewiseError`` into one red line and exit code 2 (STYLE.md), so a
message here is what the user reads: name the file, line, field or model reference.
"""


class TunewiseError(Exception):
    """Base class for every error tunewise raises on purpose."""


class ModelRefError(TunewiseError):
    """A model reference could not be parsed or resolved."""


class ModelLoadError(TunewiseError):
    """A model exists in principle but cannot be loaded here (offline, pickled, missing files)."""


class DataValidationError(TunewiseError):
    """A data file failed validation; ``problems`` lists every error found, not only the first."""

    def __init__(self, message: str, problems: list | None = None):
        super().__init__(message)
        self.problems = problems or []


class BackendError(TunewiseError):
    """A backend failed to produce what was asked (server error, bad model name, ...)."""


class ConfigError(TunewiseError):
    """A configuration file or value is invalid."""
