"""The command line of main.py.

    parser.py   the flags, one function per group, and argv -> Config
    validate.py the checks of the flags across each other
    phases.py   the table from a phase and its mode to the function that runs it
"""

import sys

from ugatit.cli import phases
from ugatit.cli.parser import build_parser, parse_args, parse_config, verbose_requested
from utils import forget_made_folders, printable, remove_made_folders

__all__ = ['main', 'build_parser', 'parse_args', 'parse_config']


def main(argv=None):
    """Run main.py with argv (default: sys.argv[1:]); returns the exit status. User errors, a
    full disk or unwritable folder (ugatit.errors.is_write_error), a TensorFlow that cannot be
    imported and TensorFlow's own errors become one line on stderr (tracebacks with --verbose)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    from ugatit.console import quiet_console
    quiet = quiet_console(verbose_requested(argv))
    config = parse_config(argv)
    forget_made_folders()
    status = 1
    try:
        status = _handled(config, quiet)
    finally:
        if status:  # refused, failed or interrupted: no empty output folder is left behind
            remove_made_folders()
        forget_made_folders()
    return status


def _handled(config, quiet):
    """Run the phase of config; returns its exit status. Errors the user can act on become one
    line on stderr and a status (see main); the others are raised."""
    from ugatit.console import tensorflow_error_message, tensorflow_import_message
    from ugatit.errors import UserError, is_write_error
    try:
        return phases.run_phase(config)
    except UserError as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 2
    except OSError as exc:
        if not is_write_error(exc):
            raise
        print('error: cannot write %s: %s. Free some space or make it writable, or choose another output folder; '
              'files written before are complete.' % (printable(exc.filename or 'a file'), exc.strerror),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return getattr(exc, 'exit_status', 130)  # 130: Ctrl-C; 143: SIGTERM (ugatit.errors.Stopped)
    except ImportError as exc:
        message = tensorflow_import_message(exc)
        if message is None or not quiet:
            raise
        print('error: %s' % message, file=sys.stderr)
        return 2
    except Exception as exc:
        message = tensorflow_error_message(exc)
        if message is None or not quiet:
            raise
        print('error: %s' % message, file=sys.stderr)
        return 1
