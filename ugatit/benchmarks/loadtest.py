"""Load test of `python main.py --phase serve` on loopback: `python -m ugatit.benchmarks.loadtest`.

For each --batch_sizes value it starts the server (a child process, light 256 px model with
random weights unless --checkpoint is given: speed does not depend on the weights), warms it up,
then sends POST /api/translate requests with one photo:
  one at a time   --sequential requests from one client
  concurrent      --requests requests from --clients clients at once, twice (rounds 1 and 2)
and prints throughput (answers 200 per second), p50/p95 latency, the errors, and the server's resident memory after the
warm-up and after each concurrent round (flat memory: round 2 ends where round 1 ended).
Bounded: every request has a timeout and the server is stopped at the end.

Examples:
  python -m ugatit.benchmarks.loadtest                                   # batch sizes 1 and 8, 300 requests, 16 clients
  python -m ugatit.benchmarks.loadtest --batch_sizes 8 --requests 100 --photo my.jpg --align_face true
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils import str2bool

DEFAULT_PHOTO = os.path.join(os.path.dirname(ROOT), 'shared', 'data', 'selfie2anime-mini', 'testA', 'female_11827.jpg')


def multipart(data, fields):
    """(body bytes, content type) of a form with the file field `image` and text fields."""
    boundary = uuid.uuid4().hex
    parts = [b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
             % (boundary.encode(), k.encode(), str(v).encode()) for k, v in fields.items()]
    parts.append(b'--%s\r\nContent-Disposition: form-data; name="image"; filename="photo.jpg"\r\n'
                 b'Content-Type: application/octet-stream\r\n\r\n' % boundary.encode() + data + b'\r\n')
    return b''.join(parts) + b'--%s--\r\n' % boundary.encode(), 'multipart/form-data; boundary=' + boundary


def post(port, body, content_type, timeout=60):
    """One request; returns (status, seconds)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        conn.request('POST', '/api/translate', body, {'Content-Type': content_type})
        response = conn.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException):
        status = 0  # no answer: counted as an error
    finally:
        conn.close()
    return status, time.perf_counter() - start


def run_clients(port, body, content_type, requests, clients):
    """`requests` requests from `clients` threads; returns a dict of figures."""
    results, lock, counter = [], threading.Lock(), iter(range(requests))

    def client():
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            outcome = post(port, body, content_type)
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies = np.array([s for _, s in results])
    errors = sum(1 for status, _ in results if status != 200)
    return {'requests': requests, 'clients': clients, 'wall_s': wall, 'per_s': (requests - errors) / wall,
            'p50_ms': 1000 * float(np.percentile(latencies, 50)), 'p95_ms': 1000 * float(np.percentile(latencies, 95)),
            'errors': errors}


def rss_mb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_server(opts, batch_size, checkpoint, log):
    """The server child process on a free port, once /health answers 200: (process, port)."""
    port = free_port()
    cmd = [sys.executable, os.path.join(ROOT, 'main.py'), '--phase', 'serve', '--port', str(port),
           '--batch_size', str(batch_size), '--checkpoint', checkpoint, '--light', str(opts.light),
           '--img_size', str(opts.img_size)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection('127.0.0.1', port, timeout=2)
            conn.request('GET', '/health')
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError('the server did not start; see %s' % log.name)


def measure(opts, batch_size, checkpoint, body, content_type, log):
    proc, port = start_server(opts, batch_size, checkpoint, log)
    try:
        run_clients(port, body, content_type, opts.warmup, opts.clients)
        row = {'batch_size': batch_size, 'rss_warm_mb': rss_mb(proc.pid)}
        row['sequential'] = run_clients(port, body, content_type, opts.sequential, 1)
        row['round1'] = run_clients(port, body, content_type, opts.requests, opts.clients)
        row['rss_round1_mb'] = rss_mb(proc.pid)
        row['round2'] = run_clients(port, body, content_type, opts.requests, opts.clients)
        row['rss_round2_mb'] = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return row


def print_row(row):
    seq = row['sequential']
    print('batch_size %d: one at a time %.2f req/s (p50 %.0f ms); RSS after warm-up %.0f MB'
          % (row['batch_size'], seq['per_s'], seq['p50_ms'], row['rss_warm_mb']))
    for name in ('round1', 'round2'):
        r = row[name]
        print('  %s: %d requests, %d clients: %.2f req/s (x%.2f), p50 %.0f ms, p95 %.0f ms, errors %d, RSS after %.0f MB'
              % (name, r['requests'], r['clients'], r['per_s'], r['per_s'] / seq['per_s'], r['p50_ms'], r['p95_ms'],
                 r['errors'], row['rss_%s_mb' % name]), flush=True)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0], epilog=__doc__.split('Examples:')[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add('--batch_sizes', type=int, nargs='+', default=[1, 8], help='server --batch_size values (default: %(default)s)')
    add('--requests', type=int, default=300, help='requests per concurrent round (default: %(default)s)')
    add('--clients', type=int, default=16, help='concurrent clients (default: %(default)s)')
    add('--sequential', type=int, default=30, help='requests of the one-at-a-time run (default: %(default)s)')
    add('--warmup', type=int, default=16, help='untimed requests first (default: %(default)s)')
    add('--photo', default=DEFAULT_PHOTO, help='the photo every request sends (default: a 256 px selfie of ../shared)')
    add('--align_face', type=str2bool, default=False, help='ask for face alignment (default: %(default)s)')
    add('--checkpoint', default=None, help='checkpoint to serve (default: random weights)')
    add('--light', type=str2bool, default=True, help='light model (default: %(default)s)')
    add('--img_size', type=int, default=256, help='model image size (default: %(default)s)')
    add('--json', default=os.path.join('bench_results', 'loadtest.json'), help='output JSON (default: %(default)s)')
    return parser


def main(argv=None):
    opts = build_parser().parse_args(argv)
    with open(opts.photo, 'rb') as f:
        body, content_type = multipart(f.read(), {'align_face': opts.align_face})
    tmp = tempfile.mkdtemp(prefix='ugatit_loadtest_')
    try:
        checkpoint = opts.checkpoint
        if checkpoint is None:  # random weights, as ugatit.benchmarks.bench makes them
            subprocess.run([sys.executable, '-m', 'ugatit.benchmarks.bench', '--child', 'save_checkpoint', '--light', str(opts.light),
                            '--out', tmp], check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            checkpoint = os.path.join(tmp, 'ckpt')
        rows = []
        with open(os.path.join(tmp, 'server.log'), 'w') as log:
            for batch_size in opts.batch_sizes:
                rows.append(measure(opts, batch_size, checkpoint, body, content_type, log))
                print_row(rows[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(opts.json) or '.', exist_ok=True)
    with open(opts.json, 'w') as f:
        json.dump({'cpu_count': os.cpu_count(), 'options': vars(opts), 'results': rows}, f, indent=1)
    print('wrote %s' % opts.json)
    return 1 if any(row[r]['errors'] for row in rows for r in ('sequential', 'round1', 'round2')) else 0


if __name__ == '__main__':
    sys.exit(main())
