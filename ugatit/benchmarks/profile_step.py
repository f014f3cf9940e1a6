"""Where a training step's time goes: `python -m ugatit.benchmarks.profile_step [options] -- <train flags>`.

Runs the training phase (main.main, so exactly `python main.py --phase train <train flags>`, on
one device) for one epoch of --warmup + --steps steps (the tool sets --epoch and --iteration),
in a temporary folder removed at the end unless the flags name --checkpoint_dir, --log_dir and
--sample_dir, with samples and checkpoints off unless --print_freq and --save_freq are given,
and measures:

  per step     the wall time of the iteration (TrainingLoop._iteration) and of its Session.run
               calls and FileWriter.add_summary calls; the CPU time of the process, of its main
               (Python) thread and of that thread inside Session.run. Medians over the untraced steps.
  kernels      every --trace_every-th step after the warm-up runs with FULL_TRACE; each op's kernel
               time (its start to its end, without the executor's bookkeeping around it) is summed
               by op type and by group. Traced steps are left out of the per-step figures.
  afterwards, in the same process, with the same session configuration:
    convolutions   the Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter ops that one D step
                   and one G step run (found in the graph from their fetches), replayed alone on
                   random tensors of the same shapes: the step's convolution arithmetic;
    input          pulling one batch of each domain (the tf.data pipeline alone), twice per step
                   (the D and the G step each take a batch);
    per-node cost  a chain of trivial ops: the executor's own cost per op, times the number of ops
                   one step runs (counted in the traces).

CPU times are what to compare on a busy machine: another process stretches the wall time but
barely the CPU time. With --intra_op_threads 1 --inter_op_threads 1 every op runs on one thread,
and the step's CPU time is its wall time on an idle core. The breakdown at the end splits the
CPU time of a step into convolution arithmetic, input pipeline, executor cost, main thread
(Python, feeds and fetches, summaries) and the rest: the other ops (padding, normalisations,
element-wise ops, Adam). docs/cpu_model.md "Profile of the training step" has the figures.

Example (the --preset cpu recipe on one thread):
  python -m ugatit.benchmarks.profile_step --steps 60 -- --dataset selfie2anime --dataset_dir /data \\
      --preset cpu --intra_op_threads 1 --inter_op_threads 1 --seed 1
"""

import argparse
import collections
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from ugatit import cli
from ugatit.train import train as train_module
from ugatit.config import cpu_has_native_bfloat16, session_config

tf1 = tf.compat.v1

CONV_TYPES = ('Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter')
# Groups of the kernel table, first match wins, on (op type, op name); oneDNN names the
# convolutions _MklNativeFusedConv2D, _MklNativeConv2DBackpropInput, ...
GROUPS = (('convolution', lambda t, n: 'Conv2D' in t),
          ('padding (MirrorPad, MirrorPadGrad)', lambda t, n: 'MirrorPad' in t),
          ('Adam', lambda t, n: 'ApplyAdam' in t),
          ('input (IteratorGetNext)', lambda t, n: t == 'IteratorGetNext'),
          ('summaries', lambda t, n: 'Summary' in t),
          ('normalisations (IN, LIN, AdaLIN; forward, gradient)', lambda t, n: any('norm' in p for p in n.split('/'))),
          ('weight decay (L2 terms, gradient)', lambda t, n: 'Regularizer' in n or 'l2_regularizer' in n),
          ('other ops (element-wise, reductions, matmul, resize, ...)', lambda t, n: True))


def group_of(op_type, op_name):
    """The GROUPS name of an op."""
    return next(name for name, match in GROUPS if match(op_type, op_name))


