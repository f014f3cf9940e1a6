"""Local network stand-ins for the download tests (127.0.0.1 only; no test reaches the internet):
an HTTP server with Range requests and dropped connections, a port nothing listens on, and a
server that accepts connections and never answers."""

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ugatit.benchmarks.loadtest import free_port

# How long the silent server holds its connections before it closes them all: only code that
# would otherwise wait forever meets this (it then fails on a reset connection, not a timeout).
SILENT_HOLD_S = 30


class Server(object):
    """Serves {path: bytes} with HTTP Range; `drop[path] = n` closes the connection after n bytes
    of the first answer for that path. `requests` logs (path, Range header)."""

    def __init__(self):
        self.files, self.drop, self.requests = {}, {}, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get('Range')))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = int(re.match(r'bytes=(\d+)-', self.headers['Range']).group(1)) if self.headers.get('Range') else 0
                self.send_response(206 if start else 200)
                if start:
                    self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, len(data) - 1, len(data)))
                self.send_header('Content-Length', str(len(data) - start))
                self.end_headers()
                cut = server.drop.pop(self.path, None)
                self.wfile.write(data[start:cut] if cut else data[start:])
                if cut:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.stop()


def closed_port_url():
    """A URL nothing listens on (connection refused)."""
    return 'http://127.0.0.1:%d' % free_port()


@pytest.fixture
def silent_server():
    """The URL of a server that accepts connections (the kernel completes them) and never
    answers: nothing accepts or reads them, as on a network that swallows requests."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(16)
    closer = threading.Timer(SILENT_HOLD_S, listener.close)
    closer.daemon = True
    closer.start()
    yield 'http://127.0.0.1:%d' % listener.getsockname()[1]
    closer.cancel()
    listener.close()
