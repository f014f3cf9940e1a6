"""--diff_augment in the training graph: every discriminator call sees augmented images, the
generator's gradient passes through the augmentation, and without the flag nothing changes."""

import re

import numpy as np
import pytest
import tensorflow as tf

import main
from ugatit import cli
from tests.support import placeholders, tiny_config
from ops import discriminator_loss
from ugatit.model.model import UGATIT

tf1 = tf.compat.v1
POLICY = 'color,translation,cutout'
# The first layer of every discriminator call: its input is the image that call sees.
FIRST_PAD = re.compile(r'^(discriminator_[AB](?:_\d+)?)/local/conv_0/MirrorPad$')
# lsgan: D_A and D_B on real and fake in the D step (the G step reuses D_B's fake logits), and
# D_A on the G step's own B -> A translation.
CALLS = ['discriminator_A', 'discriminator_A_1', 'discriminator_B', 'discriminator_B_1', 'discriminator_A_2']


def discriminator_inputs(graph):
    """{call scope: the [N, S, S, 3] tensor that discriminator call sees}."""
    return {m.group(1): op.inputs[0] for op in graph.get_operations() for m in [FIRST_PAD.match(op.name)] if m}


def _raw_d_loss(gan, domain_B, fake_B):
    """D_B's adversarial loss recomputed on the images themselves, unaugmented."""
    real = gan.discriminator(domain_B, reuse=True, scope='discriminator_B')
    fake = gan.discriminator(fake_B, reuse=True, scope='discriminator_B')
    return gan.train.adv_weight * (discriminator_loss('lsgan', real[0], fake[0])
                                   + discriminator_loss('lsgan', real[1], fake[1]))


def _build(policy):
    """The tiny model's losses with --diff_augment policy, initialised from seed 0, and one
    session run of what the tests look at."""
    config = tiny_config('--diff_augment', policy, phase='train')
    graph = tf.Graph()
    with graph.as_default(), tf1.Session(graph=graph) as sess:
        tf1.set_random_seed(0)
        domain_A, domain_B = placeholders(config)
        gan = UGATIT(config.model, config.train)
        losses, images, _ = gan.build_losses(domain_A, domain_B)
        inputs = discriminator_inputs(graph)
        fetch = {'inputs': inputs, 'D_B_loss': losses['D_B_loss'], 'fake_A': images['fake_A'],
                 'raw_D_B_loss': _raw_d_loss(gan, domain_B, images['fake_B']),
                 # G_B_gan reaches the generator through D_B(augment(fake_B)), G_A_gan through
                 # D_A(augment(fake_A)) of the G step.
                 'grad_fake_B': tf.gradients(losses['G_B_gan'], images['fake_B'])[0],
                 'grad_fake_A': tf.gradients(losses['G_A_gan'], images['fake_A'])[0]}
        sess.run(tf1.global_variables_initializer())
        rng = np.random.default_rng(0)
        feed = {x: rng.uniform(-1, 1, x.shape.as_list()).astype(np.float32) for x in (domain_A, domain_B)}
        values = sess.run(fetch, feed)
    values['op_names'] = [op.name for op in graph.get_operations()]
    values['input_ops'] = {call: t.op.name for call, t in inputs.items()}
    return values


@pytest.fixture(scope='module')
def on():
    return _build(POLICY)


@pytest.fixture(scope='module')
def off():
    return _build('')


@pytest.mark.slow  # the module fixtures build the whole tiny training graph twice (about a minute)
def test_without_the_flag_the_graph_has_no_diffaugment_op(off, on):
    assert not [n for n in off['op_names'] if 'DiffAugment' in n]
    assert sorted(off['input_ops']) == sorted(CALLS)
    assert not [op for op in off['input_ops'].values() if op.startswith('DiffAugment')]
    # The flag adds the ops (so the check above can fail).
    assert [n for n in on['op_names'] if n.startswith('DiffAugment')]


@pytest.mark.slow  # the module fixtures build the whole tiny training graph twice (about a minute)
def test_every_discriminator_call_sees_augmented_images(on):
    assert sorted(on['input_ops']) == sorted(CALLS)
    for call, op in on['input_ops'].items():
        assert op.startswith('DiffAugment'), (call, op)
    # One augmentation per call, not one shared by several calls.
    assert len(set(op.split('/')[0] for op in on['input_ops'].values())) == len(CALLS)


@pytest.mark.slow  # the module fixtures build the whole tiny training graph twice (about a minute)
def test_discriminator_loss_is_that_of_the_augmented_images(on, off):
    """D_B's loss equals the loss on the raw images exactly without the flag (same ops, same
    weights and spectral-norm estimate in one run: float32 ops run twice on one CPU agree to
    1e-6 relative) and differs with it (measured: by several per cent of the loss)."""
    assert off['D_B_loss'] == pytest.approx(off['raw_D_B_loss'], rel=1e-6)
    assert abs(on['D_B_loss'] - on['raw_D_B_loss']) > 1e-3 * abs(on['raw_D_B_loss'])


