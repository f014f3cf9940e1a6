"""The training-step profiler (ugatit/benchmarks/profile_step.py): its figures add up, and it
leaves nothing behind. No timing is asserted."""

import json
import os
import tempfile

import pytest

from ugatit import cli
from tests.support import TINY_MODEL
from tests.support.runs import make_dataset
from ugatit.benchmarks import profile_step
from ugatit.train.train import TrainingLoop


def test_train_flags_come_after_the_tools_defaults_and_the_step_count_last():
    argv = profile_step.train_argv(['--print_freq', '5', '--epoch', '9'], 'tmp', 7)
    config = cli.parse_config(argv)
    assert config.phase == 'train'
    assert config.train.print_freq == 5                   # the user's flag wins
    assert config.train.save_freq == 10 ** 9               # the tool's default: no checkpoint on the way
    assert (config.train.epoch, config.train.iteration) == (1, 7)
    assert config.paths.checkpoint_dir == os.path.join('tmp', 'checkpoint')


def test_op_groups():
    assert profile_step.group_of('_MklNativeConv2DBackpropInput', 'gradients/generator_B/conv/x') == 'convolution'
    assert profile_step.group_of('Mul', 'generator_B/resblock_0/res1/instance_norm/mul').startswith('normalisations')
    assert profile_step.group_of('MirrorPadGrad', 'gradients/x').startswith('padding')
    assert profile_step.group_of('Mul', 'generator_B/MLP/mul').startswith('other ops')


def test_convolution_flops_of_the_forward_and_both_gradients(graph):
    """2 * (forward outputs) * kh * kw * C_in for each of the three ops of one convolution."""
    tf = profile_step.tf
    x = profile_step.tf1.placeholder(tf.float32, [1, 8, 8, 3])
    w = profile_step.tf1.placeholder(tf.float32, [3, 3, 3, 4])
    y = tf.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding='VALID')   # [1, 6, 6, 4]
    tf.gradients(tf.reduce_sum(y * y), [x, w])
    ops = {op.type: op for op in graph.graph.get_operations() if op.type in profile_step.CONV_TYPES}
    assert sorted(ops) == sorted(profile_step.CONV_TYPES)
    assert {t: profile_step.conv_flops(op) for t, op in ops.items()} == {t: 2 * 144 * 27 for t in ops}


@pytest.mark.slow
def test_profile_of_a_tiny_model_adds_up_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_dataset('dataset')
    os.mkdir('tmp')
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path / 'tmp'))
    original_run = profile_step.tf1.Session.run
    profile_step.main_cli(['--warmup', '1', '--steps', '4', '--trace_every', '2', '--repeats', '2',
                           '--json', 'profile.json', '--', '--dataset', 'tiny'] + TINY_MODEL)
    figures = json.load(open('profile.json'))
    assert (figures['steps'], figures['traced_steps']) == (2, 2)
    assert figures['afterwards']['conv_ops'] > 0
    assert figures['kernel_groups']['convolution'] > 0
    assert figures['afterwards']['conv_flops'] > 0 and figures['afterwards']['conv_dtypes'] == ['float32']
    assert figures['afterwards']['matmul_gflops']['float32'] > 0
    assert sum(figures['cpu_breakdown'].values()) == pytest.approx(figures['per_step']['cpu'])
    out = capsys.readouterr().out
    assert 'CPU time of a step' in out and 'matrix-product peak' in out
    assert sorted(os.listdir('.')) == ['dataset', 'profile.json', 'tmp']   # no checkpoint, log or sample folder
    assert not [f for f in os.listdir('tmp') if f.startswith('profile_step_')]  # the run's folder is removed
    assert profile_step.tf1.Session.run is original_run and TrainingLoop._iteration.__module__ == 'ugatit.train.train'
