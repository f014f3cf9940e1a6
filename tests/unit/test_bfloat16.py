"""--bfloat16 (ops.bfloat16_convolutions): the convolutions, forward and both gradients, run in
bfloat16; variables, Adam's slots and every other op stay float32; one training step of the tiny
model computes the float32 step's losses within a measured tolerance."""

import os

import numpy as np
import pytest
import tensorflow as tf

from ops import bfloat16_convolutions
from tests.support import placeholders, tiny_config
from tests.support.compare import loss_errors
from ugatit.config import RuntimeConfig, cpu_has_native_bfloat16, session_config
from ugatit.model.model import UGATIT

tf1 = tf.compat.v1
CONVOLUTIONS = ('Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter')

# Largest relative difference of a loss between the bfloat16 and the float32 step of the tiny
# model, from the same weights on the same images. bfloat16 keeps 8 bits of mantissa (a relative
# rounding of 2**-9 = 0.2 % per value); the convolutions accumulate in float32 and the rounding
# errors of thousands of products mostly cancel: measured 0.09 % at most (Intel Xeon with AMX),
# allowed 0.5 %. Negative control: the bfloat16 step on images 2 % darker differs by 1.9 %.
LOSS_TOLERANCE = 0.005


def _training_graph(bfloat16):
    """The tiny model's training graph, and a function that runs, for each of `image_sets`
    ([2 domains, 1, 32, 32, 3] each), one D and one G step from `checkpoint` (the fresh
    initialisation is saved there when it does not exist) and returns, for each set, the losses
    fetched with each step as {'D <name>': value, 'G <name>': value}."""
    config = tiny_config(phase='train')
    graph = tf.Graph()
    with graph.as_default(), bfloat16_convolutions(bfloat16):
        tf1.set_random_seed(1)   # the same initial weights every run (saved once, then restored)
        domain_A, domain_B = placeholders(config)
        ops = UGATIT(config.model, config.train).build_train_ops(domain_A, domain_B)
        saver = tf1.train.Saver()

    def run(image_sets, checkpoint):
        results = []
        with tf1.Session(graph=graph, config=session_config(RuntimeConfig(grappler=False))) as sess:
            for images in image_sets:
                if os.path.exists(checkpoint + '.index'):
                    saver.restore(sess, checkpoint)
                else:
                    sess.run(tf1.global_variables_initializer())
                    saver.save(sess, checkpoint, write_meta_graph=False)
                feed = {domain_A: images[0], domain_B: images[1], ops.lr: 1e-4}
                _, d_losses = sess.run([ops.D_optim, ops.losses], feed)
                _, g_losses = sess.run([ops.G_optim, ops.losses], feed)
                results.append({**{'D ' + k: v for k, v in d_losses.items()},
                                **{'G ' + k: v for k, v in g_losses.items()}})
        return results
    return graph, run


@pytest.fixture(scope='module')
def graphs():
    """{'float32': (graph, run), 'bfloat16': (graph, run)}: built once for the tests below."""
    return {'float32': _training_graph(False), 'bfloat16': _training_graph(True)}


def _bfloat16_ops(graph):
    """{op type: count} of the ops with a bfloat16 output or input."""
    counts = {}
    for op in graph.get_operations():
        if any(t.dtype == tf.bfloat16 for t in list(op.outputs) + list(op.inputs)):
            counts[op.type] = counts.get(op.type, 0) + 1
    return counts


def test_only_the_convolutions_and_their_casts_are_bfloat16(graphs):
    official, mixed = graphs['float32'][0], graphs['bfloat16'][0]
    assert _bfloat16_ops(official) == {}   # off: the official float32 graph, not one cast
    counts = _bfloat16_ops(mixed)
    # ShapeN: the gradients read the shapes of the bfloat16 inputs (no arithmetic).
    assert set(counts) == set(CONVOLUTIONS) | {'Cast', 'ShapeN'}, counts
    convolutions = [op for op in mixed.get_operations() if op.type in CONVOLUTIONS]
    assert all(op.get_attr('T') == tf.bfloat16 for op in convolutions)
    assert sum(op.type == 'Conv2DBackpropFilter' for op in convolutions) > 10   # the gradients too
    # Variables (weights, spectral-norm u, averages) and Adam's slots stay float32, with the same
    # names: a bfloat16 run saves and resumes the float32 checkpoints.
    with official.as_default():
        want = [(v.op.name, v.dtype.base_dtype) for v in tf1.global_variables()]
    with mixed.as_default():
        got = [(v.op.name, v.dtype.base_dtype) for v in tf1.global_variables()]
    assert got == want and {d for _, d in got} == {tf.float32}
    assert any(name.endswith('/Adam_1') for name, _ in got)


@pytest.mark.skipif(not cpu_has_native_bfloat16(), reason='this CPU has no native bfloat16')
def test_a_bfloat16_step_computes_the_float32_losses_within_the_tolerance(graphs, tmp_path):
    images = np.random.default_rng(0).uniform(-1, 1, (2, 1, 32, 32, 3)).astype(np.float32)
    checkpoint = str(tmp_path / 'init')
    [want] = graphs['float32'][1]([images], checkpoint)
    [got, darker] = graphs['bfloat16'][1]([images, images * 0.98], checkpoint)
    errors, darker_errors = loss_errors(got, want), loss_errors(darker, want)
    print('largest relative loss differences, bfloat16 against float32:', max(errors.values()),
          'on images 2 % darker:', max(darker_errors.values()))
    assert len(errors) > 10 and max(errors.values()) <= LOSS_TOLERANCE, errors
    assert 0 < max(errors.values())   # bfloat16 really ran: the losses are not bit-equal
    # Negative control: the bfloat16 step on images 2 % darker is outside the tolerance.
    assert max(darker_errors.values()) > LOSS_TOLERANCE
