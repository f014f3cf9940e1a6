"""Building checkpoints for tests from the reference ones (../shared/reference)."""

import os

import tensorflow as tf

from tests.support import shared_path

A_FOLDER = 'UGATIT_light_tiny_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing'
A_FLAGS = ['--light', 'true', '--ch', '8', '--img_size', '64', '--dataset', 'tiny']


def reference_a_folder():
    """The folder of reference checkpoint a (light, ch 8, 64 px); skips when it is absent."""
    return shared_path('reference', 'a', 'checkpoint', A_FOLDER)


def read_tensors(prefix):
    """{name: numpy array} of every variable in a checkpoint."""
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def write_checkpoint(prefix, tensors):
    """Save {name: numpy array} as a TF1 checkpoint at `prefix` (.index + .data-00000-of-00001)."""
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    names = sorted(tensors)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        # One SaveV2 op of constants: the format tf.compat.v1.train.Saver writes, without
        # building, initialising and fetching a variable per tensor.
        sess.run(tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[''] * len(names),
                                   tensors=[tf.constant(tensors[n]) for n in names]))
    return prefix