@pytest.mark.slow  # the module fixtures build the whole tiny training graph twice (about a minute)
def test_each_call_draws_its_own_augmentation(on, off):
    """The D step's and the G step's B -> A translations are the same numbers (control: equal
    without the flag); D_A sees them augmented differently."""
    d_step, g_step = off['inputs']['discriminator_A_1'], off['inputs']['discriminator_A_2']
    np.testing.assert_allclose(d_step, g_step, atol=1e-6)
    np.testing.assert_allclose(g_step, off['fake_A'], atol=0)
    d_step, g_step = on['inputs']['discriminator_A_1'], on['inputs']['discriminator_A_2']
    assert np.abs(d_step - g_step).mean() > 0.01


@pytest.mark.slow  # the module fixtures build the whole tiny training graph twice (about a minute)
def test_the_generator_gradient_passes_through_the_augmentation(on):
    """The only path from a translation to its discriminator is the augmentation (the test
    above), so a non-zero gradient of the generator's adversarial loss has passed through it."""
    for name in ('grad_fake_B', 'grad_fake_A'):
        grad = on[name]
        assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0, name


@pytest.mark.parametrize('policy', [POLICY, ''])
def test_one_discriminator_sees_augmented_images_only_with_the_flag(policy):
    """The fast counterpart of the whole-graph tests above: one discriminator's loss terms."""
    config = tiny_config('--diff_augment', policy, phase='train')
    with tf.Graph().as_default() as graph:
        real, fake = placeholders(config)
        UGATIT(config.model, config.train)._discriminator_terms(real, fake, 'discriminator_B')
        inputs = discriminator_inputs(graph)
        augment_ops = [op for op in graph.get_operations() if 'DiffAugment' in op.name]
    assert sorted(inputs) == ['discriminator_B', 'discriminator_B_1']
    if policy:
        assert inputs['discriminator_B'].op.name.startswith('DiffAugment/')
        assert inputs['discriminator_B_1'].op.name.startswith('DiffAugment_1/')
    else:
        assert inputs['discriminator_B'] is real and inputs['discriminator_B_1'] is fake and not augment_ops


def test_gradient_penalty_interpolates_the_augmented_images():
    """wgan-gp: the penalty's discriminator call sees a mix of the augmented real and fake."""
    config = tiny_config('--diff_augment', POLICY, '--gan_type', 'wgan-gp', phase='train')
    with tf.Graph().as_default() as graph:
        real, fake = placeholders(config)
        UGATIT(config.model, config.train)._discriminator_terms(real, fake, 'discriminator_A')
        inputs = discriminator_inputs(graph)
    assert sorted(inputs) == ['discriminator_A', 'discriminator_A_1', 'discriminator_A_2']
    augmented_real, augmented_fake, penalty = (inputs[c] for c in sorted(inputs))
    assert augmented_real.op.name.startswith('DiffAugment/')
    assert augmented_fake.op.name.startswith('DiffAugment_1/')
    ancestors = _ancestors(penalty.op)
    assert augmented_real.op.name in ancestors and augmented_fake.op.name in ancestors


def _ancestors(op):
    seen, stack = set(), [op]
    while stack:
        op = stack.pop()
        if op.name not in seen:
            seen.add(op.name)
            stack.extend(t.op for t in op.inputs)
    return seen


def test_the_flag_is_validated(capsys):
    assert tiny_config(phase='train').train.diff_augment == ''
    assert tiny_config('--diff_augment', 'color, cutout', phase='train').train.diff_augment == 'color, cutout'
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_config(['--phase', 'train', '--diff_augment', 'color,colour'])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert '--diff_augment' in err and 'colour' in err and 'translation' in err


@pytest.mark.slow
def test_two_towers_augment_every_discriminator_call():
    from ugatit.train.towers import build_tower_losses
    config = tiny_config('--diff_augment', POLICY, phase='train')
    with tf.Graph().as_default() as graph:
        towers = [placeholders(config) for _ in range(2)]
        build_tower_losses(UGATIT(config.model, config.train), towers, ['/cpu:0', '/cpu:1'])
        pads = [op for op in graph.get_operations()
                if op.type == 'MirrorPad' and re.search(r'(^|/)discriminator_[AB](_\d+)?/local/conv_0/', op.name)
                and not op.name.startswith('gradients')]
    assert len(pads) == 2 * len(CALLS)
    assert all('DiffAugment' in op.inputs[0].op.name for op in pads), [op.inputs[0].op.name for op in pads]


@pytest.mark.slow
def test_a_short_training_run_with_the_flag(tmp_path, monkeypatch, capsys):
    from tests.support.runs import TINY, losses_printed, make_dataset, steps_saved
    monkeypatch.chdir(tmp_path)
    make_dataset('dataset')
    assert main.main(['--phase', 'train', '--epoch', '1', '--diff_augment', POLICY] + TINY) == 0
    out, _ = capsys.readouterr()
    config = cli.parse_config(['--phase', 'train'] + TINY)
    assert steps_saved(tmp_path / 'checkpoint' / config.model_dir) == [2, 3]
    assert losses_printed(out) and all(np.isfinite(v) for pair in losses_printed(out) for v in pair)
