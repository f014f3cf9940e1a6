"""--winograd (ops.winograd_convolutions, ugatit/native): the compiled Winograd F(4x4, 3x3) ops
compute tf.nn.conv2d's 3x3 stride-1 convolution within float rounding on any shape, are used only
where asked, and every way they can fail to build or check says what to do."""

import numpy as np
import pytest
import tensorflow as tf

import ops
from tests.support import tiny_config
from tests.support.winograd import ScaledKernelWinograd, winograd_library_or_skip
from ugatit import native
from ugatit.cli import phases
from ugatit.errors import UserError
from ugatit.infer.translator import build_generators

tf1 = tf.compat.v1


@pytest.fixture(scope='module')
def library():
    return winograd_library_or_skip()


def _error(library, x_value, w_value, w_winograd=None):
    """native.convolution_error, after checking that the Winograd convolution's static shape is
    tf.nn.conv2d's."""
    with tf.Graph().as_default():
        x, w = tf.zeros(x_value.shape), tf.zeros(w_value.shape)
        assert ops.winograd_conv2d(x, w, library).get_shape().as_list() == \
            tf.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding='VALID').get_shape().as_list()
    return native.convolution_error(library, x_value, w_value, w_winograd)


# Input [N, H, W, C] and output channels K: whole and partial 4x4 tiles, one and several
# channel blocks of 64 (with a remainder), the smallest input, a batch.
SHAPES = [((1, 18, 18, 8), 8), ((2, 13, 22, 40), 72), ((1, 3, 3, 5), 3), ((1, 66, 66, 130), 64), ((3, 7, 10, 64), 65)]


@pytest.mark.parametrize('x_shape,k', SHAPES)
def test_the_winograd_convolution_computes_conv2d(library, x_shape, k):
    rng = np.random.default_rng(1)
    x_value = rng.standard_normal(x_shape).astype('float32')
    w_value = (rng.standard_normal((3, 3, x_shape[-1], k)) * 0.05).astype('float32')
    assert _error(library, x_value, w_value) <= native.WINOGRAD_TOLERANCE
    # Negative controls: the kernel flipped (a convolution for a correlation), or 0.1 % larger.
    assert _error(library, x_value, w_value, w_value[::-1, ::-1].copy()) > 0.1
    assert _error(library, x_value, w_value, w_value * 1.001) > native.WINOGRAD_TOLERANCE


def test_the_self_check_passes_the_library_and_fails_a_wrong_one(library):
    assert native.winograd_error(library) <= native.WINOGRAD_TOLERANCE
    assert native.winograd_error(ScaledKernelWinograd(library, 1.01)) > native.WINOGRAD_TOLERANCE


def test_a_failed_self_check_refuses_the_library(library, monkeypatch):
    monkeypatch.setattr(native, 'winograd_error', lambda library: 0.01)
    with pytest.raises(native.NativeOpError, match='fails its self-check'):
        native.load_winograd(verbose=False)


def test_no_compiler_and_a_failed_build_are_explained(tmp_path, monkeypatch):
    monkeypatch.delenv('CXX', raising=False)
    monkeypatch.setattr(native.shutil, 'which', lambda name: None)
    with pytest.raises(native.NativeOpError, match='needs a C\\+\\+ compiler.*apt-get install g\\+\\+'):
        native.load_winograd(cache_dir=str(tmp_path / 'a'), verbose=False)
    monkeypatch.setenv('CXX', str(tmp_path / 'no-such-compiler'))
    with pytest.raises(native.NativeOpError, match='cannot run the C\\+\\+ compiler .*no-such-compiler'):
        native.load_winograd(cache_dir=str(tmp_path / 'c'), verbose=False)
    failing = tmp_path / 'failing-compiler'
    failing.write_text('#!/bin/sh\necho "x.cc:1: error: broken" >&2\nexit 1\n')
    failing.chmod(0o755)
    monkeypatch.setenv('CXX', str(failing))
    with pytest.raises(native.NativeOpError, match='(?s)building the Winograd ops failed .*error: broken'):
        native.load_winograd(cache_dir=str(tmp_path / 'b'), verbose=False)
    assert not [p for p in (tmp_path / 'b').rglob('*') if p.is_file()]  # nothing half-built left


def test_the_library_name_changes_with_the_cpu(monkeypatch):
    name = native.library_name()
    monkeypatch.setattr(native, '_cpu_flags', lambda: 'flags : fpu sse2')
    assert native.library_name() != name


@pytest.fixture
def every_3x3_convolution(monkeypatch):
    """Winograd for every 3x3 stride-1 convolution, however small (the tiny model's included)."""
    monkeypatch.setattr(ops, 'WINOGRAD_MIN_CHANNELS', 1)
    monkeypatch.setattr(ops, 'WINOGRAD_MIN_WORK', 0)


def _ops_of_generator(library):
    """Op types of the tiny generator a2b built inside winograd_convolutions(library)."""
    graph = tf.Graph()
    with graph.as_default(), ops.winograd_convolutions(library):
        build_generators(tiny_config().model, ('a2b',))
    return {op.type for op in graph.get_operations()}


def test_only_the_3x3_stride_1_convolutions_change_and_only_when_asked(library, every_3x3_convolution):
    default = _ops_of_generator(None)
    assert 'Conv2D' in default and not any(t.startswith('Winograd') for t in default)
    winograd = _ops_of_generator(library)
    assert {'WinogradInput', 'WinogradKernel', 'WinogradOutput'} <= winograd
    assert 'Conv2D' in winograd  # the 7x7 and the stride-2 convolutions stay


@pytest.mark.parametrize('size,c_in,c_out,kernel,stride,used', [
    (64, 256, 256, 3, 1, True),     # the residual blocks of a 256 px ch 64 model: measured 2.2x
    (128, 256, 128, 3, 1, True),    # its first up-sampling convolution
    (64, 128, 128, 3, 1, True),     # measured 1.6x
    (32, 128, 128, 3, 1, False),    # 1.25x alone, but a 128 px ch 32 generator using it was not faster
    (128, 32, 32, 3, 1, False),     # measured 0.8x
    (64, 256, 256, 3, 2, False),    # stride 2
    (64, 256, 256, 7, 1, False),    # 7x7
    (None, 256, 256, 3, 1, False),  # sizes unknown until run
])
def test_winograd_is_used_where_it_measured_faster(size, c_in, c_out, kernel, stride, used):
    with tf.Graph().as_default():
        x = tf1.placeholder(tf.float32, [1, size, size, c_in])
        w = tf.zeros([kernel, kernel, c_in, c_out])
        assert ops._winograd_pays(x, w, [1, stride, stride, 1]) is used

def test_the_tiny_model_is_too_small_for_winograd(library):
    assert not any(t.startswith('Winograd') for t in _ops_of_generator(library))


def test_winograd_is_refused_on_a_gpu_and_explained_where_it_cannot_build(monkeypatch):
    config = tiny_config('--winograd', 'true')
    with pytest.raises(UserError, match='TensorFlow uses a GPU here'):
        phases.check_winograd(config, 'GPU')

    def no_compiler():
        raise native.NativeOpError('building the Winograd ops needs a C++ compiler')
    monkeypatch.setattr(native, 'checked_winograd', no_compiler)
    with pytest.raises(UserError, match='--winograd: building .* Or run without --winograd'):
        phases.check_winograd(config, 'CPU')
    phases.check_winograd(tiny_config(), 'CPU')  # off: nothing is built or checked
