"""The exception types that main.py turns into a clear message and a non-zero exit."""


class UserError(Exception):
    """A problem the user can fix (a flag, a path, a file); the message says what to do."""


class Stopped(KeyboardInterrupt):
    """Stopped by a signal (SIGTERM): cleaned up like Ctrl-C; the exit status is 128 + signum."""

    def __init__(self, signum):
        super().__init__(signum)
        self.exit_status = 128 + signum
