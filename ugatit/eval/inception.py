"""The Inception graph that TF-GAN's classifier metrics use: finding, downloading, checking, running it.

The KID and FID of the paper are computed on the 2048-d `pool_3` features of the frozen
Inception graph `inceptionv1_for_inception_score.pb` (the 2015-12-05 ImageNet graph) from TF-GAN's
archive `frozen_inception_v1_2015_12_05.tar.gz`: images are fed to the tensor `Mul:0` as
[N, 299, 299, 3] float32 in [-1, 1].

Where the graph comes from, in this order:
  1. an explicit path (`--inception PATH`): the .tar.gz archive or the extracted .pb;
  2. the cache folder (`$UGATIT_CACHE`, else `$XDG_CACHE_HOME/ugatit`, else `~/.cache/ugatit`),
     holding the archive or the .pb under their published names;
  3. a download of TF-GAN's published address into the cache, with a progress bar.
TF-GAN publishes no checksum for the archive. A download is therefore checked for what can be
checked honestly: its length against the server's Content-Length, that it is a gzip tar holding
the graph, that the graph parses and has the tensors `Mul:0` and `pool_3:0`, and against
`$UGATIT_INCEPTION_SHA256` when the user pins a SHA-256. Its SHA-256 is written next to it
(`<archive>.sha256`), and a cached file that no longer matches that record is refused.
"""

import hashlib
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib

import numpy as np
from tqdm import tqdm

from ugatit.errors import UserError
from ugatit.infer.session import OwnsSession
from utils import usual_file_mode, write_atomic

# TF-GAN's classifier_metrics.py (INCEPTION_URL, INCEPTION_FROZEN_GRAPH, INCEPTION_INPUT,
# INCEPTION_FINAL_POOL, INCEPTION_DEFAULT_IMAGE_SIZE).
INCEPTION_URL = 'http://download.tensorflow.org/models/frozen_inception_v1_2015_12_05.tar.gz'
ARCHIVE_NAME = 'frozen_inception_v1_2015_12_05.tar.gz'
GRAPH_NAME = 'inceptionv1_for_inception_score.pb'
INPUT_TENSOR = 'Mul:0'
OUTPUT_TENSOR = 'pool_3:0'
IMAGE_SIZE = 299
FEATURE_DIM = 2048
CACHE_ENV = 'UGATIT_CACHE'
SHA256_ENV = 'UGATIT_INCEPTION_SHA256'
DOWNLOAD_TIMEOUT_S = 30


def cache_dir():
    """The folder where the Inception archive is looked for and downloaded to."""
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'ugatit')


def sha256_of(path):
    """Hex SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _is_archive(path):
    if path.lower().endswith(('.tar.gz', '.tgz', '.tar')):
        return True
    with open(path, 'rb') as f:
        return f.read(2) == b'\x1f\x8b'   # gzip magic, whatever the name


def _graph_bytes(path):
    """The bytes of the frozen graph in `path` (an archive holding GRAPH_NAME, or a .pb)."""
    if not _is_archive(path):
        with open(path, 'rb') as f:
            return f.read()
    try:
        with tarfile.open(path, 'r:*') as tar:
            members = [m for m in tar.getmembers() if m.isfile() and os.path.basename(m.name) == GRAPH_NAME]
            if not members:
                raise UserError('%s: the archive holds no %s (is it TF-GAN\'s %s?)' % (path, GRAPH_NAME, ARCHIVE_NAME))
            return tar.extractfile(members[0]).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise UserError('%s: not a readable .tar.gz archive (%s); delete it and download it again, or pass '
                        '--inception with the extracted %s' % (path, exc, GRAPH_NAME))


def read_graph_def(path):
    """Parse the frozen graph in `path` (.tar.gz or .pb) and check that it has the needed tensors."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(_graph_bytes(path))
    except (DecodeError, RuntimeWarning) as exc:
        raise UserError('%s: not a TensorFlow frozen graph (GraphDef .pb): %s' % (path, exc))
    names = {node.name for node in graph_def.node}
    missing = [t for t in (INPUT_TENSOR, OUTPUT_TENSOR) if t.split(':')[0] not in names]
    if missing:
        raise UserError('%s: the graph has no tensor %s; expected TF-GAN\'s Inception graph %s with input %s '
                        'and features %s' % (path, ' or '.join(missing), GRAPH_NAME, INPUT_TENSOR, OUTPUT_TENSOR))
    return graph_def


def _where_to_put(cache):
    return ('put %s (from %s) or the extracted %s into %s, or pass --inception PATH (or set %s to another '
            'folder)' % (ARCHIVE_NAME, INCEPTION_URL, GRAPH_NAME, cache, CACHE_ENV))


def _check_cached(path):
    """Refuse a cached file whose SHA-256 no longer matches the one recorded when it was downloaded."""
    record = path + '.sha256'
    if os.path.isfile(record):
        with open(record) as f:
            fields = f.read().split()
        expected = fields[0] if fields else ''
        if sha256_of(path) != expected:
            raise UserError('%s: the file changed since it was downloaded (SHA-256 differs from %s); delete both '
                            'to download it again' % (path, record))


def _fetch(url, tmp_path):
    """Stream `url` into tmp_path with a progress bar; return (bytes received, Content-Length or None, sha256)."""
    digest, received = hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp_path, 'wb') as out:
        length = response.headers.get('Content-Length')
        total = int(length) if length and length.isdigit() else None
        with tqdm(total=total, unit='B', unit_scale=True, desc='Inception graph') as bar:
            for block in iter(lambda: response.read(1 << 20), b''):
                out.write(block)
                digest.update(block)
                received += len(block)
                bar.update(len(block))
    return received, total, digest.hexdigest()


