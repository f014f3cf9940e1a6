"""What the tests of --phase serve share: a tiny random model behind the app, test images."""

import builtins
import errno
import io
import os
import struct
import threading
import zlib

import numpy as np
from PIL import Image

from tests.support import tiny_config
from ugatit.benchmarks.loadtest import free_port
from ugatit.infer.translator import save_random_generators


def tiny_engine(folder, batch_size=4, keep_uploads=None):
    """(Engine, Translator) of the tiny model with random weights saved under folder."""
    from ugatit.apps.serve import load_engine
    config = tiny_config('--checkpoint_dir', str(folder), '--batch_size', str(batch_size))
    save_random_generators(config, 7)
    if keep_uploads:
        import dataclasses
        config = dataclasses.replace(config, serve=dataclasses.replace(config.serve, keep_uploads=str(keep_uploads)))
    return load_engine(config)


def encode(image, kind='PNG', **options):
    """RGB uint8 [H, W, 3] -> the bytes of an image file."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, kind, **options)
    return buf.getvalue()


def decode(data):
    """Bytes of an image file -> RGB uint8 [H, W, 3]."""
    return np.asarray(Image.open(io.BytesIO(data)).convert('RGB'))


def png_claiming(width, height):
    """A PNG whose header says width x height but whose data holds one row: what a header
    reader sees of a huge image, made without the memory of one."""
    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(bytes(3 * width + 1))) + chunk(b'IEND', b''))


def fill_disk(monkeypatch, folder):
    """Make `folder` behave as if on a full disk: a file opened for writing there (by open() or
    os.fdopen()) takes the first half of what is written and then fails with ENOSPC, leaving a
    partial file. Other files are untouched; monkeypatch.undo() frees the disk."""
    real_open, real_fdopen = builtins.open, os.fdopen
    folder = os.path.realpath(folder)

    class HalfWriter:
        def __init__(self, file):
            self._file = file

        def write(self, data):
            self._file.write(data[:len(data) // 2])
            self._file.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._file.close()

        def __getattr__(self, name):
            return getattr(self._file, name)

    def in_folder(path):
        return os.path.dirname(os.path.realpath(path)) == folder

    def opened(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return HalfWriter(f) if 'w' in mode and isinstance(file, (str, os.PathLike)) and in_folder(file) else f

    def fdopened(fd, mode='r', *args, **kwargs):
        f = real_fdopen(fd, mode, *args, **kwargs)
        return HalfWriter(f) if 'w' in mode and in_folder(os.readlink('/proc/self/fd/%d' % fd)) else f
    monkeypatch.setattr(builtins, 'open', opened)
    monkeypatch.setattr(os, 'fdopen', fdopened)


class UvicornThread:
    """A real HTTP server for an app on 127.0.0.1:<free port>, in a thread of this process."""

    def __init__(self, app):
        import uvicorn
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.server = uvicorn.Server(uvicorn.Config(app, host='127.0.0.1', port=self.port, log_level='warning'))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        import time
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError('the test server did not start')
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)
