"""The suite's set-up: TensorFlow in TF1 graph mode and quiet, a fresh graph fixture, and the
tests under tests/e2e/ marked slow (make test-fast runs the others). Helpers: tests/support/."""

import os

import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_eager_execution()

E2E = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'e2e')


def pytest_collection_modifyitems(config, items):
    """Whole runs (tests/e2e/) are slow: `-m "not slow"` leaves the unit and golden tests."""
    for item in items:
        if os.path.commonpath([str(item.path), E2E]) == E2E:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def graph():
    """A fresh default graph and a session on it."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        yield sess
