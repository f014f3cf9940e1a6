"""Frames per second of the page's camera filter in headless Chromium, on this device (the ONNX
model in onnxruntime-web: WebAssembly, and WebGPU where the browser gets an adapter) against the
server path (--phase serve, WebSocket), and the on-device page's first load in bytes and seconds:
`python -m ugatit.benchmarks.web_fps`.

The model is the shipped one (models/selfie2anime_cpu) unless --checkpoint is given. The
on-device page is the static folder of `--phase export --format web` served by Python's
http.server (no project server running); the server path is `python main.py --phase serve` as a
child process. Chromium's fake camera plays a generated 640x480 clip at 30 frames/s; the filter
runs on its centred square at the model's size. For each path: the first load (the bytes the
file server sent and the seconds from opening the page, fresh profile, to the first filtered
frame; the static page reloads itself once to be cross-origin isolated, for threads) and the frames filtered per second
over --seconds after --warmup seconds, with the CPU time all of Chromium's processes (or the
server and Chromium) spent a frame and the cores they got on average. The machine's load average
is printed beside: on shared cores the frame rate moves with it, the CPU time a frame much less. Needs Debian's chromium (apt-get install chromium), Playwright
and onnxruntime-web (make web).

Examples:
  python -m ugatit.benchmarks.web_fps                            # WASM 1 and 2 threads, WebGPU if offered, server
  python -m ugatit.benchmarks.web_fps --paths wasm2 --seconds 30
"""

import argparse
import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHROMIUM = '/usr/bin/chromium'
FLAGS = ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
         '--no-first-run']
NO_GPU = ['--disable-gpu']
WEBGPU = ['--enable-unsafe-webgpu', '--enable-features=Vulkan']


