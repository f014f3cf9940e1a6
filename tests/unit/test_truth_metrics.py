"""The ground-truth report of the test phase, on hand-made cases whose answer is known."""

import json
import math
import os

import cv2
import numpy as np
import pytest

from ugatit.config import Config, ModelConfig, PathConfig, RuntimeConfig
from ugatit.infer.testing import l1_and_psnr, translate_folder


def known_config(root):
    return Config(model=ModelConfig(img_size=8), runtime=RuntimeConfig(batch_size=2),
                  paths=PathConfig(dataset_dir=str(root), dataset='known'))


def test_l1_and_psnr_of_known_differences():
    truth = np.zeros((2, 4, 4, 3), np.uint8)
    images = truth.copy()
    images[0] += 51                  # every value off by 0.2: L1 0.2, MSE 0.04
    images[1, :2] += 102             # half the values off by 0.4: L1 0.2, MSE 0.08
    l1, psnr = l1_and_psnr(images, truth)
    assert l1 == pytest.approx(0.2)
    # PSNR is averaged per image, not computed from the mean MSE.
    assert psnr == pytest.approx((10 * math.log10(1 / 0.04) + 10 * math.log10(1 / 0.08)) / 2)


def test_identical_images_have_zero_l1_and_a_finite_psnr():
    images = np.full((1, 8, 8, 3), 77, np.uint8)
    l1, psnr = l1_and_psnr(images, images)
    assert l1 == 0.0 and psnr == pytest.approx(100.0)


class ShiftingModel(object):
    """Stands in for the Translator: 'translates' by adding a constant, so every figure is known."""

    def __init__(self, shift):
        self.shift = shift

    def translate(self, direction, images):
        return np.clip(images + self.shift, -1, 1), np.zeros(images.shape[:3], np.float32)


def write(path, value):
    cv2.imwrite(str(path), np.full((8, 8, 3), value, np.uint8))


def test_translate_folder_reports_translation_and_input_against_the_truth(tmp_path):
    test_a = tmp_path / 'known' / 'testA'
    truth_a = tmp_path / 'known' / 'testA_truth'
    test_a.mkdir(parents=True)
    truth_a.mkdir()
    files = []
    for i in range(3):
        write(test_a / ('%d.png' % i), 0)        # input: black
        write(truth_a / ('%d.png' % i), 255)     # truth: white
        files.append(str(test_a / ('%d.png' % i)))
    # Shift by +1 in [-1, 1] units: black (-1) becomes mid grey (0), i.e. 127.5 -> 128 after rounding.
    result = translate_folder(ShiftingModel(1.0), known_config(tmp_path), 'a2b', files, str(tmp_path / 'out'))
    metrics = result['metrics']
    assert metrics['n'] == 3
    assert metrics['input_l1'] == pytest.approx(1.0)
    assert metrics['input_psnr'] == pytest.approx(0.0)
    out = cv2.imread(str(tmp_path / 'out' / 'a2b' / '0.png'))
    expected_l1 = (255 - float(out[0, 0, 0])) / 255
    assert metrics['translation_l1'] == pytest.approx(expected_l1)
    assert metrics['translation_psnr'] == pytest.approx(-20 * math.log10(expected_l1))
    assert os.path.isfile(str(tmp_path / 'out' / 'a2b' / 'truth' / '0.png'))
    json.dumps(metrics)  # written into metrics.json as it is


def test_no_metrics_when_some_inputs_lack_a_truth(tmp_path):
    test_a = tmp_path / 'known' / 'testA'
    truth_a = tmp_path / 'known' / 'testA_truth'
    test_a.mkdir(parents=True)
    truth_a.mkdir()
    write(test_a / 'a.png', 0)
    write(test_a / 'b.png', 0)
    write(truth_a / 'a.png', 255)
    files = [str(test_a / 'a.png'), str(test_a / 'b.png')]
    result = translate_folder(ShiftingModel(0.0), known_config(tmp_path), 'a2b', files, str(tmp_path / 'out'))
    assert 'metrics' not in result and len(result['rows']) == 2
