"""Where the training graph runs: one device (the default), towers on several devices of this
machine (`--towers N`, ugatit/train/towers.py) or workers on several machines (TF_CONFIG,
ugatit/train/workers.py). ugatit/train/train.py asks a Placement for its session, its graph and its loop.
"""

import tensorflow as tf

from ugatit.train import towers

from ugatit.train import workers
from ugatit.train.data import training_inputs
from ugatit.errors import UserError
from ugatit.model.model import UGATIT

tf1 = tf.compat.v1


class Placement(object):
    """The training run's devices: config.runtime.towers and the TF_CONFIG environment variable."""

    def __init__(self, config):
        self.cluster = workers.cluster_from_environment()
        if self.cluster is not None and config.runtime.towers > 1:
            raise UserError('--towers %d and TF_CONFIG: several machines train with one device each; '
                            'unset TF_CONFIG or use --towers 1' % config.runtime.towers)
        self.devices = towers.tower_devices(config.runtime.towers, len(tf.config.list_physical_devices('GPU')))
        self.sync = None
        self.server = None

    @property
    def writes_checkpoints(self):
        """True for the process that saves checkpoints: the only one, or worker 0."""
        return self.cluster is None or self.cluster.is_chief

    def session(self, config_proto):
        """A tf1.Session for this placement (on this worker's server under TF_CONFIG)."""
        if self.cluster is None:
            return tf1.Session(config=towers.add_tower_devices(config_proto, self.devices))
        self.server = workers.start_server(self.cluster, config_proto)
        return tf1.Session(self.server.target, config=workers.add_worker_settings(config_proto, self.cluster))

    def train_ops(self, files_A, files_B, config):
        """The TrainOps of config on this placement; a worker reads its own share of the files."""
        if self.cluster is None:
            return towers.training_graph(files_A, files_B, config, self.devices)
        c = self.cluster
        with tf.device(c.device):
            domain_A, domain_B = training_inputs(files_A[c.index::c.size], files_B[c.index::c.size], config)
        ops, self.sync = workers.build_worker_train_ops(UGATIT(config.model, config.train), domain_A, domain_B, c)
        return ops

    def after_restore(self, sess):
        """Under TF_CONFIG, every worker takes worker 0's variables once the checkpoint (if any)
        is restored; with one process there is nothing to do."""
        if self.sync is not None:
            sess.run(self.sync)