def write_y4m(path, frames=20, width=160, height=120, rate=10):
    """A YUV4MPEG2 clip (4:2:0) of a moving bright square on grey: Chromium's fake camera plays it."""
    with open(path, 'wb') as f:
        f.write(b'YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n' % (width, height, rate))
        for k in range(frames):
            y = np.full((height, width), 100, np.uint8)
            x0 = (10 + 5 * k) % max(1, width - 40)
            y[height // 4:height // 4 + height // 2, x0:x0 + 40] = 230
            chroma = np.full((height // 2, width // 2), 128, np.uint8)
            f.write(b'FRAME\n' + y.tobytes() + chroma.tobytes() + chroma.tobytes())


@contextlib.contextmanager
def chromium_context(folder, gpu=False, **y4m):
    """A Playwright persistent context of headless chromium (Debian's, no browser download) whose
    fake camera plays a generated clip; its profile and the clip live in `folder`, removed at the end.
    gpu: ask for WebGPU instead of turning the GPU off."""
    from playwright.sync_api import sync_playwright
    os.makedirs(folder, exist_ok=True)
    clip = os.path.join(folder, 'camera.y4m')
    write_y4m(clip, **y4m)
    profile = os.path.join(folder, 'profile')
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True,
            args=FLAGS + (WEBGPU if gpu else NO_GPU) + [
                '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
                '--use-file-for-fake-video-capture=' + clip])
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(folder, ignore_errors=True)


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    """http.server's file handler, silent, adding the bytes of each answer's body (its
    Content-Length) to server.bytes_sent."""

    def log_message(self, *args):
        pass

    def send_header(self, keyword, value):
        if keyword.lower() == 'content-length':
            self.server.bytes_sent += int(value)
        super().send_header(keyword, value)


@contextlib.contextmanager
def static_file_server(folder, counter=None):
    """Python's http.server serving `folder` on 127.0.0.1:<free port> in a thread: a plain file
    host, nothing of the project behind it. Yields its URL (ending in /); `counter`, a list,
    gets the server, whose bytes_sent counts the bodies sent."""
    handler = functools.partial(_CountingHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    server.bytes_sent = 0
    if counter is not None:
        counter.append(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield 'http://127.0.0.1:%d/' % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def load_average():
    return '%.1f' % os.getloadavg()[0]


def descendants_cpu_seconds(root=None):
    """CPU seconds (user + system) used so far by the processes under `root` (this process by
    default): Chromium's browser, renderer and GPU processes started by Playwright (and, for the
    server path, the server). Read from /proc; 0 where there is no /proc."""
    root = root or os.getpid()
    parents, times = {}, {}
    tick = os.sysconf('SC_CLK_TCK')
    for name in os.listdir('/proc') if os.path.isdir('/proc') else []:
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        parents[int(name)] = int(fields[1])
        times[int(name)] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid in times:
        p = pid
        while p in parents and p != root:
            p = parents[p]
        if p == root and pid != root:
            total += times[pid]
    return total


def measure(context, url, where, warmup, seconds, sent=None):
    """Open the page at url, choose `where` (device/server), start the camera; returns
    {'bytes', 'first_frame_s', 'fps', 'cpu_ms', 'cpu_share', 'backend', 'status', 'error', 'load'}.
    sent: a function giving the bytes the file server has sent so far (else the page's own count
    of the answers' sizes)."""
    page = context.new_page()
    received = []
    page.on('requestfinished', lambda request: received.append(request))
    sent0 = sent() if sent else 0
    started = time.monotonic()
    page.goto(url)
    if where == 'server':
        page.wait_for_function("document.getElementById('privacy').textContent.includes('server')")
        page.check('#where-server')
    else:
        page.wait_for_function("document.getElementById('where-device').checked || "
                               "!document.getElementById('where-device').disabled")
        page.check('#where-device')
    page.click('#tab-camera')
    page.click('#camera-start')
    page.wait_for_function("Number(document.getElementById('camera-count').textContent) >= 1", timeout=300000)
    first_frame_s = time.monotonic() - started
    total = sent() - sent0 if sent else 0
    for request in [] if sent else received:
        with contextlib.suppress(Exception):
            sizes = request.sizes()
            total += sizes['responseBodySize'] + sizes['responseHeadersSize']
    time.sleep(warmup)
    count0, t0, cpu0 = int(page.text_content('#camera-count')), time.monotonic(), descendants_cpu_seconds()
    time.sleep(seconds)
    count1, t1, cpu1 = int(page.text_content('#camera-count')), time.monotonic(), descendants_cpu_seconds()
    status = page.text_content('#camera-status')
    backend = page.text_content('#device-status') if where == 'device' else 'server (WebSocket)'
    error = page.text_content('#error') if page.is_visible('#error') else ''
    page.click('#camera-stop')
    page.close()
    return {'bytes': total, 'first_frame_s': first_frame_s, 'fps': (count1 - count0) / (t1 - t0),
            'cpu_ms': 1000 * (cpu1 - cpu0) / max(1, count1 - count0), 'cpu_share': (cpu1 - cpu0) / (t1 - t0),
            'backend': backend.strip(), 'status': status, 'error': error, 'load': load_average()}


def export_folder(args, folder):
    command = [sys.executable, 'main.py', '--phase', 'export', '--format', 'web', '--export_dir', folder]
    if args.checkpoint:
        command += ['--checkpoint', args.checkpoint]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return os.path.join(folder, os.listdir(folder)[0], 'web')


@contextlib.contextmanager
def project_server(args):
    from ugatit.benchmarks.loadtest import free_port
    port = free_port()
    command = [sys.executable, 'main.py', '--phase', 'serve', '--port', str(port)]
    if args.checkpoint:
        command += ['--checkpoint', args.checkpoint]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if 'Serving on' in line:
                break
        else:
            raise RuntimeError('the server did not start')
        yield 'http://127.0.0.1:%d/' % port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def report(name, result):
    print('%-8s %6.1f frames/s   %5.0f ms CPU a frame (%.2f cores)   first frame after %5.1f s, %6.2f MB received   '
          'load average %s   %s   %s%s'
          % (name, result['fps'], result['cpu_ms'], result['cpu_share'], result['first_frame_s'], result['bytes'] / 1e6,
             result['load'], result['backend'],
             result['status'],
             ('   error: ' + result['error']) if result['error'] else ''), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--paths', default='wasm1,wasm2,webgpu,server',
                        help='what to measure: wasm (threads as the page chooses), wasm1, wasm2 (1 or 2 threads), '
                             'webgpu, server (default: %(default)s)')
    parser.add_argument('--checkpoint', default=None, help='checkpoint to export and serve (default: the shipped model)')
    parser.add_argument('--warmup', type=float, default=5, help='seconds filtered before counting (default: %(default)s)')
    parser.add_argument('--seconds', type=float, default=20, help='seconds counted (default: %(default)s)')
    args = parser.parse_args(argv)
    paths = args.paths.split(',')
    clip = dict(frames=60, width=640, height=480, rate=30)
    with tempfile.TemporaryDirectory(prefix='web_fps-') as scratch:
        folder = export_folder(args, os.path.join(scratch, 'exported'))
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files)
        print('static folder: %.1f MB on disk; load average %s' % (size / 1e6, load_average()), flush=True)
        servers = []
        with static_file_server(folder, servers) as url:
            sent = lambda: servers[0].bytes_sent  # noqa: E731
            for name in paths:
                if name.startswith('wasm'):  # wasm: the page's choice of threads; wasm1, wasm2: 1 or 2
                    threads = name[4:]
                    with chromium_context(os.path.join(scratch, name), **clip) as context:
                        report(name, measure(context, url + ('?threads=' + threads if threads else ''), 'device',
                                             args.warmup, args.seconds, sent))
                elif name == 'webgpu':
                    with chromium_context(os.path.join(scratch, name), gpu=True, **clip) as context:
                        result = measure(context, url, 'device', args.warmup, args.seconds, sent)
                    if 'WebGPU' not in result['backend']:
                        print('webgpu   no WebGPU adapter in this browser on this machine, or a software one (the '
                              'page ran %s)' % result['backend'])
                    else:
                        report(name, result)
        if 'server' in paths:
            with project_server(args) as url, chromium_context(os.path.join(scratch, 'server'), **clip) as context:
                report('server', measure(context, url, 'server', args.warmup, args.seconds))
    return 0


if __name__ == '__main__':
    sys.exit(main())
