"""Speed and memory benchmark: `python -m ugatit.benchmarks.bench` prints a table and writes JSON.

Measures, each in a fresh child process (so that its peak resident memory is its own):
  forward   generator forward latency at batch 1 and throughput at batch N (light and full)
  train     one training iteration (D step + G step) at the default light config and a small one,
            or at the flag sets given with --train_flags (e.g. the --preset cpu recipe study)
  startup   wall time and peak memory of `python main.py --phase test --input <one image>` from
            process start to exit, with light and full 256 px checkpoints (random weights; the
            full one as large as the released selfie2anime checkpoint) on a warm disk
  tflite    the float32 TFLite light generator, batch 1
  slim      (only when named) the full 256 px model's released-size training checkpoint (8 GB:
            discriminators and Adam slots included) against its generators-only exports in
            float32 and float16: size on disk, export time, startup as above (ugatit/infer/slim.py)
  upscale   (only when named) PSNR, SSIM and time of the upscalers on the shared selfie2anime
            sample, shrunk by 2 and 4 and enlarged back (ugatit/benchmarks/upscale_bench.py, docs/upscale.md)
Times are medians over --repeats runs after --warmup runs. Weights are random (speed does not
depend on their values). Never used by the tests: timings are not asserted anywhere.

Examples:
  python -m ugatit.benchmarks.bench                                  # everything, 256 px
  python -m ugatit.benchmarks.bench --what forward --sizes 256 512 --repeats 10
  python -m ugatit.benchmarks.bench --what forward --intra 2 --inter 1 --xla true
  python -m ugatit.benchmarks.bench --what forward train --bfloat16 true   # on a CPU with native bfloat16
  python -m ugatit.benchmarks.bench --what forward --winograd true         # the compiled Winograd convolutions
  python -m ugatit.benchmarks.bench --what train --train_flags "--preset cpu" "--preset cpu --img_size 128 --ch 16 --n_dis 5"
  python -m ugatit.benchmarks.bench --what upscale --json bench_results/upscale.json
  python -m ugatit.benchmarks.bench --what slim --repeats 3 --warmup 1 --json bench_results/slim.json
"""

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils import str2bool

SMALL_TRAIN = ['--light', 'true', '--ch', '16', '--img_size', '64', '--n_dis', '4']


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _session(opts, intra=0, inter=0):
    """A session on the bench's thread flags; intra/inter (e.g. from --train_flags) win when set."""
    import tensorflow as tf
    from ugatit.config import RuntimeConfig, session_config
    runtime = RuntimeConfig(intra_op_threads=intra or opts.intra, inter_op_threads=inter or opts.inter, xla=opts.xla,
                            grappler=opts.grappler, bfloat16=opts.bfloat16)
    return tf.compat.v1.Session(config=session_config(runtime))


