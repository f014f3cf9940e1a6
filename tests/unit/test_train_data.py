"""Training data (ugatit/train/data.py): the start-up scan names and skips bad and too small
images; the input pipeline yields batches without the tf.data autotuner."""

import os

import cv2
import numpy as np

from ugatit.config import PathConfig
from ugatit.train.data import make_dataset, scan_training_sets
from utils import MIN_IMAGE_SIDE


def test_images_too_small_to_train_on_are_named_and_skipped(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for split in ('trainA', 'trainB'):
        os.makedirs(tmp_path / 'tiny' / split)
        cv2.imwrite(str(tmp_path / 'tiny' / split / 'good.png'), rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / 'tiny' / 'trainA' / 'dot.png'), np.full((1, 1, 3), 200, np.uint8))
    side = MIN_IMAGE_SIDE - 1
    cv2.imwrite(str(tmp_path / 'tiny' / 'trainB' / 'thin.png'), np.zeros((side, 64, 3), np.uint8))
    files_A, files_B, skipped = scan_training_sets(PathConfig(dataset='tiny', dataset_dir=str(tmp_path)))
    assert [os.path.basename(f) for f in files_A + files_B] == ['good.png', 'good.png']
    assert sorted(os.path.basename(path) for path, _ in skipped) == ['dot.png', 'thin.png']
    out = capsys.readouterr().out
    assert 'dot.png: image too small (1x1 pixels' in out and 'thin.png: image too small (64x%d' % side in out


def test_the_input_pipeline_yields_batches_without_the_autotuner(tmp_path):
    # The autotuner's thread kept the session from closing for up to a minute after Ctrl-C or
    # SIGTERM (the run's checkpoint was saved, then the process could abort at exit).
    import tensorflow as tf
    rng = np.random.default_rng(1)
    files = []
    for i in range(3):
        files.append(str(tmp_path / ('%d.png' % i)))
        cv2.imwrite(files[-1], rng.integers(0, 256, (40 + i, 48, 3), dtype=np.uint8))
    with tf.Graph().as_default():
        ds = make_dataset(files, img_size=32, batch_size=2, augment_flag=True, shuffle_buffer=3)
        assert ds.options().autotune.enabled is False
        batch = tf.compat.v1.data.make_one_shot_iterator(ds).get_next()
        with tf.compat.v1.Session() as sess:
            values = sess.run(batch)
    assert values.shape == (2, 32, 32, 3) and values.dtype == np.float32
    assert -1.0 <= values.min() < values.max() <= 1.0
