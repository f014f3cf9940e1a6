"""The one-line messages of ugatit/errors.py: TensorFlow's session errors say what went wrong."""

import errno

import numpy as np
import pytest
import tensorflow as tf

from ugatit.errors import first_line, is_write_error


def test_first_line_of_a_session_error_is_its_own_message_not_the_graph_execution_header(graph):
    x = tf.compat.v1.placeholder(tf.float32, [None])
    checked = tf.debugging.check_numerics(x, 'the input')
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        graph.run(checked, {x: np.array([np.nan], np.float32)})
    assert str(caught.value).startswith('Graph execution error:')
    assert first_line(caught.value) == 'the input : Tensor had NaN values'


def test_first_line_of_other_errors():
    assert first_line(ValueError('one\ntwo')) == 'one'
    assert first_line(ValueError('')) == 'ValueError'
    assert first_line(ValueError('x' * 300)) == 'x' * 200


def test_write_errors_are_those_the_user_can_fix():
    assert is_write_error(PermissionError(errno.EPERM, 'Operation not permitted'))
    assert is_write_error(OSError(errno.ENOSPC, 'No space left on device'))
    assert not is_write_error(OSError(errno.EIO, 'Input/output error'))
    assert not is_write_error(ValueError('no'))
