"""Peak memory of `python main.py --phase serve` under large uploads: `python -m ugatit.benchmarks.serve_memory`.

Starts the server as a child process (light generators, 64 px, random weights: the memory of
decoding photos does not depend on them), warms it up with a small photo, then sends --clients
uploads at once of a blank --width x --height PNG (4999x5000 by default: 73 KB on the wire, just
under the 25 MP limit), --rounds times, and prints the statuses of the answers and the server's
resident memory now (VmRSS) and at its peak so far (VmHWM). The peak is what a burst of large
photos costs; serve.Limits.pixel_budget bounds it (the requests past it are answered 503).

Example:
  python -m ugatit.benchmarks.serve_memory --clients 16 --rounds 2
"""

import argparse
import collections
import io
import os
import shutil
import sys
import tempfile
import threading

import numpy as np

from ugatit.benchmarks import loadtest


def memory_mb(pid):
    """(VmRSS, VmHWM) of a process in MB: its resident memory now and at its peak."""
    with open('/proc/%d/status' % pid) as f:
        fields = dict(line.split(':', 1) for line in f if ':' in line)
    return tuple(int(fields[name].split()[0]) / 1024.0 for name in ('VmRSS', 'VmHWM'))


def blank_png(width, height):
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(buf, 'PNG')
    return buf.getvalue()


def save_checkpoint(folder):
    """Light 64 px generators with random weights under folder; returns their checkpoint folder."""
    import tensorflow as tf
    from ugatit.config import Config, ModelConfig, PathConfig
    from ugatit.infer.translator import save_random_generators
    tf.compat.v1.disable_eager_execution()
    save_random_generators(Config(model=ModelConfig(light=True, img_size=64),
                                  paths=PathConfig(dataset='bench', checkpoint_dir=folder)), 1)
    return os.path.join(folder, os.listdir(folder)[0])


def burst(port, body, content_type, clients):
    """`clients` requests at once; returns Counter of their statuses (0: no answer)."""
    statuses = collections.Counter()
    threads = [threading.Thread(target=lambda: statuses.update([loadtest.post(port, body, content_type, 300)[0]]))
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--width', type=int, default=4999)
    parser.add_argument('--height', type=int, default=5000)
    parser.add_argument('--clients', type=int, default=16, help='uploads at once (default: %(default)s)')
    parser.add_argument('--rounds', type=int, default=2, help='bursts of uploads (default: %(default)s)')
    opts = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix='ugatit_serve_memory_')
    try:
        checkpoint = save_checkpoint(os.path.join(tmp, 'ckpt'))
        with open(loadtest.DEFAULT_PHOTO, 'rb') as f:
            small = loadtest.multipart(f.read(), {})
        large = loadtest.multipart(blank_png(opts.width, opts.height), {})
        with open(os.path.join(tmp, 'server.log'), 'w') as log:
            server, port = loadtest.start_server(argparse.Namespace(light=True, img_size=64), 1, checkpoint, log)
            try:
                for _ in range(4):
                    loadtest.post(port, *small)
                print('after warm-up: RSS %.0f MB, peak %.0f MB' % memory_mb(server.pid))
                for round_ in range(1, opts.rounds + 1):
                    statuses = burst(port, *large, opts.clients)
                    print('round %d, %d uploads of %dx%d at once: statuses %s; RSS %.0f MB, peak %.0f MB'
                          % ((round_, opts.clients, opts.width, opts.height, dict(sorted(statuses.items())))
                             + memory_mb(server.pid)), flush=True)
            finally:
                server.terminate()
                server.wait(timeout=30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
