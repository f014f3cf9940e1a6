"""Shared test set-up: TF1 graph mode, project root on sys.path, the ../shared reference data."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_eager_execution()

SHARED = os.path.join(os.path.dirname(ROOT), 'shared')
REFERENCE = os.path.join(SHARED, 'reference')


def shared_path(*parts):
    """Path under ../shared; skips the calling test when it is absent."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip('reference data not found: %s' % path)
    return path


@pytest.fixture
def graph():
    """A fresh default graph and a session on it."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        yield sess
