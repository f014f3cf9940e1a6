"""The moving average of the generator weights (--ema_decay, ugatit/model/average.py)."""

import numpy as np
import pytest
import tensorflow as tf

from tests.support import placeholders, tiny_config
from ugatit.model.average import GeneratorAverage, average_name, averaged_names
from ugatit.model.model import UGATIT

tf1 = tf.compat.v1


def test_two_steps_by_hand():
    """decay 0.75: average <- 0.75 average + 0.25 weight after each step, from the weights."""
    graph = tf.Graph()
    with graph.as_default(), tf1.Session(graph=graph) as sess:
        w = tf1.get_variable('generator_B/w', initializer=tf.constant([1.0, 2.0]))
        new_value = tf1.placeholder(tf.float32, [2])
        average = GeneratorAverage([w], decay=0.75)
        step = average.update_after(w.assign(new_value))
        sess.run(tf1.global_variables_initializer())
        avg = average.averages[w]
        assert avg.op.name == 'generator_B/w/ExponentialMovingAverage'
        np.testing.assert_array_equal(sess.run(avg), [0.0, 0.0])  # nothing drawn before reset
        sess.run(average.reset)
        np.testing.assert_array_equal(sess.run(avg), [1.0, 2.0])
        sess.run(step, {new_value: [5.0, -2.0]})   # 0.75 * [1, 2] + 0.25 * [5, -2]
        np.testing.assert_allclose(sess.run(avg), [2.0, 1.0], rtol=1e-7)
        sess.run(step, {new_value: [10.0, 1.0]})   # 0.75 * [2, 1] + 0.25 * [10, 1]
        np.testing.assert_allclose(sess.run(avg), [4.0, 1.0], rtol=1e-7)
        # Negative control: the average of the weights before the step would be 0.75*2 + 0.25*5.
        assert not np.allclose(sess.run(avg), [0.75 * 2.0 + 0.25 * 5.0, 0.75 * 1.0 + 0.25 * -2.0])


@pytest.mark.parametrize('decay', [0.0, 1.0, -0.5])
def test_a_decay_outside_0_1_is_refused(decay):
    with tf.Graph().as_default():
        w = tf1.get_variable('w', initializer=tf.constant(1.0))
        with pytest.raises(ValueError, match='in \\(0, 1\\)'):
            GeneratorAverage([w], decay)


def _train_graph_variables(*flags):
    config = tiny_config(*flags, phase='train')
    with tf.Graph().as_default():
        ops = UGATIT(config.model, config.train).build_train_ops(*placeholders(config))
        return ops, {v.op.name: v.shape.as_list() for v in tf1.global_variables()}


def test_off_by_default_and_names_of_their_own_when_on():
    ops_off, off = _train_graph_variables()
    assert ops_off.average is None and not any('ExponentialMovingAverage' in n for n in off)
    ops_on, on = _train_graph_variables('--ema_decay', '0.999')
    assert ops_on.average.decay == 0.999
    added = {n: s for n, s in on.items() if n not in off}
    generator = {n: s for n, s in off.items() if n.startswith('generator_') and '/Adam' not in n}
    # One average per generator weight, same shape, and nothing else added or renamed.
    assert added == {average_name(n): s for n, s in generator.items()}
    assert set(off) <= set(on)


def test_averaged_names_only_when_all_are_held():
    with tf.Graph().as_default():
        a = tf1.get_variable('generator_A/a', shape=[1])
        b = tf1.get_variable('generator_A/b', shape=[1])
        held = {'generator_A/a', 'generator_A/b', average_name('generator_A/a')}
        assert averaged_names([a, b], held) is None
        held.add(average_name('generator_A/b'))
        assert averaged_names([a, b], held) == {average_name('generator_A/a'): a, average_name('generator_A/b'): b}
