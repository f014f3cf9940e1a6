"""End to end through main.py on generated images: train a tiny model, resume it, then test."""

import glob
import os

import cv2
import numpy as np
import pytest

import main
import tensorflow as tf
from ugatit.config import cpu_has_native_bfloat16
from tests.support.runs import MODEL_DIR, TINY, losses_printed, make_dataset, steps_saved

@pytest.mark.slow
def test_train_resume_test(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_dataset('dataset')

    assert main.main(['--phase', 'train', '--epoch', '1'] + TINY) == 0
    out, err = capsys.readouterr()
    ckpt_dir = os.path.join('checkpoint', MODEL_DIR)
    # Checkpoints are named after the steps done: after step 2 (save_freq) and at the epoch end.
    assert steps_saved(ckpt_dir) == [2, 3]
    assert 'broken.jpg' in out + err
    losses = losses_printed(out)
    assert losses and all(np.isfinite(v) for pair in losses for v in pair)
    sample = os.path.join('samples', MODEL_DIR, 'sample_000_00002.png')
    grid = cv2.imread(sample)
    assert grid.shape == (32, 6 * 32, 3)  # real A | fake B | attention | real B | fake A | attention
    assert glob.glob(os.path.join('logs', MODEL_DIR, 'events.out.tfevents.*'))

    # Resume: the second epoch continues with step 4 (epoch 1, batch 0). On a CPU with native
    # bfloat16 it runs with --bfloat16: it resumes the float32 checkpoint and saves float32 ones,
    # which the float32 test phase below restores.
    bfloat16 = ['--bfloat16', 'true'] if cpu_has_native_bfloat16() else []
    assert main.main(['--phase', 'train', '--epoch', '2'] + TINY + bfloat16) == 0
    out, err = capsys.readouterr()
    assert 'Resumed from %s' % os.path.join(ckpt_dir, 'UGATIT_light.model-3') in out
    assert 'Training finished at step 6' in out
    assert steps_saved(ckpt_dir)[-1] == 6
    losses = losses_printed(out)
    assert losses and all(np.isfinite(v) for pair in losses for v in pair)
    checkpoint = tf.train.load_checkpoint(os.path.join(ckpt_dir, 'UGATIT_light.model-6'))
    assert set(checkpoint.get_variable_to_dtype_map().values()) == {tf.float32}

    # Test, in batches of 2, with awkward inputs.
    assert main.main(['--phase', 'test', '--batch_size', '2'] + TINY) == 0
    out, err = capsys.readouterr()
    res = os.path.join('results', MODEL_DIR)
    assert 'UGATIT_light.model-6' in out
    for direction, names in (('a2b', ['0', '1', '2', 'a_b_c', 'deep16']), ('b2a', ['0', '1', '2', 'png_named'])):
        for name in names:
            for kind in ('', 'input', 'attention'):
                img = cv2.imread(os.path.join(res, direction, kind, name + '.png'))
                assert img is not None and img.shape == (32, 32, 3), (direction, name, kind)
    html = open(os.path.join(res, 'index.html'), encoding='utf-8').read()
    assert 'a&amp;b&lt;c&gt;.png' in html and 'a&b<c>' not in html
    assert 'empty.png' in html and 'empty' in out  # reported as skipped, not a crash

    # --upscale 2 enlarges the translations only (lanczos: no system library needed).
    assert main.main(['--phase', 'test'] + TINY + ['--upscale', '2', '--upscaler', 'lanczos', '--result_dir', 'big']) == 0
    big = os.path.join('big', MODEL_DIR, 'a2b')
    assert cv2.imread(os.path.join(big, '0.png')).shape == (64, 64, 3)
    assert cv2.imread(os.path.join(big, 'input', '0.png')).shape == (32, 32, 3)


@pytest.mark.slow
def test_interrupt_saves_a_checkpoint(tmp_path, monkeypatch, capsys):
    """Ctrl-C (KeyboardInterrupt) in the middle of an epoch saves the current step first."""
    import ugatit.train.train

    class InterruptingBar(ugatit.train.train.tqdm):
        def update(self, n=1):
            super().update(n)
            if self.n == 2:
                raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    make_dataset('dataset')
    monkeypatch.setattr(ugatit.train.train, 'tqdm', InterruptingBar)
    argv = ['--phase', 'train', '--epoch', '1'] + TINY
    argv[argv.index('--save_freq') + 1] = '100'
    assert main.main(argv) == 130
    out, err = capsys.readouterr()
    assert 'Interrupted: checkpoint saved at step 2' in out
    assert steps_saved(os.path.join('checkpoint', MODEL_DIR)) == [2]
