"""Training on several machines: data-parallel workers joined by TensorFlow's collective
all-reduce (the ops under tf.distribute's MultiWorkerMirroredStrategy), driven from the
graph-mode training code.

Every worker runs the same program with its own TF_CONFIG (the strategy's format):
    TF_CONFIG='{"cluster": {"worker": ["host0:port", "host1:port"]}, "task": {"type": "worker", "index": 0}}'
Each worker starts a tf.distribute.Server, keeps its own copy of the variables, computes the
gradients of its own `--batch_size` images and replaces each one by the mean over the workers
(collective all-reduce, group leader worker 0) before the same two Adam steps as on one device.
The gradients of one optimiser travel packed (flattened and concatenated, a few all-reduces of
up to PACK_ELEMENTS each instead of one per gradient): collectives that may run concurrently can
start in another order on each worker, which TensorFlow's graph mode does not guard against by
default (hangs or mixed-up results), so there are few, and the session orders those that remain
(collective_deterministic_sequential_execution).
All workers thus apply the same update and their variables stay equal, provided they start
equal: sync_variables_op copies worker 0's values to every worker (after a restore or the
initialisation). Only worker 0 writes checkpoints, summaries and samples. The loss scalars are
each worker's own (not reduced).
"""

import json
import os

import tensorflow as tf
from tensorflow.python.ops import collective_ops

from ugatit.errors import UserError

tf1 = tf.compat.v1

GROUP_KEY = 1
# Elements per packed all-reduce (~128 MB of float32 copied at a time): the 256 px selfie2anime
# model's D gradients travel in 5 all-reduces, its G's in 1 (light) or 5 (full).
PACK_ELEMENTS = 32 * 1024 * 1024


class Cluster(object):
    """One worker's view of the cluster: workers (host:port list), index (this worker's)."""

    def __init__(self, workers, index):
        self.workers, self.index = list(workers), index

    @property
    def size(self):
        return len(self.workers)

    @property
    def is_chief(self):
        return self.index == 0

    @property
    def device(self):
        """This worker's CPU device name in the cluster."""
        return '/job:worker/replica:0/task:%d/device:CPU:0' % self.index


def cluster_from_tf_config(text):
    """Parse a TF_CONFIG JSON string; returns a Cluster, or None for an empty string.
    UserError naming TF_CONFIG when it is malformed."""
    if not text:
        return None
    try:
        spec = json.loads(text)
        workers = spec['cluster']['worker']
        task = spec['task']
        index = int(task['index'])
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError('TF_CONFIG is not a cluster description of the form {"cluster": {"worker": '
                        '["host:port", ...]}, "task": {"type": "worker", "index": i}} (%s)' % exc)
    if task.get('type', 'worker') != 'worker' or not 0 <= index < len(workers) or set(spec['cluster']) != {'worker'}:
        raise UserError('TF_CONFIG: only a "worker" job is supported, and task.index must be one of its '
                        '%d workers (got type %r, index %d)' % (len(workers), task.get('type'), index))
    return Cluster(workers, index)


def cluster_from_environment():
    """The Cluster of the TF_CONFIG environment variable, or None when it is unset."""
    return cluster_from_tf_config(os.environ.get('TF_CONFIG', ''))


def add_worker_settings(config_proto, cluster):
    """config_proto (the session configuration of ugatit.config.session_config, changed in place
    and returned) with worker 0 as the collectives' group leader
    and this worker's session seeing its own devices only (the others are reached by the
    collectives alone)."""
    config_proto.experimental.collective_group_leader = '/job:worker/replica:0/task:0'
    config_proto.experimental.collective_deterministic_sequential_execution = True
    del config_proto.device_filters[:]
    config_proto.device_filters.append('/job:worker/task:%d' % cluster.index)
    return config_proto


def start_server(cluster, config_proto):
    """This worker's in-process server (it serves the other workers' collectives)."""
    spec = tf1.train.ClusterSpec({'worker': cluster.workers})
    return tf1.train.Server(spec, job_name='worker', task_index=cluster.index,
                            config=add_worker_settings(config_proto, cluster))


class AllReduce(object):
    """Builds collective all-reduces over the cluster's workers. Every worker must build the
    same reductions in the same order: the instance keys are handed out in build order."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.next_key = 1

    def __call__(self, tensor, final_op='Div'):
        """The element-wise sum over the workers ('Id') or their mean ('Div') of tensor."""
        key, self.next_key = self.next_key, self.next_key + 1
        return collective_ops.all_reduce(tensor, group_size=self.cluster.size, group_key=GROUP_KEY,
                                         instance_key=key, merge_op='Add', final_op=final_op)

    def packed(self, tensors, final_op):
        """self(t, final_op) of every tensor of the list, computed as one all-reduce per pack:
        the flattened concatenation of tensors of one dtype, in list order (the same on every
        worker), up to PACK_ELEMENTS (a larger tensor goes alone). The results in the list's
        order and shapes. Each tensor needs a fully defined shape."""
        results = [None] * len(tensors)
        for indices in _packs(tensors):
            shapes = [tensors[i].shape for i in indices]
            flat = tf.concat([tf.reshape(tensors[i], [-1]) for i in indices], axis=0)
            pieces = tf.split(self(flat, final_op), [s.num_elements() for s in shapes])
            for i, shape, piece in zip(indices, shapes, pieces):
                results[i] = tf.reshape(piece, shape)
        return results

    def mean_gradients(self, gradients):
        """build_losses' gradients dict with each gradient replaced by its mean over workers
        (packed, see packed)."""
        averaged = {}
        for part, pairs in gradients.items():
            means = iter(self.packed([tf.convert_to_tensor(g) for g, _ in pairs if g is not None], 'Div'))
            averaged[part] = [(None if g is None else next(means), v) for g, v in pairs]
        return averaged

    def sync_variables_op(self, variables):
        """One op that sets every variable to worker 0's value (sum of worker 0's value and the
        others' zeros, packed)."""
        values = [var.read_value() for var in variables]
        mine = values if self.cluster.is_chief else [tf.zeros_like(v) for v in values]
        synced = self.packed(mine, 'Id')
        return tf.group(*[var.assign(value) for var, value in zip(variables, synced)], name='sync_variables')


def _packs(tensors):
    """Lists of indices into tensors: one dtype per list, at most PACK_ELEMENTS elements in all
    unless one tensor alone is larger, in list order."""
    packs, open_pack = [], {}   # open_pack: dtype -> (indices, elements)
    for index, tensor in enumerate(tensors):
        dtype, size = tensor.dtype.base_dtype, tensor.shape.num_elements()
        indices, elements = open_pack.get(dtype, (None, 0))
        if indices is None or elements + size > PACK_ELEMENTS:
            indices, elements = [], 0
            packs.append(indices)
        indices.append(index)
        open_pack[dtype] = (indices, elements + size)
    return packs


def build_worker_train_ops(gan, domain_A, domain_B, cluster):
    """TrainOps (as UGATIT.build_train_ops) of this worker, with the gradients averaged over
    the cluster, and the op that copies worker 0's variables to all (run it once after the
    initialisation or the restore, on every worker). Returns (TrainOps, sync op)."""
    reduce = AllReduce(cluster)
    with tf.device(cluster.device):
        lr = tf1.placeholder(tf.float32, name='learning_rate')
        losses, images, gradients = gan.build_losses(domain_A, domain_B)
        ops = gan.train_ops_from(lr, losses, images, reduce.mean_gradients(gradients))
        sync = reduce.sync_variables_op(tf1.global_variables())
    return ops, sync
