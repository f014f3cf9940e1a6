"""Loading the Inception graph: .pb, .tar.gz, cache, download (from a local server), and every bad case.

The real graph cannot be downloaded in tests; a small stand-in with the same tensor names is used.
"""

import contextlib
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

from tests.support.inception import small_graph_def, write_archive
from tests.support.net import closed_port_url
from ugatit.errors import UserError
from ugatit.eval.inception import (ARCHIVE_NAME, GRAPH_NAME, InceptionFeatures, find_graph, load_inception,
                              read_graph_def)


@pytest.fixture(scope='module')
def graph_bytes():
    return small_graph_def().SerializeToString()


@pytest.fixture
def files(tmp_path, graph_bytes):
    pb = tmp_path / GRAPH_NAME
    pb.write_bytes(graph_bytes)
    archive = write_archive(str(tmp_path / ARCHIVE_NAME), graph_bytes)
    return str(pb), archive


def images(n=4, size=64, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (n, size, size, 3), dtype=np.uint8)


@contextlib.contextmanager
def serve(payload, announce=None):
    """Serve `payload` at any path from 127.0.0.1 in a thread; stopped when the block ends."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header('Content-Length', str(announce if announce is not None else len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    try:
        yield 'http://127.0.0.1:%d/%s' % (server.server_address[1], ARCHIVE_NAME)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_pb_and_archive_give_the_same_features(files):
    pb, archive = files
    with load_inception(pb) as a, load_inception(archive) as b:
        fa, fb = a.features(images()), b.features(images())
        other = a.features(images(seed=1))
    assert fa.shape == (4, 8) and fa.dtype == np.float64
    np.testing.assert_array_equal(fa, fb)
    assert np.abs(fa - other).max() > 1e-3       # negative control: other images, other features


def test_batches_and_mixed_sizes_do_not_change_the_features(files):
    with load_inception(files[0], batch_size=3) as inception:
        whole = inception.features(images(5))
        mixed = inception.features([images(5)[0], images(1, size=40)[0]] + list(images(5)[1:]))
    np.testing.assert_allclose(mixed[[0, 2, 3, 4, 5]], whole, rtol=1e-5, atol=1e-6)


def test_cache_hit_needs_no_network(tmp_path, files):
    cache = tmp_path / 'cache'
    cache.mkdir()
    os.replace(files[1], str(cache / ARCHIVE_NAME))
    assert find_graph(cache=str(cache), url=closed_port_url() + '/' + ARCHIVE_NAME) == str(cache / ARCHIVE_NAME)


def test_download_into_the_cache_then_reuse(tmp_path, files):
    cache = str(tmp_path / 'cache')
    payload = open(files[1], 'rb').read()
    old_umask = os.umask(0o022)
    try:
        with serve(payload) as url:
            path = find_graph(cache=cache, url=url, sha256=hashlib.sha256(payload).hexdigest())
    finally:
        os.umask(old_umask)
    assert path == os.path.join(cache, ARCHIVE_NAME)
    assert os.stat(path).st_mode & 0o777 == 0o644  # the usual permissions, not mkstemp's 0600
    assert open(path, 'rb').read() == payload
    assert open(path + '.sha256').read().split()[0] == hashlib.sha256(payload).hexdigest()
    assert sorted(os.listdir(cache)) == [ARCHIVE_NAME, ARCHIVE_NAME + '.sha256']   # no temporary left
    # The server is gone: the second call must find the file in the cache.
    with load_inception(cache=cache, url=closed_port_url() + '/' + ARCHIVE_NAME) as inception:
        assert inception.features(images(2)).shape == (2, 8)


def test_download_with_another_checksum_keeps_nothing(tmp_path, files):
    cache = str(tmp_path / 'cache')
    with serve(open(files[1], 'rb').read()) as url:
        with pytest.raises(UserError, match='SHA-256'):
            find_graph(cache=cache, url=url, sha256='0' * 64)
    assert os.listdir(cache) == []


def test_download_cut_off_is_refused(tmp_path, files):
    payload = open(files[1], 'rb').read()
    cache = str(tmp_path / 'cache')
    with serve(payload[:100], announce=len(payload)) as url:
        with pytest.raises(UserError, match='cut off|download'):
            find_graph(cache=cache, url=url)
    assert os.listdir(cache) == []


def test_download_of_something_else_is_refused(tmp_path):
    cache = str(tmp_path / 'cache')
    with serve(b'<html>not found</html>') as url:
        with pytest.raises(UserError, match='no such file|not a|holds no'):
            find_graph(cache=cache, url=url)
    assert os.listdir(cache) == []


def test_offline_without_the_file_says_where_to_put_it(tmp_path):
    cache = str(tmp_path / 'cache')
    with pytest.raises(UserError) as info:
        find_graph(cache=cache, url=closed_port_url() + '/' + ARCHIVE_NAME)
    message = str(info.value)
    assert cache in message and ARCHIVE_NAME in message and '--inception' in message
    with pytest.raises(UserError, match='not in the cache'):
        find_graph(cache=cache, allow_download=False)


def test_a_cached_file_that_changed_is_refused(tmp_path, files):
    cache = tmp_path / 'cache'
    payload = open(files[1], 'rb').read()
    with serve(payload) as url:
        path = find_graph(cache=str(cache), url=url)
    with open(path, 'ab') as f:
        f.write(b'x')
    with pytest.raises(UserError, match='changed'):
        find_graph(cache=str(cache), url=closed_port_url() + '/' + ARCHIVE_NAME)


def test_an_unwritable_cache_is_a_clear_error(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('a file where the cache folder would go')
    with pytest.raises(UserError, match='cannot write into the cache folder'):
        find_graph(cache=str(blocker / 'cache'), url=closed_port_url() + '/' + ARCHIVE_NAME)


def test_missing_explicit_file(tmp_path):
    with pytest.raises(UserError, match='--inception'):
        find_graph(str(tmp_path / 'nothing.pb'))


def test_corrupt_files_are_clear_errors(tmp_path, files, graph_bytes):
    truncated = tmp_path / 'truncated.tar.gz'
    truncated.write_bytes(open(files[1], 'rb').read()[:200])
    garbage = tmp_path / 'garbage.pb'
    garbage.write_bytes(b'\xff' * 64)
    wrong_member = write_archive(str(tmp_path / 'other.tar.gz'), graph_bytes, member='other.pb')
    for path, pattern in ((truncated, 'not a readable'), (garbage, 'not a TensorFlow'),
                          (wrong_member, 'holds no %s' % GRAPH_NAME)):
        with pytest.raises(UserError, match=pattern):
            read_graph_def(str(path))


def test_wrong_tensor_names_are_clear_errors(tmp_path):
    for kwargs, missing in ((dict(input_name='input_image'), 'Mul:0'), (dict(output_name='features'), 'pool_3:0')):
        path = tmp_path / 'wrong.pb'
        path.write_bytes(small_graph_def(**kwargs).SerializeToString())
        with pytest.raises(UserError, match=missing):
            load_inception(str(path))


def test_an_input_tensor_of_another_type_is_a_clear_error(tmp_path):
    import tensorflow as tf
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.int32, [None, 299, 299, 3], name='Mul')
        tf.identity(tf.cast(x, tf.float32), name='pool_3')
    with pytest.raises(UserError, match='cannot use the graph'):
        InceptionFeatures(graph.as_graph_def(), 'int-input.pb')


def test_an_unknown_operation_is_a_clear_error():
    graph_def = small_graph_def()
    for node in graph_def.node:
        if node.name == 'Relu':
            node.op = 'NoSuchOperation'
    with pytest.raises(UserError, match='NoSuchOperation'):
        InceptionFeatures(graph_def, 'unknown-op.pb')


@pytest.mark.parametrize('size', [64, 512])
def test_images_are_resized_as_pil_bilinear_and_scaled_to_plus_minus_one(size):
    """The authors' code resized with PIL's bilinear filter (scipy.misc.imresize) and scaled x/255*2-1."""
    Image = pytest.importorskip('PIL.Image')
    import tensorflow as tf
    graph = tf.Graph()
    with graph.as_default():          # a "network" whose features are its input: the preprocessed image
        x = tf.compat.v1.placeholder(tf.float32, [None, 299, 299, 3], name='input')
        tf.identity(tf.multiply(x, 1.0, name='Mul'), name='pool_3')
    rng = np.random.RandomState(size)
    image = (np.cumsum(rng.randint(-20, 21, (size, size, 3)), axis=1) % 256).astype(np.uint8)  # smooth-ish ramps
    with InceptionFeatures(graph.as_graph_def(), 'identity') as inception:
        features = inception.features(image[None])[0].reshape(299, 299, 3)
    assert features.min() >= -1.0 and features.max() <= 1.0
    ours = (features + 1.0) * 127.5
    pil = np.asarray(Image.fromarray(image).resize((299, 299), Image.BILINEAR), np.float64)
    # PIL rounds to whole grey levels (up to 0.5) with 8-bit fixed-point weights: measured max 1.0, mean 0.3.
    assert np.abs(ours - pil).max() <= 1.0 + 1e-3 and np.abs(ours - pil).mean() < 0.4
    nearest = np.asarray(Image.fromarray(image).resize((299, 299), Image.NEAREST), np.float64)
    assert np.abs(ours - nearest).mean() > 1.0          # negative control: another filter is told apart
