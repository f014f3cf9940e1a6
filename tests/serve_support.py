"""What the tests of --phase serve share: a tiny random model behind the app, test images."""

import io
import threading

import numpy as np
from PIL import Image

from conftest import save_random_generators, tiny_config


def tiny_engine(folder, batch_size=4, keep_uploads=None):
    """(Engine, Translator) of the tiny model with random weights saved under folder."""
    from ugatit.serve import load_engine
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


class UvicornThread:
    """A real HTTP server for an app on 127.0.0.1:<free port>, in a thread of this process."""

    def __init__(self, app):
        import socket
        import uvicorn
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            self.port = probe.getsockname()[1]
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
