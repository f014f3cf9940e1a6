"""Golden tests against the official TensorFlow code's outputs in ../shared/reference/."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import shared_path
from main import parse_args
from ugatit.model import UGATIT

tf1 = tf.compat.v1


def flags(cfg_dir, *extra):
    info = json.load(open(os.path.join(cfg_dir, 'info.json')))
    f = info['flags']
    argv = ['--light', str(f['light']), '--ch', str(f['ch']), '--img_size', str(f['img_size']),
            '--n_dis', str(f['n_dis']), '--dataset', f['dataset'], '--n_res', str(f['n_res'])]
    return argv + list(extra)


def reference_variables(cfg_dir):
    return [(v['name'], v['shape']) for v in json.load(open(os.path.join(cfg_dir, 'graph_variables.json')))['variables']]


def graph_variables():
    return [(v.op.name, v.shape.as_list()) for v in tf1.global_variables()]


@pytest.mark.parametrize('cfg', ['a', 'b', 'd', 'e'])
def test_test_graph_variables_match_official(graph, cfg):
    """Names, shapes and creation order of the test graph equal the official lists (graph only;
    'e' is the released selfie2anime architecture with its 268M-weight MLPs, never initialised)."""
    cfg_dir = shared_path('reference', cfg)
    info = json.load(open(os.path.join(cfg_dir, 'info.json'))) if os.path.exists(os.path.join(cfg_dir, 'info.json')) else None
    if info is None:  # 'd' has no info.json: light, ch 64, img 256
        argv = ['--light', 'True', '--ch', '64', '--img_size', '256', '--dataset', 'x']
    else:
        argv = flags(cfg_dir)
    gan = UGATIT(graph, parse_args(['--phase', 'test'] + argv))
    gan.build_model()
    assert graph_variables() == reference_variables(cfg_dir)


def test_train_graph_variables_match_official_selfie2anime(graph):
    """The full training graph (discriminators, spectral-norm u, Adam slots and powers)."""
    cfg_dir = shared_path('reference', 'e_train_graph')
    gan = UGATIT(graph, parse_args(['--phase', 'train']))
    gan.build_train_graph_on_placeholders()
    assert graph_variables() == reference_variables(cfg_dir)


@pytest.mark.parametrize('cfg', ['a', 'b'])
def test_restored_generators_reproduce_official_outputs(graph, cfg):
    cfg_dir = shared_path('reference', cfg)
    args = parse_args(['--phase', 'test', '--checkpoint_dir', os.path.join(cfg_dir, 'checkpoint')] + flags(cfg_dir))
    gan = UGATIT(graph, args)
    gan.build_model()
    loaded, step = gan.restore_generators()
    assert loaded and step == 1000
    inputs = np.load(os.path.join(cfg_dir, 'inputs.npy'))
    fake_B, heat_B = gan.translate('a2b', inputs)
    fake_A, _ = gan.translate('b2a', inputs)
    assert np.abs(fake_B - np.load(os.path.join(cfg_dir, 'test_fake_B.npy'))).max() <= 1e-5
    assert np.abs(fake_A - np.load(os.path.join(cfg_dir, 'test_fake_A.npy'))).max() <= 1e-5
    assert heat_B.shape == (2, 16, 16)


def _relative(a, b):
    return abs(float(a) - float(b)) / max(abs(float(b)), 1e-12)


@pytest.fixture
def configured_graph():
    """A fresh graph and a session with the configuration main.py uses (ugatit.config)."""
    from ugatit.config import session_config
    g = tf.Graph()
    with g.as_default(), tf1.Session(graph=g, config=session_config()) as sess:
        yield sess


def test_one_training_step_reproduces_official_losses_and_weights(configured_graph):
    """Restore a_train_ndis4, run the official D step then G step on the reference batch:
    every loss equals the official value to 1e-4 relative, every gradient (Adam slots) equals the
    official one and the weights equal the official checkpoint saved after the steps to 1e-5
    (see _check_state_after_steps for the one exception Adam's first step forces)."""
    graph = configured_graph
    cfg_dir = shared_path('reference', 'a_train_ndis4')
    after_dir = shared_path('reference', 'a_train_ndis4_after_step')
    expected = json.load(open(os.path.join(cfg_dir, 'train_losses.json')))
    args = parse_args(['--phase', 'train', '--checkpoint_dir', os.path.join(cfg_dir, 'checkpoint')] + flags(cfg_dir))
    gan = UGATIT(graph, args)
    gan.build_train_graph_on_placeholders()
    graph.run(tf1.global_variables_initializer())
    gan.saver = tf1.train.Saver()
    assert gan.load() == (True, 1000)

    inputs = np.load(os.path.join(cfg_dir, 'inputs.npy'))
    feed = {gan.domain_A: inputs[0:1], gan.domain_B: inputs[1:2], gan.lr: 1e-4}

    def check(got, want, what):
        for name, value in want.items():
            assert _relative(got[name], value) <= 1e-4, (what, name, got[name], value)

    # eval_before_step is a separate run; restore again so the D step starts from the same u.
    check(graph.run(gan.losses, feed), expected['eval_before_step'], 'eval_before_step')
    gan.load()
    _, d_losses = graph.run([gan.D_optim, gan.losses], feed)
    check(d_losses, expected['d_step'], 'd_step')
    _, g_losses = graph.run([gan.G_optim, gan.losses], feed)
    check(g_losses, expected['g_step'], 'g_step')
    check(graph.run(gan.losses, feed), expected['eval_after_steps'], 'eval_after_steps')

    # After eval_after_steps every u has been assigned once more, as in the official checkpoint.
    folder = os.path.join(after_dir, 'checkpoint', os.listdir(os.path.join(after_dir, 'checkpoint'))[0])
    reader = tf.train.load_checkpoint(os.path.join(folder, 'UGATIT_light.model-1001'))
    values = graph.run({v.op.name: v for v in tf1.global_variables()})
    assert set(values) == set(reader.get_variable_to_shape_map())
    _check_state_after_steps(values, reader.get_tensor, lr=1e-4)


def _check_state_after_steps(values, official, lr, tol=1e-5):
    """Compare every variable after one D and one G step with the official checkpoint.

    Gradients: after one step Adam's slots are m = (1 - beta1) g and v = (1 - beta2) g^2, so m and
    sqrt(v) must match to `tol` times the largest official value in the same network (float32
    sums of gradients as large as 1e3 carry absolute errors of that order; measured 3e-6).
    Weights: Adam's first step is lr * sign(g) wherever |g| >> epsilon, so an element whose official
    gradient is zero up to that float32 error (a conv bias feeding an instance norm has an exactly
    zero gradient in exact arithmetic) may step the other way: there |delta| <= 2 lr. Everywhere
    else, and for every other variable, the difference must be <= tol.
    """
    def network(name):
        return 'generator' if name.startswith('generator') else 'discriminator'

    # m = (1 - beta1) g and sqrt(v) = sqrt(1 - beta2) |g|: both compared on the gradient's scale.
    grads = {name: (official(name) if name.endswith('/Adam') else np.sqrt(official(name)))
             for name in values if name.endswith(('/Adam', '/Adam_1'))}
    scale = {}
    for name, g in grads.items():
        key = (network(name), name.rsplit('/', 1)[1])
        scale[key] = max(scale.get(key, 0), np.abs(g).max())
    for name, value in values.items():
        if name in grads:
            got = value if name.endswith('/Adam') else np.sqrt(value)
            bound = tol * scale[(network(name), name.rsplit('/', 1)[1])]
            assert np.abs(got - grads[name]).max() <= bound, (name, np.abs(got - grads[name]).max(), bound)
            continue
        diff = np.abs(value - official(name))
        if name + '/Adam' in grads:
            undetermined = np.abs(grads[name + '/Adam']) <= tol * scale[(network(name), 'Adam')]
            assert diff[~undetermined].max(initial=0) <= tol, (name, diff[~undetermined].max())
            assert diff[undetermined].max(initial=0) <= 2 * lr + tol, (name, diff[undetermined].max())
        else:  # spectral-norm u, rho (not trained by these steps), Adam's beta powers
            assert diff.max() <= tol, (name, diff.max())


def test_without_graph_rewrites_the_outputs_are_the_same():
    """--grappler false only changes how TensorFlow schedules the graph, not the numbers."""
    from ugatit.config import session_config
    cfg_dir = shared_path('reference', 'a')
    config = session_config(graph_rewrites=False)
    assert config.graph_options.rewrite_options.disable_meta_optimizer
    args = parse_args(['--phase', 'test', '--grappler', 'false', '--checkpoint_dir', os.path.join(cfg_dir, 'checkpoint')]
                      + flags(cfg_dir))
    with tf.Graph().as_default(), tf1.Session(config=config) as sess:
        gan = UGATIT(sess, args)
        gan.build_model(directions=('a2b',))
        gan.restore_generators()
        fake_B, _ = gan.translate('a2b', np.load(os.path.join(cfg_dir, 'inputs.npy')))
    assert np.abs(fake_B - np.load(os.path.join(cfg_dir, 'test_fake_B.npy'))).max() <= 1e-5


def test_bfloat16_translation_stays_close_to_the_official_float32_one():
    """--bfloat16 (CPUs with native bfloat16 only): the restored generators' outputs stay within
    a few grey levels of the official float32 ones (measured on an AMD EPYC: mean 0.014, max 0.10
    in [-1, 1]); a graph that went wrong in bfloat16 would be off by far more."""
    from ugatit.config import cpu_has_native_bfloat16, session_config
    if not cpu_has_native_bfloat16():
        pytest.skip('this CPU has no native bfloat16')
    cfg_dir = shared_path('reference', 'a')
    args = parse_args(['--phase', 'test', '--bfloat16', 'true', '--checkpoint_dir', os.path.join(cfg_dir, 'checkpoint')]
                      + flags(cfg_dir))
    with tf.Graph().as_default(), tf1.Session(config=session_config(bfloat16=True)) as sess:
        gan = UGATIT(sess, args)
        gan.build_model(directions=('a2b',))
        gan.restore_generators()
        fake_B, _ = gan.translate('a2b', np.load(os.path.join(cfg_dir, 'inputs.npy')))
    diff = np.abs(fake_B - np.load(os.path.join(cfg_dir, 'test_fake_B.npy')))
    assert 0 < diff.mean() <= 0.03 and diff.max() <= 0.25, (diff.mean(), diff.max())
