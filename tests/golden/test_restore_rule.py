"""The restore rule: leftover variables of a built network are ignored with a warning, unless the
checkpoint's own architecture differs from the flags (then it is refused, naming the flags)."""

import os
import types

import numpy as np
import pytest
import tensorflow as tf

from ugatit import cli
from tests.support.checkpoints import A_FLAGS, read_tensors, reference_a_folder, write_checkpoint
from tests.support import shared_path
from ugatit.model.checkpoint import check_compatible
from ugatit.errors import UserError
from ugatit.infer.translator import Translator, build_generators

LEFTOVERS = ('generator_B/CAM_logit/dense/kernel', 'generator_B/CAM_logit/dense/bias')


def _reference_a_plus(tmp_path, extra):
    """Reference checkpoint a rewritten under tmp_path with the `extra` tensors added."""
    tensors = read_tensors(os.path.join(reference_a_folder(), 'UGATIT_light.model-1000'))
    tensors.update(extra(tensors))
    return write_checkpoint(str(tmp_path / 'ckpt' / 'UGATIT_light.model-1000'), tensors)


def _leftover_cam_dense(tensors):
    """What the official code before "fix fc" saved next to CAM_logit/kernel: a dense layer."""
    rng = np.random.RandomState(0)
    kernel = tensors['generator_B/CAM_logit/kernel']
    return {LEFTOVERS[0]: rng.normal(size=kernel.shape).astype(np.float32),
            LEFTOVERS[1]: rng.normal(size=[1]).astype(np.float32)}


def _fifth_residual_block(tensors):
    """A copy of the fourth encoder and decoder blocks as a fifth (a checkpoint with --n_res 5)."""
    extra = {}
    for name, value in tensors.items():
        for old, new in (('/resblock_3/', '/resblock_4/'), ('/adaptive_resblock3/', '/adaptive_resblock4/')):
            if old in name:
                extra[name.replace(old, new)] = value
    return extra


def _translate(prefix):
    config = cli.parse_config(['--phase', 'test', '--checkpoint', prefix] + A_FLAGS)
    inputs = np.load(shared_path('reference', 'a', 'inputs.npy'))
    with Translator(config) as translator:
        return translator.translate('a2b', inputs)[0], translator.translate('b2a', inputs)[0]


def test_leftover_cam_dense_is_ignored_with_a_warning_and_outputs_are_unchanged(tmp_path, capfd):
    prefix = _reference_a_plus(tmp_path, _leftover_cam_dense)
    fake_B, fake_A = _translate(prefix)
    err = capfd.readouterr().err
    assert 'warning' in err and LEFTOVERS[0] in err and LEFTOVERS[1] in err
    # Tolerance of the golden test: the same ops on the same weights (measured 0 to 6.5e-6).
    assert np.abs(fake_B - np.load(shared_path('reference', 'a', 'test_fake_B.npy'))).max() <= 1e-5
    assert np.abs(fake_A - np.load(shared_path('reference', 'a', 'test_fake_A.npy'))).max() <= 1e-5


def test_negative_control_a_changed_cam_weight_changes_the_outputs(tmp_path):
    """The comparison above can fail: the CAM weights the graph does use change the output."""
    prefix = _reference_a_plus(tmp_path, lambda t: {'generator_B/CAM_logit/kernel': t['generator_B/CAM_logit/kernel'] * 1.5})
    fake_B, _ = _translate(prefix)
    assert np.abs(fake_B - np.load(shared_path('reference', 'a', 'test_fake_B.npy'))).max() > 1e-3


def test_fifth_residual_block_is_refused_naming_n_res(tmp_path):
    prefix = _reference_a_plus(tmp_path, _fifth_residual_block)
    with pytest.raises(UserError) as refused:
        _translate(prefix)
    assert 'does not match the model built from the flags' in str(refused.value)
    assert '--n_res 5 (the flags say 4)' in str(refused.value)


def test_check_compatible_takes_any_object_with_the_flags_and_returns_the_ignored_names(graph, tmp_path):
    prefix = _reference_a_plus(tmp_path, _leftover_cam_dense)
    build_generators(cli.parse_config(['--phase', 'test'] + A_FLAGS).model)
    variables = tf.compat.v1.global_variables()
    flags = types.SimpleNamespace(light=True, ch=8, n_res=4, n_dis=6, img_size=64, img_ch=3)
    assert check_compatible(prefix, variables, flags) == sorted(LEFTOVERS)
    assert check_compatible(os.path.join(reference_a_folder(), 'UGATIT_light.model-1000'), variables, flags) == []
    with pytest.raises(UserError, match='--n_res 5'):
        check_compatible(_reference_a_plus(tmp_path / 'five', _fifth_residual_block), variables, flags)
