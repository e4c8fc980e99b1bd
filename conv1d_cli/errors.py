"""Errors a user can fix. The CLI prints ``str(error)`` as one line and exits with ``exit_code``.

Raise these (never bare ``SystemExit``) from library code: tests can catch them, and the CLI is
the only place that turns them into exit codes.
"""


class Conv1dError(Exception):
    """A problem with the user's input (config, data, checkpoint, arguments): exit code 2."""

    exit_code = 2


class ConfigError(Conv1dError):
    """The YAML config or a --set override is invalid; the message names the key path."""


class DataError(Conv1dError):
    """A data set is missing, corrupt or does not fit the config; the message names the file or key."""


class CheckpointError(Conv1dError):
    """A checkpoint is missing, truncated, not a checkpoint, too new, or does not fit the config."""


class RunDirError(Conv1dError):
    """The runs folder cannot be used (not writable, a run to resume does not exist)."""
