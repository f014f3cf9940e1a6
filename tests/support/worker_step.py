"""One training step (D then G) of the tiny model, run as its own process by test_workers.py.

    python tests/support/worker_step.py CHECKPOINT IMAGES.npy[,...] OUT.npz[,...] [TF_CONFIG]   (PYTHONPATH: the project root)

Restores CHECKPOINT, takes domain A = IMAGES[0], domain B = IMAGES[1] (each [b, 32, 32, 3]),
runs one D step and one G step at learning rate 1e-4 and writes every variable to OUT.npz.
With TF_CONFIG (a JSON cluster description) it is one worker of ugatit/train/workers.py; without,
the single-process reference, which takes comma-separated lists of image files of one shape and
of outputs: one graph, a step from the restored checkpoint for each file.
"""

import sys

import numpy as np
import tensorflow as tf

from tests.support import tiny_config
from ugatit.config import RuntimeConfig, session_config
from ugatit.model.model import UGATIT
from ugatit.train.workers import build_worker_train_ops, cluster_from_tf_config, start_server

tf1 = tf.compat.v1
tf1.disable_eager_execution()  # TF1 graph mode, as in the test suite (tests/conftest.py)


def main(checkpoint, images_paths, outs, tf_config=''):
    images = [np.load(path) for path in images_paths.split(',')]
    config = tiny_config(phase='train')
    cluster = cluster_from_tf_config(tf_config)
    proto = session_config(RuntimeConfig(grappler=False))
    gan = UGATIT(config.model, config.train)
    with tf.device(None if cluster is None else cluster.device):
        domain_A, domain_B = [tf1.placeholder(tf.float32, images[0].shape[1:]) for _ in range(2)]
        if cluster is None:
            target, sync = '', None
            ops = gan.build_train_ops(domain_A, domain_B)
        else:
            server = start_server(cluster, proto)
            target = server.target
            ops, sync = build_worker_train_ops(gan, domain_A, domain_B, cluster)
        variables = tf1.global_variables()
        saver = tf1.train.Saver(variables)
    with tf1.Session(target, config=proto) as sess:
        for pair, out in zip(images, outs.split(',')):
            saver.restore(sess, checkpoint)   # the weights and the Adam slots of the start, each time
            if sync is not None:
                sess.run(sync)
            feed = {domain_A: pair[0], domain_B: pair[1], ops.lr: 1e-4}
            sess.run(ops.D_optim, feed)
            sess.run(ops.G_optim, feed)
            np.savez(out, **sess.run({v.op.name: v for v in variables}))


if __name__ == '__main__':
    main(*sys.argv[1:])