class StepProfiler(object):
    """Wraps TrainingLoop._iteration, Session.run and FileWriter.add_summary to time each step."""

    def __init__(self, warmup, steps, trace_every, repeats):
        self.warmup, self.total, self.trace_every, self.repeats = warmup, warmup + steps, trace_every, repeats
        self.steps = []                              # one dict per untraced measured step
        self.kernels = collections.Counter()         # op type -> kernel seconds over the traced steps
        self.groups = collections.Counter()          # GROUPS name -> kernel seconds over the traced steps
        self.traced_steps, self.traced_nodes = 0, 0
        self.extra = {}                              # the measurements after the steps
        self.current = None                          # the step being measured
        self.tracing = False
        self.started = None                          # clocks at the start of the current step
        self.originals = None                        # the patched methods, while installed

    def install(self):
        """Patch TrainingLoop._iteration, tf1.Session.run and FileWriter.add_summary (uninstall undoes it)."""
        profiler = self
        original_iteration = train_module.TrainingLoop._iteration
        original_run, original_add = tf1.Session.run, tf1.summary.FileWriter.add_summary
        self.originals = (original_iteration, original_run, original_add)

        def iteration(loop, epoch, idx, lr):
            profiler.begin(loop.done)
            original_iteration(loop, epoch, idx, lr)
            profiler.end()
            if loop.done == profiler.total:
                profiler.extra = measure_afterwards(loop, profiler.repeats, profiler.traced_nodes
                                                    / max(profiler.traced_steps, 1))

        def run(sess, fetches, feed_dict=None, options=None, run_metadata=None):
            if profiler.current is None:  # warm-up steps, and the measurements afterwards
                return original_run(sess, fetches, feed_dict, options, run_metadata)
            if profiler.tracing:
                options, run_metadata = tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE), tf1.RunMetadata()
            with profiler.timed('run'):
                out = original_run(sess, fetches, feed_dict, options, run_metadata)
            if profiler.tracing:
                profiler.add_trace(run_metadata)
            return out

        def add_summary(writer, *args, **kwargs):
            with profiler.timed('add_summary'):
                return original_add(writer, *args, **kwargs)

        train_module.TrainingLoop._iteration = iteration
        tf1.Session.run = run
        tf1.summary.FileWriter.add_summary = add_summary

    def uninstall(self):
        (train_module.TrainingLoop._iteration, tf1.Session.run,
         tf1.summary.FileWriter.add_summary) = self.originals

    def begin(self, done):
        measured = done >= self.warmup
        self.tracing = measured and (done - self.warmup) % self.trace_every == self.trace_every - 1
        self.current = collections.Counter() if measured else None
        self.started = (time.perf_counter(), time.process_time(), time.thread_time())

    def end(self):
        if self.current is None:
            return
        wall, cpu, main_cpu = (now - then for now, then in zip(
            (time.perf_counter(), time.process_time(), time.thread_time()), self.started))
        self.current.update(wall=wall, cpu=cpu, main_cpu=main_cpu)
        if self.tracing:
            self.traced_steps += 1
        else:
            self.steps.append(dict(self.current))
        self.current, self.tracing = None, False

    @contextlib.contextmanager
    def timed(self, name):
        """Adds the wall and main-thread CPU time of the `with` body to the step being measured."""
        start = (time.perf_counter(), time.thread_time())
        yield
        if self.current is not None:
            self.current[name + '_wall'] += time.perf_counter() - start[0]
            self.current[name + '_main_cpu'] += time.thread_time() - start[1]

    def add_trace(self, run_metadata):
        for device in run_metadata.step_stats.dev_stats:
            for node in device.node_stats:
                label = node.timeline_label
                op_type = label.split(' = ', 1)[1].split('(', 1)[0] if ' = ' in label else node.node_name
                seconds = (node.op_end_rel_nanos - node.op_start_rel_nanos) / 1e9
                self.kernels[op_type] += seconds
                self.groups[group_of(op_type, node.node_name)] += seconds
                self.traced_nodes += 1


##################################################################################
# The measurements after the steps
##################################################################################

