"""The training graph does no work its optimizer step does not need.

The official PyTorch implementation back-propagates through both generators in the D step and
computes discriminator weight gradients in the G step. Here each step's subgraph (everything a
`sess.run` of that optimizer op executes) is inspected op by op.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.support import placeholders, tiny_config
from ugatit.model.model import UGATIT


def build_tiny_train_ops(*extra):
    """The tiny model's training graph on placeholders; returns (TrainOps, domain_A, domain_B)."""
    config = tiny_config(*extra, phase='train')
    domain_A, domain_B = placeholders(config)
    return UGATIT(config.model, config.train).build_train_ops(domain_A, domain_B), domain_A, domain_B


def _subgraph(fetch):
    """Every op that running `fetch` executes (data and control inputs, transitively)."""
    seen, stack = set(), [fetch]
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return seen


def _gradient_ops(ops, network, op_type=''):
    """Names of gradient ops inside `network`'s scope, optionally ending in `op_type`."""
    return {n for n in ops if n.startswith('gradients') and '/%s' % network in n and n.endswith(op_type)}


def test_each_optimizer_step_computes_only_the_gradients_it_applies(graph):
    gan, _, _ = build_tiny_train_ops()
    d_step, g_step = _subgraph(gan.D_optim), _subgraph(gan.G_optim)

    # D step: the generators run forward (for the fakes) but are never back-propagated.
    assert any(n.startswith('generator_B/') for n in d_step)
    assert _gradient_ops(d_step, 'discriminator_', 'Conv2DBackpropFilter')
    assert not _gradient_ops(d_step, 'generator_')

    # G step: gradients flow through the discriminators to the fake images (input gradients)
    # but no discriminator weight gradient is computed.
    assert _gradient_ops(g_step, 'generator_', 'Conv2DBackpropFilter')
    assert _gradient_ops(g_step, 'discriminator_', 'Conv2DBackpropInput')
    assert not _gradient_ops(g_step, 'discriminator_', 'Conv2DBackpropFilter')
    assert not {n for n in g_step if '/Adam' in n and 'discriminator' in n}

    # Each optimizer updates only its own network's variables.
    ops = {op.name: op for op in tf.compat.v1.get_default_graph().get_operations()}

    def updated(step):
        return {ops[n].inputs[0].op.name.split('/')[0] for n in step if 'ApplyAdam' in ops[n].type}
    assert updated(d_step) == {'discriminator_A', 'discriminator_B'}
    assert updated(g_step) == {'generator_A', 'generator_B'}


def test_discriminator_B_gradients_wait_for_discriminator_A_gradients(graph):
    """The D step back-propagates the two discriminators one after the other, so that their
    kernel-sized gradient temporaries are never alive at the same time."""
    gan, _, _ = build_tiny_train_ops()
    gradient = {op.inputs[0].op.name.split('/')[0] + ' ' + op.inputs[0].op.name.split('/')[-1]: op.inputs[-1].op
                for op in tf.compat.v1.get_default_graph().get_operations()
                if op.type == 'ResourceApplyAdam' and 'global/conv_0' in op.inputs[0].op.name}
    a, b = gradient['discriminator_A kernel'], gradient['discriminator_B kernel']
    assert a.name in _subgraph(b) and b.name not in _subgraph(a)


def test_session_config_keeps_the_memory_saving_grappler_settings():
    """Constant folding and the AddN-rewriting memory optimiser cost 1.1 GB at 256 px (README)."""
    from ugatit.config import session_config
    from ugatit.config import RuntimeConfig
    rewrite = session_config().graph_options.rewrite_options
    assert rewrite.constant_folding == rewrite.OFF
    assert rewrite.memory_optimization == rewrite.SWAPPING_HEURISTICS
    no_rewrites = session_config(RuntimeConfig(grappler=False)).graph_options.rewrite_options
    assert not rewrite.disable_meta_optimizer and no_rewrites.disable_meta_optimizer
    # --bfloat16 is built into the graph (ops.bfloat16_convolutions), not a Grappler rewrite,
    # whose bfloat16 element-wise ops are slower than float32 ones on CPUs (docs/performance.md).
    bf16 = session_config(RuntimeConfig(bfloat16=True))
    assert bf16.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 != rewrite.ON
    assert bf16 == session_config()


@pytest.mark.parametrize('gan_type', ['wgan-gp', 'dragan'])
def test_one_step_with_a_gradient_penalty_is_finite_and_updates_both_networks(gan_type):
    """The gradient-penalty paths (the end-to-end test trains lsgan) build and train through
    the model; every loss formula itself is unit-tested in test_ops. Without Grappler's
    rewrites (--grappler false), which take 8 of the 20 seconds of this second-order graph."""
    from ugatit.config import RuntimeConfig, session_config
    with tf.Graph().as_default(), tf.compat.v1.Session(config=session_config(RuntimeConfig(grappler=False))) as sess:
        gan, domain_A, domain_B = build_tiny_train_ops('--gan_type', gan_type)
        sess.run(tf.compat.v1.global_variables_initializer())
        x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
        feed = {domain_A: x, domain_B: x[:, ::-1], gan.lr: 1e-4}
        kernels = {v.op.name: v for v in tf.compat.v1.global_variables()
                   if v.op.name in ('generator_B/conv/conv2d/kernel', 'discriminator_A/global/conv_0/kernel')}
        assert len(kernels) == 2
        before = sess.run(kernels)
        _, d_loss = sess.run([gan.D_optim, gan.Discriminator_loss], feed)
        _, g_loss, images = sess.run([gan.G_optim, gan.Generator_loss, gan.images], feed)
        after = sess.run(kernels)
    assert np.isfinite(d_loss) and np.isfinite(g_loss)
    assert all(not np.array_equal(before[n], after[n]) for n in kernels)
    assert images['fake_A'].shape == images['fake_B'].shape == (1, 32, 32, 3)


@pytest.mark.parametrize('flags', [dict(light=True, ch=4, img_size=32, n_dis=3),
                                   dict(light=False, ch=4, img_size=32, n_dis=4, n_res=2, sn=False)])
def test_the_weight_count_without_tensorflow_is_the_graphs(flags):
    """config.generator_weights and discriminator_weights (the memory check of ugatit/cli/validate.py)
    count what the graph builds."""
    from ugatit.config import ModelConfig, discriminator_weights, generator_weights
    model = ModelConfig(**flags)
    with tf.Graph().as_default():
        network = UGATIT(model)
        image = tf.compat.v1.placeholder(tf.float32, [1, model.img_size, model.img_size, 3])
        network.generator(image, scope='generator_B')
        network.discriminator(image, scope='discriminator_B')

        def count(scope):
            return sum(int(np.prod(v.shape.as_list())) for v in tf.compat.v1.trainable_variables(scope))
        assert (count('generator_B'), count('discriminator_B')) == (generator_weights(model), discriminator_weights(model))
