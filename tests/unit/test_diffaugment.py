"""DiffAugment: shapes, gradients, identity, and the statistics of each operation."""

import numpy as np
import pytest
import tensorflow as tf

from ugatit.model.diffaugment import (diff_augment, parse_policy, rand_brightness, rand_contrast, rand_cutout,
                                rand_saturation, rand_translation)


def positive_images(n, size=16, seed=0):
    """Images in [0.1, 1] (no zeros, so a zero in the output was made by the augmentation)."""
    return np.random.RandomState(seed).uniform(0.1, 1.0, (n, size, size, 3)).astype(np.float32)


def run(op, images, seed=0):
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(seed)
        x = tf.constant(images)
        out = op(x)
        assert out.shape.as_list() == list(images.shape)
        with tf.compat.v1.Session() as sess:
            return sess.run(out)


def test_policy_names():
    assert parse_policy('color, translation,cutout') == ['color', 'translation', 'cutout']
    assert parse_policy('') == [] and parse_policy(None) == []
    with pytest.raises(ValueError, match='colour'):
        parse_policy('colour')


def test_empty_policy_is_the_identity():
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 3])
        assert diff_augment(x, '') is x


def test_full_policy_keeps_shape_and_passes_gradients():
    images = positive_images(4, size=32)
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(1)
        x = tf.compat.v1.placeholder(tf.float32, [None, 32, 32, 3])
        out = diff_augment(x)
        weights = tf.constant(np.random.RandomState(2).normal(size=(32, 32, 3)).astype(np.float32))
        (grad,) = tf.gradients(tf.reduce_sum(out * weights), [x])
        assert out.shape.as_list() == [None, 32, 32, 3] and grad is not None
        with tf.compat.v1.Session() as sess:
            result, g = sess.run([out, grad], {x: images})
    assert np.all(np.isfinite(g))
    assert all(np.abs(g[i]).sum() > 0 for i in range(4))      # every image gets a gradient
    assert not np.allclose(result, images)                    # and was changed


def test_brightness_adds_one_constant_per_image_in_range():
    images = positive_images(400)
    delta = run(rand_brightness, images) - images
    offsets = delta.reshape(400, -1)
    np.testing.assert_allclose(offsets, offsets[:, :1].repeat(offsets.shape[1], 1), atol=1e-6)
    assert offsets.min() >= -0.5 and offsets.max() < 0.5
    assert offsets.min() < -0.45 and offsets.max() > 0.45     # the whole range is used


def scale_factors(before, after, axes):
    """Per image: the factor s with after - mean = s (before - mean), means over `axes` (checked equal)."""
    mean_before, mean_after = before.mean(axis=axes, keepdims=True), after.mean(axis=axes, keepdims=True)
    np.testing.assert_allclose(mean_after, mean_before, atol=1e-5)
    dev_before, dev_after = (before - mean_before).reshape(len(before), -1), (after - mean_after).reshape(len(before), -1)
    factors = (dev_after * dev_before).sum(1) / (dev_before ** 2).sum(1)
    np.testing.assert_allclose(dev_after, factors[:, None] * dev_before, atol=1e-5)
    return factors


def test_saturation_scales_the_deviation_from_the_grey_level():
    images = positive_images(400)
    factors = scale_factors(images, run(rand_saturation, images), axes=3)
    assert factors.min() >= 0 and factors.max() < 2 and factors.min() < 0.1 and factors.max() > 1.9


def test_contrast_scales_the_deviation_from_the_image_mean():
    images = positive_images(400)
    factors = scale_factors(images, run(rand_contrast, images), axes=(1, 2, 3))
    assert factors.min() >= 0.5 and factors.max() < 1.5 and factors.min() < 0.55 and factors.max() > 1.45


def shifted(image, dy, dx):
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = image[max(-dy, 0):h - max(dy, 0),
                                                                      max(-dx, 0):w - max(dx, 0)]
    return out


def test_translation_is_a_zero_padded_shift_of_at_most_an_eighth():
    images = positive_images(300, size=16)               # shifts of -2 .. 2 pixels
    outputs = run(rand_translation, images)
    seen = set()
    for image, out in zip(images, outputs):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if np.array_equal(out, shifted(image, dy, dx))]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 25                                # every allowed shift occurs


def expected_cut_fraction(size, cut):
    """Mean fraction of one axis covered by [c - cut//2, c - cut//2 + cut) with c uniform in [0, size)."""
    return np.mean([len(set(range(c - cut // 2, c - cut // 2 + cut)) & set(range(size))) for c in range(size)]) / size


def test_cutout_zeroes_one_square_of_half_the_size():
    n, size = 2000, 16
    images = positive_images(n, size=size)
    outputs = run(rand_cutout, images)
    zero = np.all(outputs == 0, axis=3)
    np.testing.assert_array_equal(outputs[~zero], images[~zero])          # the rest is untouched
    areas = []
    for mask in zero:
        rows, cols = np.where(mask.any(1))[0], np.where(mask.any(0))[0]
        assert len(rows) <= 8 and len(cols) <= 8
        # One axis-aligned rectangle of consecutive rows and columns.
        assert mask.sum() == len(rows) * len(cols) and np.ptp(rows) == len(rows) - 1 and np.ptp(cols) == len(cols) - 1
        areas.append(mask.sum() / float(size * size))
    areas = np.array(areas)
    assert areas.max() == 0.25                            # a square fully inside covers a quarter
    # The mean covered area against its exact value; 2000 draws: standard error ~0.002, bound 5x.
    assert abs(areas.mean() - expected_cut_fraction(size, 8) ** 2) < 0.01
    assert abs(areas.mean() - 0.25) > 0.03                # negative control: it is not always a quarter


def test_cutout_gradient_is_zero_exactly_on_the_square():
    images = positive_images(3)
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(3)
        x = tf.constant(images)
        out = rand_cutout(x)
        (grad,) = tf.gradients(tf.reduce_sum(out), [x])
        with tf.compat.v1.Session() as sess:
            result, g = sess.run([out, grad])
    np.testing.assert_array_equal(g == 0, result == 0)
