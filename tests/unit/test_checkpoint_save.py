"""Checkpoint.save: what a save killed earlier left in the folder goes at the next save."""

import os

import tensorflow as tf

from tests.support import tiny_config
from ugatit.model.checkpoint import Checkpoint

tf1 = tf.compat.v1

# What TensorFlow's checkpoint writer leaves when its process is SIGKILLed mid-save (observed:
# `<prefix>.data-00000-of-00001.tempstate<64-bit number>`, 0 bytes or part-written).
STALE = ['UGATIT_light.model-3.data-00000-of-00001.tempstate4153474293028094638',
         'UGATIT_light.model-3.index.tempstate17731398123415026301']
# Not this model's temporary files: another model's, and the user's.
KEPT = ['UGATIT.model-3.index.tempstate17731398123415026301', 'notes.tempstate', 'UGATIT_light.model-3.tempstate1']


def test_the_next_save_removes_the_temporary_files_of_an_interrupted_one(tmp_path, capsys):
    config = tiny_config('--checkpoint_dir', str(tmp_path))
    with tf.Graph().as_default(), tf1.Session() as sess:
        v = tf1.get_variable('v', [3])
        sess.run(v.initializer)
        checkpoint = Checkpoint(config, [v])
        os.makedirs(checkpoint.folder)
        for name in STALE + KEPT:
            open(os.path.join(checkpoint.folder, name), 'wb').close()
        prefix = checkpoint.save(sess, 4)
    left = sorted(os.listdir(checkpoint.folder))
    assert not set(STALE) & set(left) and set(KEPT) <= set(left), left
    assert os.path.isfile(prefix + '.index')
    assert 'Removed 2 temporary file(s) of an interrupted save in %s' % checkpoint.folder in capsys.readouterr().out
