"""Tiny training runs on a generated dataset: the flags, the data, and reading what they left."""

import glob
import os
import re

import cv2
import numpy as np

from tests.support import TINY_MODEL

# Training flags of the tiny runs on make_dataset's 'tiny' dataset (3 steps per epoch), and
# their checkpoint/result folder name.
TINY = ['--dataset', 'tiny', '--iteration', '3', '--print_freq', '2', '--save_freq', '2'] + TINY_MODEL
MODEL_DIR = 'UGATIT_light_tiny_lsgan_4resblock_3dis_1_1_10_10_1000_sn_smoothing'


def make_dataset(root):
    """<root>/tiny/{trainA,trainB,testA,testB}: 3 random images each, plus awkward and broken files."""
    rng = np.random.default_rng(0)
    for split in ('trainA', 'trainB', 'testA', 'testB'):
        os.makedirs(os.path.join(root, 'tiny', split))
        for i in range(3):
            img = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            cv2.imwrite(os.path.join(root, 'tiny', split, '%d.png' % i), img)
    # Awkward but valid inputs, and broken files that must be reported, not crash the run.
    gray = rng.integers(0, 256, (30, 30), dtype=np.uint8)
    cv2.imwrite(os.path.join(root, 'tiny', 'trainB', 'gray.png'), gray)
    rgba = rng.integers(0, 256, (30, 30, 4), dtype=np.uint8)
    cv2.imwrite(os.path.join(root, 'tiny', 'testA', 'a&b<c>.png'), rgba)
    deep = rng.integers(0, 65536, (30, 30, 3), dtype=np.uint16)
    cv2.imwrite(os.path.join(root, 'tiny', 'testA', 'deep16.png'), deep)
    # PNG data under a .jpg name, as in the real selfie2anime testB.
    ok, png = cv2.imencode('.png', rng.integers(0, 256, (30, 30, 3), dtype=np.uint8))
    png.tofile(os.path.join(root, 'tiny', 'testB', 'png_named.jpg'))
    with open(os.path.join(root, 'tiny', 'trainA', 'broken.jpg'), 'wb') as f:
        f.write(b'\xff\xd8\xff garbage')
    with open(os.path.join(root, 'tiny', 'testB', 'empty.png'), 'wb'):
        pass


def steps_saved(folder):
    """The steps of the checkpoints in folder, sorted."""
    return sorted(int(re.search(r'-(\d+)\.index$', p).group(1)) for p in glob.glob(os.path.join(folder, '*.index')))


def losses_printed(text):
    """[(d_loss, g_loss)] of the training lines in a run's console text."""
    pairs = re.findall(r'd_loss ([-\w.+]+) g_loss ([-\w.+]+)', text)
    return [(float(d), float(g)) for d, g in pairs]
