"""Averaged generator weights (--ema_decay): an exponential moving average of every generator
variable, kept during training beside the raw weights and used to translate when present.

After each generator step, every averaged copy moves towards its variable:

    average <- decay * average + (1 - decay) * variable

The averages are variables of their own, saved in the training checkpoint as
`<variable name>/ExponentialMovingAverage` (TensorFlow's usual name for a moving average), so a
checkpoint without them, the official ones included, is unchanged, and a run given --ema_decay
0 (the default) builds not one op more. They start equal to the weights: at the first step of
a run, or at the step a run resumed from a checkpoint that had none.
"""

import tensorflow as tf

tf1 = tf.compat.v1

AVERAGE_SUFFIX = '/ExponentialMovingAverage'


def average_name(name):
    """The checkpoint name of the average of variable `name`."""
    return name + AVERAGE_SUFFIX


class GeneratorAverage(object):
    """The averaged copies of `variables` (the generators' trainable variables) and their ops.

    update: one op moving every average towards its variable (run it after the generator step);
    reset: one op setting every average to its variable (a fresh start);
    averages: {variable: its average variable}.
    """

    def __init__(self, variables, decay):
        if not 0.0 < decay < 1.0:
            raise ValueError('the decay of a moving average must be in (0, 1), got %r' % (decay,))
        self.decay = decay
        self.averages = {}
        for var in variables:
            # Zeros until `reset` or a restore sets them: never a second random draw.
            self.averages[var] = tf1.get_variable(average_name(var.op.name), shape=var.shape,
                                                  dtype=var.dtype.base_dtype, trainable=False,
                                                  initializer=tf1.zeros_initializer())
        self.reset = tf.group(*[avg.assign(var) for var, avg in self.averages.items()], name='average_reset')

    def update_after(self, step_op):
        """The op that runs step_op, then moves every average towards its (updated) variable."""
        with tf.control_dependencies([step_op]):
            moves = [avg.assign_sub((1.0 - self.decay) * (avg - var.read_value()))
                     for var, avg in self.averages.items()]
        return tf.group(*moves, name='average_update')

    def names_missing_from(self, checkpoint_names):
        """The average variables whose names a checkpoint (a set of names) does not hold."""
        return [avg for avg in self.averages.values() if avg.op.name not in checkpoint_names]


def averaged_names(variables, checkpoint_names):
    """{checkpoint name: variable} restoring each of `variables` from its average when the
    checkpoint (a set of names) holds an average of every one of them; None otherwise."""
    names = {average_name(var.op.name): var for var in variables}
    return names if all(name in checkpoint_names for name in names) else None
