"""Several machines (ugatit/train/workers.py): two worker processes on 127.0.0.1, each one D and one
G step from the same checkpoint on its own images, end with equal variables, equal to one
process's step on both images as a batch of 2."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.support import ROOT, child_environment, placeholders, tiny_config
from tests.support.compare import SPLIT_GRADIENT_TOLERANCE as GRADIENT_TOLERANCE, relative_errors
from ugatit.errors import UserError
from ugatit.model.model import UGATIT
from ugatit.train import workers
from ugatit.train.workers import build_worker_train_ops, cluster_from_tf_config

tf1 = tf.compat.v1
STEP = os.path.join(ROOT, 'tests', 'support', 'worker_step.py')
TIMEOUT = 900  # seconds for the processes of one step (minutes on 2 busy cores)
LR = 1e-4      # worker_step.py's learning rate
# Tolerances: tests/support/compare.py SPLIT_GRADIENT_TOLERANCE (as the towers: the same comparison).


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _tf_config(ports, index):
    return json.dumps({'cluster': {'worker': ['127.0.0.1:%d' % p for p in ports]},
                       'task': {'type': 'worker', 'index': index}})


def _save_initial_checkpoint(prefix):
    """The tiny model's initialisation (seeded: the same weights at every run) at prefix."""
    with tf.Graph().as_default(), tf1.Session() as sess:
        tf1.set_random_seed(1)
        config = tiny_config(phase='train')
        UGATIT(config.model, config.train).build_train_ops(*placeholders(config))
        sess.run(tf1.global_variables_initializer())
        tf1.train.Saver().save(sess, prefix, write_meta_graph=False)


def _run_all(commands):
    """Start every command, wait for all (bounded: killed after TIMEOUT), fail on an error."""
    env = child_environment(dict(os.environ, CUDA_VISIBLE_DEVICES=''))
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for c in commands]
    try:
        outputs = [p.communicate(timeout=TIMEOUT)[0].decode(errors='replace') for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]


def _read_npz(path):
    """{name: array} of an .npz file, the file closed (an open NpzFile left to the garbage
    collector can be interrupted there by the Ctrl-C tests' signals)."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _slot_errors(got, want):
    """relative_errors of Adam's first moments (m = (1 - beta1) * gradient after one step)."""
    slots = [k for k in want if k.endswith('/Adam')]
    return relative_errors({k: got[k] for k in slots}, {k: want[k] for k in slots})


@pytest.mark.slow
def test_two_workers_step_like_one_process_with_their_images_as_a_batch(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.uniform(-1, 1, (2, 2, 32, 32, 3)).astype(np.float32)  # [domain, image, ...]
    prefix = str(tmp_path / 'init')
    _save_initial_checkpoint(prefix)
    np.save(tmp_path / 'both.npy', images)
    for i in range(2):
        np.save(tmp_path / ('worker%d.npy' % i), images[:, i:i + 1])
    # Negative control (below): worker 0's image twice, the gradients of worker 0 alone (no
    # all-reduce); a step of its own in the reference process, on the same graph.
    np.save(tmp_path / 'alone.npy', images[:, [0, 0]])
    ports = _free_ports(2)
    commands = [[sys.executable, STEP, prefix, '%s,%s' % (tmp_path / 'both.npy', tmp_path / 'alone.npy'),
                 '%s,%s' % (tmp_path / 'single.npz', tmp_path / 'alone.npz')]]
    commands += [[sys.executable, STEP, prefix, str(tmp_path / ('worker%d.npy' % i)),
                  str(tmp_path / ('worker%d.npz' % i)), _tf_config(ports, i)] for i in range(2)]
    _run_all(commands)
    single, w0, w1, alone = [_read_npz(tmp_path / (n + '.npz')) for n in ('single', 'worker0', 'worker1', 'alone')]
    assert set(w0) == set(w1) == set(single)
    assert all(np.array_equal(w0[k], w1[k]) for k in w0)
    errors = _slot_errors(w0, single)
    assert len(errors) > 100 and np.median(list(errors.values())) <= GRADIENT_TOLERANCE['median']
    too_far = {k: e for k, e in errors.items() if e > GRADIENT_TOLERANCE['max']}
    assert not too_far, too_far
    assert np.median(list(_slot_errors(alone, single).values())) > 100 * GRADIENT_TOLERANCE['median']
    # The weights: Adam's first step is lr * g / (|g| + eps), at most lr either way; where a
    # gradient is float32 noise around zero (the biases above) its sign may differ: <= 2 lr,
    # plus the rounding of the weights (1e-6).
    weights = [k for k in single if not k.endswith(('/Adam', '/Adam_1'))]
    assert max(np.abs(w0[k] - single[k]).max() for k in weights) <= 2 * LR + 1e-6


def test_tf_config_parsing():
    assert cluster_from_tf_config('') is None
    cluster = cluster_from_tf_config(_tf_config([1, 2], 1))
    assert (cluster.size, cluster.index, cluster.is_chief) == (2, 1, False)
    assert cluster.device == '/job:worker/replica:0/task:1/device:CPU:0'
    for bad in ('{', '{"cluster": {}}', _tf_config([1, 2], 2),
                json.dumps({'cluster': {'worker': ['a:1'], 'ps': ['b:2']}, 'task': {'type': 'worker', 'index': 0}})):
        with pytest.raises(UserError, match='TF_CONFIG'):
            cluster_from_tf_config(bad)


def test_each_optimiser_s_gradients_travel_in_one_all_reduce():
    """The tiny model's worker graph: one collective for G's gradients, one for D's, one per
    dtype for the sync (packed: fewer collectives to start in another order on each worker)."""
    config = tiny_config(phase='train')
    cluster = cluster_from_tf_config(_tf_config([1, 2], 0))
    with tf.Graph().as_default() as graph:
        ops, sync = build_worker_train_ops(UGATIT(config.model, config.train), *placeholders(config), cluster)
        reduces = [op for op in graph.get_operations() if op.type.startswith('CollectiveReduce')]
        dtypes = {v.dtype.base_dtype for v in tf1.global_variables()}
        assert len(reduces) == 2 + len(dtypes)
        assert len(sync.control_inputs) == len(tf1.global_variables())


def test_packs_keep_one_dtype_the_order_and_the_size_limit(monkeypatch):
    monkeypatch.setattr(workers, 'PACK_ELEMENTS', 6)
    with tf.Graph().as_default():
        tensors = [tf.zeros([3]), tf.zeros([1, 2]), tf.zeros([4], tf.int64), tf.zeros([2]), tf.zeros([10]), tf.zeros([1])]
        assert workers._packs(tensors) == [[0, 1], [2], [3], [4], [5]]
