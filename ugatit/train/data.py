"""Training data: scanning the dataset folders and the tf.data input pipeline.

Layout: `<dataset_dir>/<dataset>/{trainA,trainB,testA,testB}/` with image files of any common
format (decoded by content). Unreadable files are reported by name and skipped at start-up,
so that a bad file never crashes a training run hours later.
"""

import os

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from ugatit.config import domain_folder
from ugatit.errors import UserError
from utils import MIN_IMAGE_SIDE, ImageError, list_images, read_image_rgb

tf1 = tf.compat.v1


def scan_images(folder, label, min_size=1, show_progress=True):
    """Decode every image of `folder` once; return (usable files, [(file, reason), ...]).

    Raises UserError if the folder is missing or holds no usable image.
    """
    if not os.path.isdir(folder):
        raise UserError('%s folder not found: %s (expected layout: <dataset_dir>/<dataset>/'
                        '{trainA,trainB,testA,testB}/; see docs/training.md "Datasets")' % (label, folder))
    files = list_images(folder)
    good, bad = [], []
    for path in tqdm(files, desc='checking %s' % label, unit='img', leave=False,
                     disable=not show_progress or len(files) < 200):
        try:
            read_image_rgb(path, min_size=min_size)
            good.append(path)
        except ImageError as exc:
            bad.append((path, str(exc)))
    if not good:
        detail = ('; %d unreadable, e.g. %s' % (len(bad), bad[0][1])) if bad else ''
        raise UserError('%s folder %s has no usable image (looked for %s files)%s'
                        % (label, folder, '/'.join(e.lstrip('.') for e in ('.jpg', '.png', '.bmp', '.webp')), detail))
    return good, bad


def _decode(path):
    """tf.numpy_function body: file path (bytes) -> (RGB uint8 [H, W, 3] decoded by content,
    whether it could be read). A file that became unreadable after the start-up scan is named
    in a warning and gives (a 1x1 placeholder, False), which the pipeline drops."""
    try:
        return read_image_rgb(path.decode('utf-8')), True
    except ImageError as exc:
        tqdm.write('warning: skipping a training image that became unreadable: %s' % exc)
        return np.zeros((1, 1, 3), np.uint8), False


def augmentation(image, augment_size, seed=None):
    """Official augmentation: random horizontal flip, resize to augment_size, random crop back.

    image: [S, S, C] float32 -> [S, S, C].
    """
    shape = tf.shape(image)
    image = tf.image.random_flip_left_right(image, seed=seed)
    image = tf1.image.resize_images(image, [augment_size, augment_size])
    return tf.image.random_crop(image, shape, seed=seed)


def image_processing(img_rgb_uint8, img_size, augment_flag):
    """[H, W, 3] uint8 -> [img_size, img_size, 3] float32 in [-1, 1], resized (TF1 bilinear) and,
    with augment_flag, augmented with probability 1/2, decided per image inside the graph.

    (The official code drew that coin once per run in Python while tracing the map function,
    so a run either augmented every image or none.)
    """
    img = tf1.image.resize_images(tf.cast(img_rgb_uint8, tf.float32), [img_size, img_size])
    img = img / 127.5 - 1
    if augment_flag:
        augment_size = img_size + (30 if img_size == 256 else 15)
        img = tf.cond(tf.random.uniform([]) > 0.5,
                      lambda: augmentation(img, augment_size),
                      lambda: img)
    return img


def make_dataset(files, img_size, batch_size, augment_flag, shuffle_buffer):
    """An endless, shuffled tf.data pipeline of [batch_size, S, S, 3] batches from `files`."""

    def decode(path):
        img, ok = tf.numpy_function(_decode, [path], [tf.uint8, tf.bool], stateful=False)
        img.set_shape([None, None, 3])
        return img, ok

    ds = tf.data.Dataset.from_tensor_slices(np.array(files))
    ds = ds.shuffle(max(shuffle_buffer, 1)).repeat()
    # Unreadable files are dropped (not an error that would stop a training run hours in).
    ds = ds.map(decode, num_parallel_calls=INPUT_THREADS).filter(lambda img, ok: ok)
    ds = ds.map(lambda img, ok: image_processing(img, img_size, augment_flag), num_parallel_calls=INPUT_THREADS)
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.prefetch(2).with_options(without_autotune())


# Images decoded at once by the input pipeline: a training step takes far longer than decoding
# one image, so two keep it ahead.
INPUT_THREADS = 2


def without_autotune():
    """tf.data.Options with the autotuner off. Its thread sleeps between tunings (up to a minute)
    and the iterator's destructor waits for it: closing the session after Ctrl-C or SIGTERM then
    took over 30 s, and the process could abort at exit while TensorFlow was still closing."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def scan_training_sets(paths):
    """The usable files of <dataset_dir>/<dataset>/trainA and trainB, each unreadable or too
    small file (under utils.MIN_IMAGE_SIDE) named in a warning. Returns (files_A, files_B,
    [(file, reason), ...] skipped)."""
    found, skipped = [], []
    for split in ('trainA', 'trainB'):
        good, bad = scan_images(domain_folder(paths.dataset_dir, paths.dataset, split), split, min_size=MIN_IMAGE_SIDE)
        found.append(good)
        skipped += bad
    for _, reason in skipped:
        tqdm.write('warning: skipping a training image: %s' % reason)
    return found[0], found[1], skipped


def training_inputs(files_A, files_B, config):
    """Two endless input tensors [batch_size, S, S, 3] of the training sets (shuffled over the
    larger set's size, as the official code), which can also be fed fixed batches."""
    size, batch = config.model.img_size, config.runtime.batch_size
    shape = [batch, size, size, config.model.img_ch]
    buffer = max(len(files_A), len(files_B))
    inputs = []
    for files, name in ((files_A, 'domain_A'), (files_B, 'domain_B')):
        iterator = tf1.data.make_one_shot_iterator(
            make_dataset(files, size, batch, config.train.augment_flag, buffer))
        inputs.append(tf1.placeholder_with_default(iterator.get_next(), shape, name=name))
    return inputs
