"""Compiled TensorFlow ops of this project, built on first use for the machine that runs them.

    library = winograd_library()  # the ops of ops.winograd_convolutions, or raises NativeOpError

The C++ sources beside this file are compiled with the system's C++ compiler (g++ or $CXX)
against the installed TensorFlow's headers, `-march=native` for the arithmetic, into a cache
folder ($UGATIT_NATIVE_CACHE, else ~/.cache/ugatit/native) under a name that changes with the
sources, the TensorFlow version and the CPU's instruction sets, so that a home folder shared
between machines never loads code built for another CPU. Each load runs a self-check against
tf.nn.conv2d (winograd_error): what passed where it was written is not trusted elsewhere.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
WINOGRAD_SOURCES = ('winograd_kernels.h', 'winograd_kernels.cc', 'winograd_ops.cc')

# Largest relative error (Frobenius) accepted from the Winograd convolution against
# tf.nn.conv2d on the self-check's shapes. Measured here 1.3e-6 at 32 channels and 3.3e-6 at
# 256 (float rounding of the transforms, whose coefficients reach 8 and 1/24); a wrong
# coefficient or tile index is off by more than 1e-2.
WINOGRAD_TOLERANCE = 1e-4


class NativeOpError(RuntimeError):
    """The compiled ops cannot be used here; the message says why and what to do."""


_checked = {}  # this process's library and its self-check error (checked_winograd)


def winograd_library():
    """The checked Winograd library of this process (built, loaded and checked on first use)."""
    return checked_winograd()[0]


def checked_winograd():
    """(library, self-check error) of this process: load_winograd on the first call."""
    if 'winograd' not in _checked:
        _checked['winograd'] = load_winograd()
    return _checked['winograd']


def load_winograd(cache_dir=None, verbose=True):
    """(the Winograd op library (tf.load_op_library), its self-check error), compiled first if
    needed (said when verbose). Raises NativeOpError: no compiler, a failed build, a failed check."""
    import tensorflow as tf
    path = _build(cache_dir or default_cache_dir(), verbose)
    try:
        library = tf.load_op_library(path)
    except (tf.errors.NotFoundError, OSError) as error:
        raise NativeOpError('the Winograd ops built in %s do not load (%s); delete that file to '
                            'build them again' % (path, str(error).splitlines()[0])) from error
    error = winograd_error(library)
    if error > WINOGRAD_TOLERANCE:
        raise NativeOpError('the Winograd convolution fails its self-check on this CPU: %.1e from '
                            'tf.nn.conv2d, more than the %.0e allowed' % (error, WINOGRAD_TOLERANCE))
    return library, error


def default_cache_dir():
    return os.environ.get('UGATIT_NATIVE_CACHE') or os.path.join(
        os.path.expanduser('~'), '.cache', 'ugatit', 'native')


def library_name():
    """winograd-<hash>.so: the hash of the sources, TensorFlow's version and the CPU's flags."""
    import tensorflow as tf
    digest = hashlib.sha256(tf.__version__.encode())
    for name in WINOGRAD_SOURCES:
        with open(os.path.join(HERE, name), 'rb') as f:
            digest.update(f.read())
    digest.update(_cpu_flags().encode())
    return 'winograd-%s.so' % digest.hexdigest()[:16]


def _cpu_flags(cpuinfo='/proc/cpuinfo'):
    try:
        with open(cpuinfo) as f:
            return next((line for line in f if line.startswith('flags')), '')
    except OSError:
        return ''


def _build(cache_dir, verbose):
    """Path of the compiled library in cache_dir, compiling it there first if it is missing."""
    path = os.path.join(cache_dir, library_name())
    if os.path.exists(path):
        return path
    compiler = os.environ.get('CXX') or shutil.which('g++') or shutil.which('c++')
    if not compiler:
        raise NativeOpError('building the Winograd ops needs a C++ compiler and none was found '
                            '(install g++: apt-get install g++, or set CXX)')
    try:
        os.makedirs(cache_dir, exist_ok=True)
    except OSError as error:
        raise NativeOpError('cannot create %s for the compiled ops (%s); set UGATIT_NATIVE_CACHE to a '
                            'writable folder' % (cache_dir, error.strerror)) from error
    if verbose:
        print(' [*] Building the Winograd ops for this CPU (once, about 10 s) into %s' % cache_dir)
    with tempfile.TemporaryDirectory(dir=cache_dir) as work:
        for command in _compile_commands(compiler, work):
            try:
                result = subprocess.run(command, capture_output=True, text=True)
            except OSError as error:  # e.g. CXX names no program
                raise NativeOpError('cannot run the C++ compiler %s (%s); install g++ or set CXX'
                                    % (compiler, error.strerror)) from error
            if result.returncode != 0:
                lines = [l for l in result.stderr.splitlines() if 'error' in l][:3] or result.stderr.splitlines()[-3:]
                raise NativeOpError('building the Winograd ops failed (%s):\n    %s'
                                    % (os.path.basename(compiler), '\n    '.join(lines)))
        os.replace(os.path.join(work, 'winograd.so'), path)  # atomic: parallel builds do not clash
    return path


def _compile_commands(compiler, work):
    """The arithmetic for this CPU (no TensorFlow header), the ops with TensorFlow's flags, linked."""
    import tensorflow as tf
    kernels, ops, library = (os.path.join(work, name) for name in ('kernels.o', 'ops.o', 'winograd.so'))
    return [
        [compiler, '-c', '-fPIC', '-O3', '-march=native', os.path.join(HERE, 'winograd_kernels.cc'), '-o', kernels],
        [compiler, '-c', '-fPIC', '-O2', '-w'] + tf.sysconfig.get_compile_flags()
        + [os.path.join(HERE, 'winograd_ops.cc'), '-o', ops],
        [compiler, '-shared', kernels, ops, '-o', library] + tf.sysconfig.get_link_flags(),
    ]


def winograd_error(library, seed=0):
    """Relative error of the Winograd convolution against tf.nn.conv2d on the self-check's input:
    x [2, 13, 18, 40] (sizes that leave partial tiles and a partial channel block), w [3, 3, 40,
    72] * 0.05, both standard normal (convolution_error)."""
    rng = np.random.default_rng(seed)
    x_value = rng.standard_normal((2, 13, 18, 40)).astype('float32')
    w_value = (rng.standard_normal((3, 3, 40, 72)) * 0.05).astype('float32')
    return convolution_error(library, x_value, w_value)


def convolution_error(library, x_value, w_value, w_winograd=None):
    """Relative error (Frobenius) of the Winograd convolution of x_value [N, H, W, C] by
    w_winograd [3, 3, C, K] (default w_value) against tf.nn.conv2d's of x_value by w_value, in
    a graph of its own."""
    import tensorflow as tf
    import ops
    graph = tf.Graph()
    with graph.as_default():
        x, w = tf.constant(x_value), tf.constant(w_value)
        reference = tf.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding='VALID')
        winograd = ops.winograd_conv2d(x, w if w_winograd is None else tf.constant(w_winograd), library)
        with tf.compat.v1.Session(graph=graph) as sess:
            a, b = sess.run([winograd, reference])
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))