def measure_afterwards(loop, repeats, nodes_per_step):
    """The step's convolutions replayed alone, the input pipeline alone and the per-node cost."""
    runtime = loop.config.runtime
    ops = loop.ops
    d_fetches = [ops.D_optim, ops.Discriminator_loss, ops.d_summary]
    g_fetches = [ops.images, ops.G_optim, ops.Generator_loss, ops.g_summary]
    convs = [op for fetches in (d_fetches, g_fetches) for op in ops_run_by(fetches) if op.type in CONV_TYPES]
    inputs = [ops.images['real_A'], ops.images['real_B']]
    input_cpu = 2 * median_cpu(lambda: loop.sess.run(inputs), repeats)
    conv_wall, conv_cpu = replay(convs, runtime, repeats)
    per_node = per_node_cpu(runtime, repeats)
    dtypes = ['float32'] + (['bfloat16'] if cpu_has_native_bfloat16() else [])
    return dict(conv_ops=len(convs), conv_wall=conv_wall, conv_cpu=conv_cpu, input_cpu=input_cpu,
                per_node_cpu=per_node, nodes_per_step=nodes_per_step, executor_cpu=per_node * nodes_per_step,
                conv_flops=sum(conv_flops(op) for op in convs),
                conv_dtypes=sorted({op.get_attr('T').name for op in convs}),
                matmul_gflops={d: matmul_gflops(runtime, d, repeats) for d in dtypes})


def conv_flops(op):
    """Multiply-adds x 2 of a Conv2D, Conv2DBackpropInput or Conv2DBackpropFilter op: each is
    2 * (outputs of the forward convolution) * kh * kw * C_in."""
    forward_output = op.outputs[0] if op.type == 'Conv2D' else op.inputs[2]
    kernel = op.outputs[0] if op.type == 'Conv2DBackpropFilter' else op.inputs[1]
    kh, kw, c_in, _ = kernel.shape.as_list()
    return 2 * int(np.prod(forward_output.shape.as_list())) * kh * kw * c_in


def matmul_gflops(runtime, dtype, repeats, n=2048):
    """GFLOP/s of an n x n matrix product in `dtype` ('float32' or 'bfloat16'): the CPU's peak."""
    with tf.Graph().as_default(), measuring_session(runtime) as sess:
        a, b = [tf1.Variable(tf.cast(tf1.random_normal([n, n]), dtype), trainable=False) for _ in range(2)]
        product = tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], tf.float32))
        sess.run(tf1.global_variables_initializer())
        return 2.0 * n ** 3 / median_wall(lambda: sess.run(product), repeats) / 1e9


def ops_run_by(fetches):
    """Every op a Session.run of `fetches` executes: the fetches' inputs and control inputs, transitively."""
    todo = [t.op if isinstance(t, tf.Tensor) else t for t in tf.nest.flatten(fetches)]
    seen = set()
    while todo:
        op = todo.pop()
        if op in seen:
            continue
        seen.add(op)
        todo.extend(t.op for t in op.inputs)
        todo.extend(op.control_inputs)
    return seen


def measuring_session(runtime):
    """A session configured as training's, except that Grappler removes no op: its dependency
    optimiser would drop the replayed convolutions (nothing reads their outputs), its arithmetic
    optimiser would collapse the chain of per_node_cpu."""
    config = session_config(runtime)
    rewrite = config.graph_options.rewrite_options
    rewrite.dependency_optimization = rewrite.arithmetic_optimization = rewrite.OFF
    return tf1.Session(config=config)


def replay(conv_ops, runtime, repeats):
    """(median wall, median CPU) seconds of running ops of conv_ops' types, shapes and attributes
    on random tensors, all in one Session.run, in a fresh graph and session."""
    with tf.Graph().as_default(), measuring_session(runtime) as sess:
        outputs = [replay_op(op) for op in conv_ops]
        sess.run(tf1.global_variables_initializer())
        run = tf.group(outputs)
        return median_wall(lambda: sess.run(run), repeats), median_cpu(lambda: sess.run(run), repeats)


