"""Debian's headless chromium driven by Playwright (no browser download), for the page's tests:
the executable and its flags, a clip for its fake camera, a context, a plain static file server."""

import contextlib
import functools
import http.server
import os
import shutil
import threading

import numpy as np
import pytest

CHROMIUM = '/usr/bin/chromium'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--no-first-run']


def require_chromium():
    """Skip the calling test without Debian's chromium or Playwright (a failure under CI=true,
    where .ci/run installs chromium)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get('CI') == 'true':
            pytest.fail('%s is missing (CI=true: .ci/run installs Debian\'s chromium)' % CHROMIUM)
        pytest.skip('%s is not installed (apt-get install chromium)' % CHROMIUM)
    pytest.importorskip('playwright')


def write_y4m(path, frames=20, width=160, height=120, rate=10):
    """A YUV4MPEG2 clip (4:2:0) of a moving bright square on grey: Chromium's fake camera plays it."""
    with open(path, 'wb') as f:
        f.write(b'YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n' % (width, height, rate))
        for k in range(frames):
            y = np.full((height, width), 100, np.uint8)
            x0 = 10 + 5 * k
            y[30:90, x0:x0 + 40] = 230
            chroma = np.full((height // 2, width // 2), 128, np.uint8)
            f.write(b'FRAME\n' + y.tobytes() + chroma.tobytes() + chroma.tobytes())


@contextlib.contextmanager
def chromium_context(folder, **y4m):
    """A Playwright persistent context of headless chromium whose fake camera plays a generated
    clip; its profile and the clip live in `folder` (removed at the end)."""
    from playwright.sync_api import sync_playwright
    os.makedirs(folder, exist_ok=True)
    clip = os.path.join(folder, 'camera.y4m')
    write_y4m(clip, **y4m)
    profile = os.path.join(folder, 'profile')
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True,
            args=FLAGS + ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
                          '--use-file-for-fake-video-capture=' + clip])
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(folder, ignore_errors=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def static_file_server(folder):
    """Python's http.server serving `folder` on 127.0.0.1:<free port> in a thread: a plain file
    host, nothing of the project behind it. Yields its URL (ending in /)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield 'http://127.0.0.1:%d/' % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