def download(url, dest, sha256=None):
    """Download `url` to `dest` (atomically: nothing is left there unless every check passed).

    Checks: the length announced by the server, `sha256` when given, and that the file is an archive
    holding the Inception graph with its tensors. Writes `dest + '.sha256'`. Returns dest.
    """
    folder = os.path.dirname(dest) or '.'
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix='.download-', suffix='.part')
    except OSError as exc:
        raise UserError('cannot write into the cache folder %s (%s): set %s to a writable folder or pass '
                        '--inception PATH' % (folder, exc.strerror or exc, CACHE_ENV))
    os.close(fd)
    try:
        print(' [*] Downloading the Inception graph from %s into %s' % (url, folder))
        try:
            received, total, digest = _fetch(url, tmp)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise UserError('could not download the Inception graph from %s (%s). Without network access, %s'
                            % (url, getattr(exc, 'reason', exc), _where_to_put(folder)))
        if total is not None and received != total:
            raise UserError('the download from %s was cut off (%d of %d bytes); try again' % (url, received, total))
        if sha256 and digest != sha256.strip().lower():
            raise UserError('the download from %s has SHA-256 %s, not the expected %s (set by %s); nothing was '
                            'kept' % (url, digest, sha256.strip().lower(), SHA256_ENV))
        read_graph_def(tmp)
        os.chmod(tmp, usual_file_mode())  # mkstemp's 0600 would hide the cached file from others
        os.replace(tmp, dest)
        write_atomic(dest + '.sha256', '%s  %s\n' % (digest, os.path.basename(dest)))
        return dest
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def find_graph(path=None, cache=None, url=INCEPTION_URL, sha256=None, allow_download=True):
    """Locate (or download) the Inception graph; return the path of the .tar.gz or .pb to read.

    path: an explicit file (`--inception`); cache: the cache folder (default cache_dir());
    sha256: expected SHA-256 of a download (default: $UGATIT_INCEPTION_SHA256, else unchecked).
    """
    if path is not None:
        if not os.path.isfile(path):
            raise UserError('--inception %s: no such file (give %s or the extracted %s)' % (path, ARCHIVE_NAME, GRAPH_NAME))
        return path
    cache = cache or cache_dir()
    for name in (ARCHIVE_NAME, GRAPH_NAME):
        candidate = os.path.join(cache, name)
        if os.path.isfile(candidate):
            _check_cached(candidate)
            return candidate
    if not allow_download:
        raise UserError('the Inception graph is not in the cache: %s' % _where_to_put(cache))
    return download(url, os.path.join(cache, ARCHIVE_NAME), sha256 or os.environ.get(SHA256_ENV))


class InceptionFeatures(OwnsSession):
    """Inception pool_3 features in a graph and session of their own.

    Images go in as uint8 RGB [N, H, W, 3] (any size); they are resized to 299x299 bilinearly (with
    antialiasing when shrinking, as PIL's resize that the authors' metrics code used) and scaled to
    [-1, 1] as x / 127.5 - 1, then run through the graph in batches.
    """

    def __init__(self, graph_def, source, batch_size=5):
        import tensorflow as tf
        self.source, self.batch_size = source, batch_size
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = tf.compat.v1.placeholder(tf.uint8, [None, None, None, 3], name='images')
            x = tf.image.resize(tf.cast(self.images, tf.float32), [IMAGE_SIZE, IMAGE_SIZE],
                                method='bilinear', antialias=True)
            x = x / 127.5 - 1.0
            try:
                (pool,) = tf.import_graph_def(graph_def, input_map={INPUT_TENSOR: x},
                                              return_elements=[OUTPUT_TENSOR], name='inception')
            except (ValueError, TypeError, tf.errors.OpError) as exc:
                raise UserError('%s: cannot use the graph with %s -> %s as input and features: %s'
                                % (source, INPUT_TENSOR, OUTPUT_TENSOR, getattr(exc, 'message', exc)))
            self.features_t = tf.reshape(tf.cast(pool, tf.float64), [tf.shape(pool)[0], -1])
        self.session = tf.compat.v1.Session(graph=self.graph)

    def features(self, images, total=None, desc='Inception features'):
        """Features of an iterable of uint8 [H, W, 3] images (or an [N, H, W, 3] array): float64 [N, D].

        Consecutive images of one size share a batch; a progress bar counts images.
        """
        import tensorflow as tf
        total = len(images) if total is None and hasattr(images, '__len__') else total
        out = []
        with tqdm(total=total, desc=desc, unit='img', disable=total is not None and total < 2) as bar:
            for batch in _batches(images, self.batch_size):
                try:
                    out.append(self.session.run(self.features_t, {self.images: batch}))
                except tf.errors.OpError as exc:
                    raise UserError('%s: running the Inception graph failed: %s' % (self.source, exc.message))
                bar.update(len(batch))
        if not out:
            return np.zeros((0, 0))
        return np.concatenate(out)



def _batches(images, batch_size):
    """Stacks of at most batch_size consecutive images of one shape."""
    chunk = []
    for image in images:
        if chunk and (len(chunk) == batch_size or image.shape != chunk[0].shape):
            yield np.stack(chunk)
            chunk = []
        chunk.append(np.asarray(image, np.uint8))
    if chunk:
        yield np.stack(chunk)


def load_inception(path=None, batch_size=5, **find_kwargs):
    """The Inception feature extractor: find_graph(path, **find_kwargs), parsed, checked and imported."""
    source = find_graph(path, **find_kwargs)
    return InceptionFeatures(read_graph_def(source), source, batch_size)
