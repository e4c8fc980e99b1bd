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
    """A data set is missing, corrupt or does not fit the config; names the file or key."""


class CheckpointError(Conv1dError):
    """A checkpoint is missing, truncated, not a checkpoint, too new, or does not fit the config."""


class RunDirError(Conv1dError):
    """The runs folder cannot be used (not writable, a run to resume does not exist)."""


class TrainingDiverged(Conv1dError):
    """The loss became NaN or infinite; the last good checkpoint is kept. Exit code 3."""

    exit_code = 3


class TrainingInterrupted(Conv1dError):
    """Ctrl-C or SIGTERM: ``last`` was saved; exit 128 + the signal number (130 or 143)."""

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number


class RunInUse(Conv1dError):
    """Another live process holds the run directory's lock (names its PID, host and start)."""


class NotEnoughMemory(Conv1dError):
    """The memory preflight: the model and one batch would not fit in the available memory."""


class StorageError(Conv1dError):
    """Disk full, quota exceeded, read-only or I/O error while writing a run file. Exit code 4.

    The message names the file and the cause; the previous checkpoint is intact (atomic writes)
    and the run can be resumed once space is freed.
    """

    exit_code = 4


class WorkerLost(Conv1dError):
    """A data-parallel worker process (``train.workers``) stopped or failed: killed, out of
    memory, or an error in it. Exit code 5. The last checkpoint is intact and the run resumes.
    """

    exit_code = 5
