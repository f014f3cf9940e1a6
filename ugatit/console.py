"""A quiet console by default: what TensorFlow prints on its own is hidden unless asked for.

Hidden, unless `--verbose true` or the environment variable UGATIT_VERBOSE=1:
  - the C++ log lines of TensorFlow and XLA (oneDNN, CPU features, CUDA probing such as
    "failed call to cuInit" on a machine without a GPU, Grappler, MLIR), through
    TF_CPP_MIN_LOG_LEVEL=3 (a value the user set is kept);
  - the INFO and WARNING lines its libraries write while `import tensorflow` loads them, before
    their logging reads that level: the first import of tensorflow runs with the standard error
    stream captured, and every other line it wrote is passed on (errors included);
  - the Python logger "tensorflow" below ERROR (its "... is deprecated" notices);
  - DeprecationWarning and FutureWarning raised from tensorflow and keras modules (other
    warnings are untouched).
Errors are not hidden: TensorFlow raises them as exceptions, which the modules main.py runs
turn into the project's one-line messages where they expect them (a damaged checkpoint, a full
disk), and ugatit.cli.main turns the others into one line too (tensorflow_error_message), and so
is a TensorFlow that cannot be imported (tensorflow_import_message); with --verbose they keep
their whole traceback.

quiet_console() must run before TensorFlow is first imported: its C++ logging reads the level
once. ugatit.cli.main (what main.py runs) calls it first thing.
"""

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import tempfile
import traceback
import warnings

VERBOSE_ENV = 'UGATIT_VERBOSE'
NOISY_MODULES = ('tensorflow', 'keras', 'tf_keras', 'absl')
# absl's INFO and WARNING lines ("I0000 00:00:1796339690.234626    5416 port.cc:153] ...") and
# the note it prints before them.
IMPORT_NOISE = re.compile(r'[IW]\d{4} \d\d:\d\d:[\d.]+ +\d+ [^ ]+:\d+\] '
                          r'|WARNING: All log messages before absl::InitializeLog\(\) is called')


def verbose_from_env(environ=None):
    """True when UGATIT_VERBOSE asks for everything (1, true, yes or on)."""
    value = (os.environ if environ is None else environ).get(VERBOSE_ENV, '')
    return value.strip().lower() in ('1', 'true', 'yes', 'on')


def quiet_console(verbose=False):
    """Hide TensorFlow's own log lines and deprecation warnings (see the module docstring)
    unless `verbose` or UGATIT_VERBOSE. Returns True when it hid them."""
    if verbose or verbose_from_env():
        return False
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    logging.getLogger('tensorflow').setLevel(logging.ERROR)
    for module in NOISY_MODULES:
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings('ignore', category=category, module=module)
    if 'tensorflow' not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())
    return True


@contextlib.contextmanager
def filtered_stderr(noise=IMPORT_NOISE):
    """Capture the standard error stream (file descriptor 2, which C++ libraries write to) in
    the block, then write back every line that `noise` does not match."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode('utf-8', 'replace').splitlines(True)
            sys.stderr.write(''.join(line for line in lines if not noise.match(line)))
            sys.stderr.flush()


class _QuietImport(importlib.abc.MetaPathFinder):
    """Import finder that runs the first import of the tensorflow package in filtered_stderr()."""

    def find_spec(self, name, path=None, target=None):
        if name != 'tensorflow':
            return None
        sys.meta_path.remove(self)  # once is enough: the libraries are loaded then
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    """The package's own loader, run in filtered_stderr(), then put back in its place."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = module.__loader__ = self.loader  # what the package sees of itself
        with filtered_stderr():
            self.loader.exec_module(module)


def tensorflow_error_message(exc):
    """One line for an error TensorFlow raised (tf.errors.OpError) that nothing turned into the
    project's own message, e.g. out of memory in a session run; None for any other exception."""
    tf = sys.modules.get('tensorflow')
    if tf is None or not isinstance(exc, tf.errors.OpError):
        return None
    from ugatit.errors import first_line
    line, hint = first_line(exc), ''
    if isinstance(exc, tf.errors.ResourceExhaustedError):
        hint = ('the disk is full: free some space or choose another output folder. ' if 'space' in line.lower()
                else 'out of memory: use a smaller --batch_size (or --img_size, --ch for training). ')
    return 'TensorFlow stopped (%s: %s). %s--verbose true shows its whole report.' % (type(exc).__name__, line, hint)


def tensorflow_import_message(exc):
    """One line for an ImportError raised while TensorFlow was imported (a broken or unfitting
    installation, a missing library): what failed and how to reinstall; None for any other."""
    if not isinstance(exc, ImportError):
        return None
    own = (exc.name or '').split('.')[0] == 'tensorflow'
    inside = any('tensorflow' in frame.filename.split(os.sep) for frame in traceback.extract_tb(exc.__traceback__))
    if not own and not inside:
        return None
    from ugatit.errors import first_line
    return ('TensorFlow cannot be imported (%s: %s): its installation is broken or does not fit this machine. '
            'Reinstall it in this environment: `make venv`, or pip install -r requirements.txt (docs/install.md). '
            '--verbose true shows the whole report.' % (type(exc).__name__, first_line(exc)))
