"""The training graph does no work its optimizer step does not need.

The official PyTorch implementation back-propagates through both generators in the D step and
computes discriminator weight gradients in the G step. Here each step's subgraph (everything a
`sess.run` of that optimizer op executes) is inspected op by op.
"""

import tensorflow as tf

from main import parse_args
from ugatit.model import UGATIT

TINY = ['--phase', 'train', '--dataset', 'tiny', '--light', 'true', '--ch', '4', '--img_size', '32', '--n_dis', '3']


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
    gan = UGATIT(graph, parse_args(TINY))
    gan.build_train_graph_on_placeholders()
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
