"""The one exception type that main.py turns into a clear message and a non-zero exit."""


class UserError(Exception):
    """A problem the user can fix (a flag, a path, a file); the message says what to do."""
