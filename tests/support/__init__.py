"""What the tests share: the project root, the reference data of ../shared, the tiny model.

The other modules of this package: runs (tiny training runs and their dataset), compare
(per-tensor comparison against a reference), checkpoints (checkpoints built from the reference ones),
inception (a small stand-in Inception graph), net (local HTTP stand-ins for the downloads),
serve (the tiny model behind the web app), zips (archives written byte by byte), winograd (a wrong
Winograd library for negative controls),
worker_step (one training step as its own process, for the multi-worker tests).
"""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), 'shared')
REFERENCE = os.path.join(SHARED, 'reference')


def shared_path(*parts):
    """Path under ../shared; skips the calling test when it is absent, and fails it under CI
    (CI=true), where ../shared is always laid beside the clone."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        message = 'reference data not found: %s' % path
        if os.environ.get('CI') == 'true':
            pytest.fail(message + ' (CI=true: the reference data must be there)')
        pytest.skip(message)
    return path


# The tiny model of the plumbing tests (random weights; seconds to build and run). Without
# Grappler: its pass over the ~29,000-op training graph before the first step costs more than
# the few steps these runs take (--grappler changes no number: test_golden checks it). With
# --upscale 1: its translations stay at the model's size instead of the default enlargement to
# 256 px (tests/e2e/test_default_enlargement.py tests that); a later --upscale wins.
TINY_MODEL = ['--light', 'true', '--ch', '4', '--img_size', '32', '--n_dis', '3', '--grappler', 'false',
              '--upscale', '1']


def tiny_config(*extra, phase='test'):
    """The Config of `main.py --phase <phase> <TINY_MODEL> <extra>`."""
    from ugatit import cli
    return cli.parse_config(['--phase', phase] + TINY_MODEL + list(extra))


def placeholders(config, batch=1):
    """Two float32 placeholders [batch, S, S, 3] standing for the training inputs."""
    import tensorflow as tf
    size = config.model.img_size
    return [tf.compat.v1.placeholder(tf.float32, [batch, size, size, 3], name=n) for n in ('domain_A', 'domain_B')]


def child_environment(env=None):
    """os.environ (or env) with the project root first on PYTHONPATH, for the tests' child
    Python processes: they import the project wherever they run."""
    env = dict(os.environ if env is None else env)
    env['PYTHONPATH'] = os.pathsep.join([ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
    return env
