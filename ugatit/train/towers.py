"""Training on several devices of one machine: in-graph replication (`--towers N`).

One copy ("tower") of the training graph per device, each under tf.device, all sharing the one
set of variables (variable_scope reuse). Each tower computes its losses and gradients on its
own `--batch_size` images; the gradients are averaged over the towers and applied once by the
same two Adam optimisers as on one device, G's first. The variables, their names and creation
order, and so the checkpoints, are exactly those of a single-device run: a checkpoint moves
freely between 1 and N towers.

What N towers of batch b compute: the gradient of the mean loss over the N*b images, the same
as one device with a batch of N*b (every official loss term is a mean over the batch, and
every normalisation - instance norm, layer-instance norm, AdaLIN, the light MLP's pooling - is
per image; docs/multi_device.md lists the exceptions: the gradient penalties' random draws).

Spectral norm: ops.spectral_norm_sigma returns one shared sigma tensor per kernel and graph, so
the towers share the sigma built by tower 0 (on tower 0's device): every tower divides by the
same sigma, read from the `u` stored before the step, and `u` is assigned once per session run,
deterministically, as on one device.

Scalars and samples: the loss scalars (TensorBoard, progress bar) are the towers' means, equal
to the batch losses of one device; the sample images are tower 0's.
"""

import dataclasses

import tensorflow as tf

from ugatit.train.data import training_inputs
from ugatit.errors import UserError
from ugatit.model.model import UGATIT

tf1 = tf.compat.v1


def tower_devices(towers, gpu_count):
    """Device names of `towers` towers on a machine with gpu_count GPUs: /gpu:0../gpu:N-1, or,
    on a machine without a GPU, the logical CPUs /cpu:0../cpu:N-1 (see add_tower_devices;
    they share the same cores, so this is for testing, not for speed). UserError when the
    machine has GPUs but fewer than `towers`."""
    if towers < 1:
        raise UserError('--towers must be >= 1 (got %d)' % towers)
    if gpu_count == 0:
        return ['/cpu:%d' % i for i in range(towers)]
    if gpu_count < towers:
        raise UserError('--towers %d needs %d GPUs; TensorFlow sees %d. Use --towers %d or fewer.'
                        % (towers, towers, gpu_count, gpu_count))
    return ['/gpu:%d' % i for i in range(towers)]


def add_tower_devices(config_proto, devices):
    """config_proto (the session configuration of ugatit.config.session_config, changed in place
    and returned) with as many logical CPU devices as `devices` names, so that /cpu:1.. exist in
    the session."""
    cpus = sum(1 for d in devices if d.startswith('/cpu:'))
    if cpus > 1:
        config_proto.device_count['CPU'] = cpus
    return config_proto


def build_tower_losses(gan, inputs, devices):
    """The model's losses and gradients on one tower per device.

    gan: a UGATIT; inputs: one (domain_A, domain_B) pair of [b, S, S, 3] tensors per device;
    devices: device names (tower_devices). The first tower creates the variables, the others
    reuse them. Returns (losses, images, gradients) as UGATIT.build_losses: losses and gradients
    are the towers' means (on devices[0]), images are tower 0's.
    """
    towers = []
    for i, (device, (domain_A, domain_B)) in enumerate(zip(devices, inputs)):
        with tf.device(device), tf1.variable_scope(tf1.get_variable_scope(), reuse=i > 0):
            if i == 0:
                towers.append(gan.build_losses(domain_A, domain_B))
            else:
                with tf.name_scope('tower_%d' % i):
                    towers.append(gan.build_losses(domain_A, domain_B))
    if len(towers) == 1:
        return towers[0]
    with tf.device(devices[0]), tf.name_scope('tower_mean'):
        losses = {name: _mean([t[0][name] for t in towers]) for name in towers[0][0]}
        gradients = {part: _mean_gradients([t[2][part] for t in towers]) for part in towers[0][2]}
    return losses, towers[0][1], gradients


def _mean(tensors):
    """Element-wise mean of same-shaped tensors; None when all are None (a variable no loss
    reaches)."""
    present = [t for t in tensors if t is not None]
    if not present:
        return None
    assert len(present) == len(tensors), 'a gradient reaches a variable in some towers only'
    return tf.add_n(present) / float(len(present))


def _mean_gradients(tower_gradients):
    """[(gradient, variable)] lists, one per tower in the same variable order -> one list of
    (mean gradient, variable)."""
    averaged = []
    for pairs in zip(*tower_gradients):
        variable = pairs[0][1]
        assert all(v is variable for _, v in pairs), 'the towers do not share their variables'
        averaged.append((_mean([g for g, _ in pairs]), variable))
    return averaged


def build_tower_train_ops(gan, inputs, devices):
    """TrainOps (as UGATIT.build_train_ops) of one tower per device; see build_tower_losses.
    With one device: the single-device graph, its ops placed on that device."""
    lr = tf1.placeholder(tf.float32, name='learning_rate')
    with tf.device(devices[0]):
        return gan.train_ops_from(lr, *build_tower_losses(gan, inputs, devices))


def training_graph(files_A, files_B, config, devices):
    """The training graph of `config` on `devices`: one input pipeline of len(devices) *
    --batch_size images per domain, split into the towers' batches. Returns TrainOps."""
    gan = UGATIT(config.model, config.train)
    if len(devices) == 1:
        return gan.build_train_ops(*training_inputs(files_A, files_B, config))
    batch = config.runtime.batch_size
    runtime = dataclasses.replace(config.runtime, batch_size=batch * len(devices))
    with tf.device('/cpu:0'):
        domain_A, domain_B = training_inputs(files_A, files_B, dataclasses.replace(config, runtime=runtime))
        inputs = list(zip(tf.split(domain_A, len(devices)), tf.split(domain_B, len(devices))))
    return build_tower_train_ops(gan, inputs, devices)
