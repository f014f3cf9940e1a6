"""The training start-up scan (ugatit/train/data.py): bad and too small images are named and skipped."""

import os

import cv2
import numpy as np

from ugatit.config import PathConfig
from ugatit.train.data import scan_training_sets
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
