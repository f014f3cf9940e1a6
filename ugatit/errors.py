"""The exception types that main.py turns into a clear message and a non-zero exit, and the
helpers that put an error into one line."""

import errno

# The errors of writing a file that the user can fix: a full disk or quota, a folder or file
# without write permission (EACCES) or made immutable (EPERM, e.g. `chattr +i`), a read-only
# file system.
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


class UserError(Exception):
    """A problem the user can fix (a flag, a path, a file); the message says what to do."""


class Stopped(KeyboardInterrupt):
    """Stopped by a signal (SIGTERM): cleaned up like Ctrl-C; the exit status is 128 + signum."""

    def __init__(self, signum):
        super().__init__(signum)
        self.exit_status = 128 + signum


def is_write_error(exc):
    """True for an OSError of writing that the user can fix (WRITE_ERRNOS)."""
    return isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS


def first_line(exc):
    """The line of an exception's message that says what went wrong (at most 200 characters),
    for one-line errors. TensorFlow's session errors begin with 'Graph execution error:' and the
    Python stack where the failing op was built; their own message follows the 'Node: ...' line."""
    text = (getattr(exc, 'message', None) or str(exc)).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0] == 'Graph execution error:':
        after_node = [i + 1 for i, line in enumerate(lines) if line.startswith('Node: ')]
        start = after_node[0] if after_node else 1
        rest = [line for line in lines[start:] if not _tensorflow_context(line)]
        lines = rest or lines[:1]
    return lines[0][:200] if lines else type(exc).__name__


def _tensorflow_context(line):
    """True for the lines of a TensorFlow error that locate it rather than say what it is."""
    return line.startswith(('Detected at node', 'File "', 'Node: ', '[['))