def replay_op(op):
    """A copy of the convolution `op` (of another graph) on random variables of its input shapes."""
    attrs = {name: op.get_attr(name) for name in ('strides', 'padding', 'explicit_paddings', 'data_format',
                                                    'dilations')}

    def random(tensor):  # in the op's dtype: bfloat16 convolutions replay in bfloat16
        return tf1.Variable(tf.cast(tf1.random_normal(tensor.shape), tensor.dtype), trainable=False).read_value()
    if op.type == 'Conv2D':
        return tf.raw_ops.Conv2D(input=random(op.inputs[0]), filter=random(op.inputs[1]), **attrs)
    sizes = tf.constant(op.outputs[0].shape.as_list(), tf.int32)
    if op.type == 'Conv2DBackpropInput':
        return tf.raw_ops.Conv2DBackpropInput(input_sizes=sizes, filter=random(op.inputs[1]),
                                              out_backprop=random(op.inputs[2]), **attrs)
    return tf.raw_ops.Conv2DBackpropFilter(input=random(op.inputs[0]), filter_sizes=sizes,
                                           out_backprop=random(op.inputs[2]), **attrs)


def per_node_cpu(runtime, repeats, length=4000):
    """CPU seconds per op of a chain of `length` scalar sin ops: the executor's cost of an op."""
    with tf.Graph().as_default(), measuring_session(runtime) as sess:
        x = start = tf1.Variable(0.5)
        for _ in range(length):
            x = tf.sin(x)
        sess.run(start.initializer)
        return median_cpu(lambda: sess.run(x), repeats) / length


def median_wall(fn, repeats):
    fn()
    return float(np.median([_timed(fn, time.perf_counter) for _ in range(repeats)]))


def median_cpu(fn, repeats):
    fn()
    return float(np.median([_timed(fn, time.process_time) for _ in range(repeats)]))


def _timed(fn, clock):
    start = clock()
    fn()
    return clock() - start


##################################################################################
# The report
##################################################################################

def summarise(profiler):
    """The figures as a dict: per-step medians, kernel groups and types, the CPU breakdown."""
    per_step = {key: float(np.median([s.get(key, 0.0) for s in profiler.steps]))
                for key in ('wall', 'run_wall', 'add_summary_wall', 'cpu', 'main_cpu', 'run_main_cpu')}
    traced = max(profiler.traced_steps, 1)
    kernels = {t: s / traced for t, s in profiler.kernels.most_common()}
    groups = {g: s / traced for g, s in profiler.groups.most_common()}
    extra = profiler.extra
    parts = collections.OrderedDict([
        ('convolution arithmetic (replayed alone)', extra['conv_cpu']),
        ('input pipeline (tf.data alone)', extra['input_cpu']),
        ('executor cost per op x ops per step', extra['executor_cpu']),
        ('main thread: Python, feeds, fetches, summaries', per_step['main_cpu'])])
    parts['other ops (the rest)'] = per_step['cpu'] - sum(parts.values())
    return dict(steps=len(profiler.steps), traced_steps=profiler.traced_steps, per_step=per_step,
                kernel_groups=groups, kernel_types=kernels, afterwards=extra,
                cpu_breakdown=parts)


def print_report(summary, top):
    s, x = summary['per_step'], summary['afterwards']
    print('\nper step, median of %d untraced steps:' % summary['steps'])
    print('  wall %.4f s: Session.run %.4f s, add_summary %.4f s, rest of the loop %.4f s'
          % (s['wall'], s['run_wall'], s['add_summary_wall'], s['wall'] - s['run_wall'] - s['add_summary_wall']))
    print('  CPU  %.4f s: main thread %.4f s (%.4f s of it inside Session.run), other threads %.4f s'
          % (s['cpu'], s['main_cpu'], s['run_main_cpu'], s['cpu'] - s['main_cpu']))
    total = sum(summary['kernel_groups'].values())
    print('\nkernel time per step by group (%d traced steps): %.4f s' % (summary['traced_steps'], total))
    for name, seconds in summary['kernel_groups'].items():
        print('  %-58s %.4f s %5.1f %%' % (name, seconds, 100 * seconds / total))
    print('\ntop op types:')
    for op_type, seconds in list(summary['kernel_types'].items())[:top]:
        print('  %-58s %.4f s %5.1f %%' % (op_type, seconds, 100 * seconds / total))
    print('\nafterwards: %d convolutions per step replayed alone: %.4f s wall, %.4f s CPU; input pipeline '
          '%.4f s CPU per step; %.0f ops per step x %.2f us = %.4f s'
          % (x['conv_ops'], x['conv_wall'], x['conv_cpu'], x['input_cpu'], x['nodes_per_step'],
             x['per_node_cpu'] * 1e6, x['executor_cpu']))
    print_arithmetic(summary)
    print('\nCPU time of a step (%.4f s):' % s['cpu'])
    for name, seconds in summary['cpu_breakdown'].items():
        print('  %-58s %.4f s %5.1f %%' % (name, seconds, 100 * seconds / s['cpu']))


