"""Shared test set-up: TF1 graph mode, project root on sys.path, the ../shared reference data."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402

from ugatit.infer.translator import save_random_generators  # noqa: E402,F401 (for the tests)

tf.compat.v1.disable_eager_execution()

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


@pytest.fixture
def graph():
    """A fresh default graph and a session on it."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        yield sess


# The tiny model of the plumbing tests (random weights; seconds to build and run). Without
# Grappler: its pass over the ~29,000-op training graph before the first step costs more than
# the few steps these runs take (--grappler changes no number: test_golden checks it).
TINY_MODEL = ['--light', 'true', '--ch', '4', '--img_size', '32', '--n_dis', '3', '--grappler', 'false']


def tiny_config(*extra, phase='test'):
    """The Config of `main.py --phase <phase> <TINY_MODEL> <extra>`."""
    from ugatit import cli
    return cli.parse_config(['--phase', phase] + TINY_MODEL + list(extra))


def placeholders(config, batch=1):
    """Two float32 placeholders [batch, S, S, 3] standing for the training inputs."""
    size = config.model.img_size
    return [tf.compat.v1.placeholder(tf.float32, [batch, size, size, 3], name=n) for n in ('domain_A', 'domain_B')]
