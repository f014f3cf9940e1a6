"""Differentiable Augmentation (Zhao, Liu, Lin, Zhu, Han; NeurIPS 2020), for tf.compat.v1 graphs.

DiffAugment applies the same kind of random augmentation to the real and to the generated images
every time the discriminator sees them, in the D step and in the G step alike, with operations
that are differentiable, so the generator's gradient passes through them. The paper's policy,
written from its description:
  - color: brightness + b, b ~ U[-0.5, 0.5] per image; saturation: each pixel's deviation from
    its channel mean scaled by s ~ U[0, 2]; contrast: each image's deviation from its mean scaled
    by c ~ U[0.5, 1.5] (the ranges are for images in [-1, 1]);
  - translation: a shift by whole pixels of up to 1/8 of the image size in each direction, the
    uncovered band filled with zeros;
  - cutout: one square of half the image size set to zero, its centre uniform over the image (so
    the square may be cut by the border; fully inside it covers a quarter of the image).
Every draw is per image. ugatit/model/model.py applies it with --diff_augment.
"""

import tensorflow as tf

POLICY = 'color,translation,cutout'


def _per_image(x, low, high):
    """Uniform draws [N, 1, 1, 1] in [low, high), one per image of x."""
    return tf.random.uniform([tf.shape(x)[0], 1, 1, 1], low, high, dtype=x.dtype)


def rand_brightness(x):
    return x + _per_image(x, -0.5, 0.5)


def rand_saturation(x):
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    return (x - mean) * _per_image(x, 0.0, 2.0) + mean


def rand_contrast(x):
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * _per_image(x, 0.5, 1.5) + mean


def _static_size(x):
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise ValueError('DiffAugment needs images of a static height and width; got shape %s' % x.shape)
    return int(height), int(width)


def rand_translation(x, ratio=0.125):
    """Shift each image by (dy, dx) whole pixels, |dy| <= round(H * ratio), |dx| <= round(W * ratio)."""
    height, width = _static_size(x)
    max_dy, max_dx = int(height * ratio + 0.5), int(width * ratio + 0.5)
    n = tf.shape(x)[0]
    dy = tf.random.uniform([n, 1], -max_dy, max_dy + 1, dtype=tf.int32)
    dx = tf.random.uniform([n, 1], -max_dx, max_dx + 1, dtype=tf.int32)
    padded = tf.pad(x, [[0, 0], [max_dy, max_dy], [max_dx, max_dx], [0, 0]])
    # Output pixel (i, j) takes input pixel (i - dy, j - dx): in the padded image (i - dy + max_dy, ...).
    rows = tf.range(height)[None, :] - dy + max_dy
    cols = tf.range(width)[None, :] - dx + max_dx
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(shifted, cols, axis=2, batch_dims=1)


def rand_cutout(x, ratio=0.5):
    """Zero one square of round(H * ratio) x round(W * ratio) pixels centred uniformly over each image."""
    height, width = _static_size(x)
    cut_h, cut_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    n = tf.shape(x)[0]
    top = tf.random.uniform([n, 1, 1], 0, height, dtype=tf.int32) - cut_h // 2
    left = tf.random.uniform([n, 1, 1], 0, width, dtype=tf.int32) - cut_w // 2
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    inside = (rows >= top) & (rows < top + cut_h) & (cols >= left) & (cols < left + cut_w)
    return x * tf.cast(tf.logical_not(inside), x.dtype)[..., None]


OPS = {'color': (rand_brightness, rand_saturation, rand_contrast),
       'translation': (rand_translation,),
       'cutout': (rand_cutout,)}


def parse_policy(policy):
    """'color,translation' -> ['color', 'translation']; raises ValueError for an unknown name."""
    names = [name.strip() for name in (policy or '').split(',') if name.strip()]
    unknown = [name for name in names if name not in OPS]
    if unknown:
        raise ValueError('unknown DiffAugment operation %s; known: %s' % (', '.join(unknown), ', '.join(OPS)))
    return names


def diff_augment(x, policy=POLICY):
    """Augment a batch x (float NHWC, [-1, 1], static H and W) differentiably; same shape and dtype.

    policy: comma-separated names from OPS, applied in that order; '' or None returns x itself.
    """
    for name in parse_policy(policy):
        for op in OPS[name]:
            x = op(x)
    return x
