"""--ema_decay in whole runs: the averages are saved, restored, started on resume, used to
translate and exported; --raw_weights uses the raw weights."""

import numpy as np
import pytest
import tensorflow as tf

import main
from tests.support.runs import MODEL_DIR, TINY, make_dataset, steps_saved
from ugatit import cli
from ugatit.infer.translator import Translator
from ugatit.model.average import average_name

KERNEL = 'generator_B/G_logit/conv2d/kernel'


def _read(prefix, name):
    return tf.train.load_checkpoint(prefix).get_tensor(name)


@pytest.fixture(scope='module')
def averaged_run(tmp_path_factory):
    """A tiny run: 3 steps without averages, then 3 more with --ema_decay 0.5 (a resume)."""
    root = tmp_path_factory.mktemp('ema')
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        make_dataset('dataset')
        assert main.main(['--phase', 'train', '--epoch', '1'] + TINY) == 0
        assert main.main(['--phase', 'train', '--epoch', '2', '--ema_decay', '0.5'] + TINY) == 0
    return root


def test_a_resumed_run_starts_its_averages_and_saves_them(averaged_run):
    folder = averaged_run / 'checkpoint' / MODEL_DIR
    assert steps_saved(folder) == [2, 3, 5, 6]
    assert not (folder / 'kept').exists()  # --keep_every is off by default (tests/e2e/test_keep_every.py)
    before = str(folder / 'UGATIT_light.model-3')
    after = str(folder / 'UGATIT_light.model-6')
    assert not any('ExponentialMovingAverage' in n for n, _ in tf.train.list_variables(before))
    raw, avg = _read(after, KERNEL), _read(after, average_name(KERNEL))
    # Started from the step-3 weights, then moved half way towards each of 3 new ones: nearer
    # the newest weights than the start was, and equal to neither.
    start = _read(before, KERNEL)
    assert not np.allclose(avg, raw) and not np.allclose(avg, start)
    assert np.abs(avg - raw).mean() < np.abs(start - raw).mean()


def test_translation_uses_the_averages_unless_raw_weights(averaged_run, monkeypatch):
    monkeypatch.chdir(averaged_run)
    batch = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    outputs = {}
    for raw in ('false', 'true'):
        config = cli.parse_config(['--phase', 'test', '--raw_weights', raw] + TINY)
        with Translator(config, ('a2b',)) as translator:
            assert translator.averaged == (raw == 'false') and translator.step == 6
            outputs[raw] = translator.translate('a2b', batch)[0]
    assert not np.allclose(outputs['false'], outputs['true'])


def test_the_generators_only_export_holds_the_averages(averaged_run, monkeypatch):
    monkeypatch.chdir(averaged_run)
    assert main.main(['--phase', 'export', '--format', 'checkpoint', '--export_dir', 'slim'] + TINY) == 0
    prefix = str(averaged_run / 'slim' / MODEL_DIR / 'UGATIT_light.model-6')
    source = str(averaged_run / 'checkpoint' / MODEL_DIR / 'UGATIT_light.model-6')
    np.testing.assert_array_equal(_read(prefix, KERNEL), _read(source, average_name(KERNEL)))
    assert not any('ExponentialMovingAverage' in n for n, _ in tf.train.list_variables(prefix))
    assert main.main(['--phase', 'export', '--format', 'checkpoint', '--export_dir', 'slim_raw',
                      '--raw_weights', 'true'] + TINY) == 0
    raw = str(averaged_run / 'slim_raw' / MODEL_DIR / 'UGATIT_light.model-6')
    np.testing.assert_array_equal(_read(raw, KERNEL), _read(source, KERNEL))
