"""The suite's set-up: TensorFlow in TF1 graph mode and quiet, a fresh graph fixture, and the
tests under tests/e2e/ marked slow (make test-fast runs the others). Helpers: tests/support/."""

import os

import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_eager_execution()

E2E = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'e2e')
# The files of a minute or more of test time, longest first (measured with --durations=0):
# `make test` hands whole files to its 2 workers in collection order (--dist loadfile), and a
# long file handed out last would leave one worker idle while the other finishes it.
LONG_FILES = ('test_robustness.py', 'test_docs_commands.py', 'test_end_to_end.py', 'test_train_eval.py',
              'test_golden.py', 'test_towers.py', 'test_diffaugment_training.py', 'test_workers.py',
              'test_train_graph.py', 'test_average_training.py', 'test_slim_export.py')


def pytest_collection_modifyitems(config, items):
    """Whole runs (tests/e2e/) are slow: `-m "not slow"` leaves the unit and golden tests.
    The LONG_FILES run first, in that order; the others keep theirs."""
    for item in items:
        if os.path.commonpath([str(item.path), E2E]) == E2E:
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))  # stable: the rest in order


@pytest.fixture
def graph():
    """A fresh default graph and a session on it."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        yield sess