def _time(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def child_forward(opts):
    """Generator forward (a2b only): latency at batch 1, throughput at batch opts.batch."""
    import tensorflow as tf
    from ops import bfloat16_convolutions, winograd_convolutions
    from ugatit.config import ModelConfig
    from ugatit.infer.translator import build_generators
    from ugatit.native import load_winograd
    tf.compat.v1.disable_eager_execution()
    library = load_winograd(verbose=False)[0] if opts.winograd else None
    with _session(opts) as sess, bfloat16_convolutions(opts.bfloat16), winograd_convolutions(library):
        placeholder, output, heatmap = build_generators(ModelConfig(light=opts.light, img_size=opts.size), ('a2b',))['a2b']
        sess.run(tf.compat.v1.global_variables_initializer())
        result = {}
        for batch in sorted({1, opts.batch}):
            x = np.random.default_rng(0).uniform(-1, 1, (batch, opts.size, opts.size, 3)).astype(np.float32)
            times = _time(lambda: sess.run([output, heatmap], {placeholder: x}), opts.warmup, opts.repeats)
            result['batch%d' % batch] = {'median_s': float(np.median(times)), 'times_s': times,
                                         'images_per_s': batch / float(np.median(times))}
    return result


TRAIN_CONFIGS = {'default': ['--light', 'true'], 'small': SMALL_TRAIN}


def child_train(opts):
    """One D step + one G step at the flags' batch size, fed from arrays (the input pipeline is
    not timed). opts.config: 'default', 'small' or a string of main.py training flags."""
    import tensorflow as tf
    from ops import bfloat16_convolutions
    from ugatit import cli
    from ugatit.cli.phases import check_bfloat16, log_device
    from ugatit.model.model import UGATIT
    tf.compat.v1.disable_eager_execution()
    argv = ['--phase', 'train', '--dataset', 'bench'] + TRAIN_CONFIGS.get(opts.config, shlex.split(opts.config))
    # As main.py does: the bfloat16 of --preset cpu only where this CPU computes it and passes the self-check.
    config = check_bfloat16(cli.parse_config(argv), log_device())
    size, batch = config.model.img_size, config.runtime.batch_size
    bfloat16 = opts.bfloat16 or config.runtime.bfloat16   # --bfloat16 of the bench or of the train flags
    threads = dict(intra=config.runtime.intra_op_threads, inter=config.runtime.inter_op_threads)
    with _session(opts, **threads) as sess, bfloat16_convolutions(bfloat16):
        domain_A, domain_B = (tf.compat.v1.placeholder(tf.float32, [batch, size, size, 3]) for _ in range(2))
        start = time.perf_counter()
        gan = UGATIT(config.model, config.train).build_train_ops(domain_A, domain_B)
        build_s = time.perf_counter() - start
        sess.run(tf.compat.v1.global_variables_initializer())
        x = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
        feed = {domain_A: x, domain_B: x[:, ::-1], gan.lr: 1e-4}

        d_times, g_times = [], []

        def step():
            start = time.perf_counter()
            sess.run(gan.D_optim, feed)
            middle = time.perf_counter()
            sess.run(gan.G_optim, feed)
            d_times.append(middle - start)
            g_times.append(time.perf_counter() - middle)
        times = _time(step, opts.warmup, opts.repeats)
    return {'config': ' '.join(argv[2:]), 'graph_build_s': build_s, 'median_s': float(np.median(times)), 'times_s': times,
            'd_step_median_s': float(np.median(d_times[opts.warmup:])),
            'g_step_median_s': float(np.median(g_times[opts.warmup:]))}


def child_tflite(opts):
    """float32 TFLite light generator at batch 1, on --intra threads (0: all cores)."""
    import tensorflow as tf
    from ugatit.config import ModelConfig
    from ugatit.infer.translator import build_generators
    tf.compat.v1.disable_eager_execution()
    with tf.compat.v1.Session() as sess:
        image_in, image_out, attention = build_generators(ModelConfig(light=True, img_size=opts.size), ('a2b',),
                                                          batch=1, io='uint8')['a2b']
        sess.run(tf.compat.v1.global_variables_initializer())
        model = tf.compat.v1.lite.TFLiteConverter.from_session(sess, [image_in], [image_out, attention]).convert()
    # TFLite runs one thread unless told otherwise; use the cores TensorFlow would (--intra 0).
    interpreter = tf.lite.Interpreter(model_content=model, num_threads=opts.intra or os.cpu_count())
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    x = np.random.default_rng(0).integers(0, 256, (1, opts.size, opts.size, 3), dtype=np.uint8)

    def run():
        interpreter.set_tensor(inp['index'], x)
        interpreter.invoke()
    times = _time(run, opts.warmup, opts.repeats)
    return {'median_s': float(np.median(times)), 'times_s': times, 'model_mb': len(model) / 1e6}


def measure_startup(opts, python, light):
    """Wall time and peak resident memory of whole `main.py --phase test --input <one image>`
    processes (256 px, direction a2b, so only generator_B is built and restored) with a saved
    checkpoint of random weights: the full model's is the size of the released one (1.1 GB per
    generator)."""
    tmp = tempfile.mkdtemp(prefix='ugatit_bench_')
    try:
        subprocess.run([python, '-m', 'ugatit.benchmarks.bench', '--child', 'save_checkpoint', '--light', str(light),
                        '--out', tmp], check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time_startup(opts, python, light, os.path.join(tmp, 'ckpt'), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def time_startup(opts, python, light, checkpoint, tmp):
    """measure_startup's figures for the checkpoint folder `checkpoint` (its files in tmp)."""
    import cv2
    image = os.path.join(tmp, 'photo.png')
    cv2.imwrite(image, np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8))
    cmd = [python, os.path.join(ROOT, 'main.py'), '--phase', 'test', '--light', str(light), '--dataset', 'bench',
           '--checkpoint', checkpoint, '--input', image, '--result_dir', os.path.join(tmp, 'out')]
    times, peaks = [], []
    for _ in range(opts.warmup + opts.repeats):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (peak RSS in KB)
        times.append(time.perf_counter() - start)
        peaks.append(usage.ru_maxrss / 1024.0)
        if os.waitstatus_to_exitcode(status):
            raise RuntimeError('%s exited with status %d' % (' '.join(cmd), os.waitstatus_to_exitcode(status)))
    return {'median_s': float(np.median(times[opts.warmup:])), 'times_s': times[opts.warmup:],
            'peak_rss_mb': max(peaks)}


def measure_slim(opts, python):
    """The full (non-light) 256 px model's training checkpoint, the size of the released one
    (generators, discriminators, Adam slots; random values), against its generators-only
    exports in float32 and float16 (ugatit/infer/slim.py): bytes on disk, export time, and
    measure_startup's time to the first translated image. Yields (name, result)."""
    tmp = tempfile.mkdtemp(prefix='ugatit_bench_slim_')
    try:
        subprocess.run([python, '-m', 'ugatit.benchmarks.bench', '--child', 'save_training_checkpoint', '--out', tmp],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        folders = {'full': os.path.join(tmp, 'full')}
        exports = {}
        for dtype in ('float32', 'float16'):
            folders[dtype] = os.path.join(tmp, dtype)
            start = time.perf_counter()
            subprocess.run([python, os.path.join(ROOT, 'main.py'), '--phase', 'export', '--format', 'checkpoint',
                            '--dataset', 'bench', '--checkpoint_dir', folders['full'], '--export_dir', folders[dtype],
                            '--float16', str(dtype == 'float16')],
                           check=True, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            exports[dtype] = time.perf_counter() - start
        for kind, folder in folders.items():
            result = time_startup(opts, python, False, folder, tmp)
            result['checkpoint_mb'] = _folder_bytes(folder) / 1e6
            result['export_s'] = exports.get(kind)
            yield 'slim: %s checkpoint (full 256px), test --input start to exit' % kind, result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _folder_bytes(folder):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files)


def child_save_checkpoint(opts):
    """Both generators with random weights, saved in <out>/ckpt/<model_dir>/ (flags file included),
    where `main.py --checkpoint <out>/ckpt` finds them."""
    import tensorflow as tf
    from ugatit.config import Config, ModelConfig, PathConfig
    from ugatit.infer.translator import save_random_generators
    tf.compat.v1.disable_eager_execution()
    save_random_generators(Config(model=ModelConfig(light=opts.light),
                                  paths=PathConfig(dataset='bench', checkpoint_dir=os.path.join(opts.out, 'ckpt'))), 1)
    return {}


def child_save_training_checkpoint(opts):
    """A training checkpoint of the full 256 px model (ugatit/infer/slim.py
    save_random_training_checkpoint, the released checkpoint's variables) in <out>/full/<model_dir>/."""
    import tensorflow as tf
    from ugatit.config import Config, PathConfig
    from ugatit.infer.slim import save_random_training_checkpoint
    tf.compat.v1.disable_eager_execution()
    save_random_training_checkpoint(Config(paths=PathConfig(dataset='bench', checkpoint_dir=os.path.join(opts.out, 'full'))), 1)
    return {}


CHILDREN = {'forward': child_forward, 'train': child_train, 'tflite': child_tflite,
            'save_checkpoint': child_save_checkpoint, 'save_training_checkpoint': child_save_training_checkpoint}


def run_child(python, name, opts, **overrides):
    argv = [python, '-m', 'ugatit.benchmarks.bench', '--child', name]
    values = dict(vars(opts), **overrides)
    for key in ('size', 'batch', 'repeats', 'warmup', 'intra', 'inter', 'xla', 'grappler', 'bfloat16', 'winograd', 'light', 'config'):
        argv.append('--%s=%s' % (key, values[key]))  # '=': a --config of flags starts with '--'
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError('benchmark child %s failed:\n%s' % (name, proc.stderr[-3000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def environment(opts):
    import tensorflow as tf
    return {'tensorflow': tf.__version__, 'python': platform.python_version(), 'machine': platform.machine(),
            'cpu_count': os.cpu_count(), 'processor': _cpu_name(), 'gpus': [d.name for d in tf.config.list_physical_devices('GPU')],
            'intra_op_threads': opts.intra, 'inter_op_threads': opts.inter, 'xla': opts.xla, 'grappler': opts.grappler,
            'bfloat16': opts.bfloat16, 'winograd': opts.winograd,
            'TF_ENABLE_ONEDNN_OPTS': os.environ.get('TF_ENABLE_ONEDNN_OPTS', '(default)')}


def _cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0], epilog=__doc__.split('Examples:')[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--what', nargs='+', default=['forward', 'train', 'startup', 'tflite'],
                        choices=['forward', 'train', 'startup', 'tflite', 'upscale', 'slim'],
                        help='what to measure (default: all but upscale and slim)')
    parser.add_argument('--sample', default=os.path.join(os.path.dirname(ROOT), 'shared', 'data', 'selfie2anime-mini'),
                        help='upscale: folder with testB/ and trainB/ of 256 px anime faces (default: ../shared/...)')
    parser.add_argument('--train_flags', nargs='+', metavar='FLAGS',
                        help='train: measure these sets of main.py training flags, each one quoted string, '
                             'instead of the default light config and the small one')
    parser.add_argument('--sizes', nargs='+', type=int, default=[256], help='image sizes for forward (default: %(default)s)')
    parser.add_argument('--batch', type=int, default=4, help='batch for the throughput figure (default: %(default)s)')
    parser.add_argument('--repeats', type=int, default=5, help='timed runs per figure (default: %(default)s)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs first (default: %(default)s)')
    parser.add_argument('--intra', type=int, default=0, help='intra-op threads, 0 = TensorFlow default (default: %(default)s)')
    parser.add_argument('--inter', type=int, default=0, help='inter-op threads, 0 = TensorFlow default (default: %(default)s)')
    parser.add_argument('--xla', type=str2bool, default=False, help='XLA JIT (default: %(default)s)')
    parser.add_argument('--grappler', type=str2bool, default=True,
                        help='let Grappler rewrite the graphs (default: %(default)s)')
    parser.add_argument('--bfloat16', type=str2bool, default=False,
                        help='forward and train in bfloat16 (main.py --bfloat16) (default: %(default)s)')
    parser.add_argument('--winograd', type=str2bool, default=False,
                        help='forward: 3x3 convolutions by Winograd (main.py --winograd) (default: %(default)s)')
    parser.add_argument('--json', default=os.path.join('bench_results', 'bench.json'), help='output JSON (default: %(default)s)')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--size', type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument('--light', type=str2bool, default=True, help=argparse.SUPPRESS)
    parser.add_argument('--config', default='default', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    parser = build_parser()
    opts = parser.parse_args(argv)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

    if opts.child:
        result = CHILDREN[opts.child](opts)
        result['peak_rss_mb'] = peak_rss_mb()
        print(json.dumps(result))
        return 0

    if 'upscale' in opts.what and len(opts.what) > 1:
        parser.error('--what upscale measures something else: give it alone')
    if opts.what == ['upscale']:  # no TensorFlow involved
        from ugatit.benchmarks.upscale_bench import run
        run(opts.sample, json_path=opts.json)
        print('written: %s' % opts.json)
        return 0
    python = sys.executable
    report = {'environment': environment(opts), 'results': []}
    rows = []

    def record(name, result):
        report['results'].append(dict(result, name=name))
        rows.append((name, result))
        print('%-44s median %8.3f s   peak RSS %7.0f MB' % (name, result['median_s'], result['peak_rss_mb']), flush=True)

    if 'forward' in opts.what:
        for size in opts.sizes:
            for light in (True, False):
                r = run_child(python, 'forward', opts, size=size, light=light)
                label = 'light' if light else 'full'
                for key, value in r.items():
                    if key.startswith('batch'):
                        record('forward %s %dpx %s' % (label, size, key), dict(value, peak_rss_mb=r['peak_rss_mb']))
    if 'train' in opts.what:
        for config in opts.train_flags or ('default', 'small'):
            r = run_child(python, 'train', opts, config=config)
            record('train iteration %s (%s)' % (config, r['config']), r)
            print('%44s D step %.3f s, G step %.3f s' % ('', r['d_step_median_s'], r['g_step_median_s']), flush=True)
    if 'tflite' in opts.what:
        r = run_child(python, 'tflite', opts, size=256)
        record('tflite float32 light 256px batch1', r)
    if 'startup' in opts.what:
        for light in (True, False):
            r = measure_startup(opts, python, light)
            record('test --input, 1 image, start to exit (%s 256px)' % ('light' if light else 'full'), r)

    if 'slim' in opts.what:
        for name, r in measure_slim(opts, python):
            record(name, r)
            print('%44s checkpoint %.0f MB%s' % ('', r['checkpoint_mb'], ', exported in %.1f s' % r['export_s']
                                                 if r['export_s'] else ''), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(opts.json)), exist_ok=True)
    with open(opts.json, 'w') as f:
        json.dump(report, f, indent=1)
    print('environment: %s' % json.dumps(report['environment']))
    print('written: %s' % opts.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