def print_arithmetic(summary):
    """The convolutions' GFLOP/s, in the step and replayed alone, against the matrix-product peak."""
    x = summary['afterwards']
    in_step = x['conv_flops'] / max(summary['kernel_groups'].get('convolution', 0.0), 1e-12) / 1e9
    peaks = x['matmul_gflops']
    dtype = 'bfloat16' if 'bfloat16' in x['conv_dtypes'] and 'bfloat16' in peaks else 'float32'
    print('\nconvolutions (%s): %.2f GFLOP per step; %.0f GFLOP/s in the step (%.0f %% of the %s matrix-product '
          'peak), %.0f GFLOP/s replayed alone; peaks (2048 x 2048 product): %s'
          % ('/'.join(x['conv_dtypes']), x['conv_flops'] / 1e9, in_step, 100 * in_step / peaks[dtype], dtype,
             x['conv_flops'] / x['conv_wall'] / 1e9, ', '.join('%s %.0f GFLOP/s' % item for item in peaks.items())))


def train_argv(train_flags, folder, steps):
    """main.py arguments: the user's train flags after this tool's defaults (folders under `folder`,
    no samples, no checkpoints but the last), so that theirs win, and one epoch of `steps` steps last."""
    defaults = ['--phase', 'train', '--print_freq', str(10 ** 9), '--save_freq', str(10 ** 9),
                '--checkpoint_dir', os.path.join(folder, 'checkpoint'), '--log_dir', os.path.join(folder, 'logs'),
                '--sample_dir', os.path.join(folder, 'samples')]
    return defaults + list(train_flags) + ['--epoch', '1', '--iteration', str(steps)]


def main_cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--warmup', type=int, default=20, help='steps before the measured ones (default: %(default)s)')
    parser.add_argument('--steps', type=int, default=60, help='measured steps (default: %(default)s)')
    parser.add_argument('--trace_every', type=int, default=5, help='trace every N-th measured step (default: %(default)s)')
    parser.add_argument('--repeats', type=int, default=20, help='runs of each measurement afterwards (default: %(default)s)')
    parser.add_argument('--top', type=int, default=25, help='op types listed (default: %(default)s)')
    parser.add_argument('--json', default=None, help='also write the figures to this JSON file')
    parser.add_argument('train_flags', nargs=argparse.REMAINDER, help='-- then the flags of main.py --phase train')
    args = parser.parse_args(argv)
    if args.trace_every < 2 or args.steps < args.trace_every:
        parser.error('--trace_every must be at least 2 and at most --steps: some steps are traced, some not')
    flags = args.train_flags[1:] if args.train_flags[:1] == ['--'] else args.train_flags
    profiler = StepProfiler(args.warmup, args.steps, args.trace_every, args.repeats)
    profiler.install()
    folder = tempfile.mkdtemp(prefix='profile_step_')
    try:
        status = cli.main(train_argv(flags, folder, args.warmup + args.steps))
    finally:
        profiler.uninstall()
        shutil.rmtree(folder, ignore_errors=True)
    if status or not profiler.extra:
        sys.exit(status or 'the training ended before step %d (did it resume a checkpoint of --checkpoint_dir '
                           'or --checkpoint?): nothing to report' % profiler.total)
    summary = summarise(profiler)
    print_report(summary, args.top)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(summary, f, indent=1)


if __name__ == '__main__':
    main_cli()
