"""--phase download: fetch a released selfie2anime checkpoint, unpack it into the official layout
and check it against the released architecture before saying "ready".

Sources, in the order `--source auto` tries them:
  gdrive  the authors' zip archives on Google Drive (the links of the official README), through
          `gdown`, which handles Drive's confirmation page for large files;
  mirror  the Hugging Face model repository hylee/UGATIT_model, which holds the 100-epoch
          checkpoint's files in the official folder (no archive).

Everything a test or a private mirror needs to change is in SOURCES (a module-level table) and
in the environment variable UGATIT_MIRROR_URL (base URL of a mirror with the Hugging Face
layout, `<base>/<model_dir>/<file>`). See docs/pretrained.md.

Every request has a connect and a read timeout (CONNECT_TIMEOUT, READ_TIMEOUT) and is announced
by a line naming what it waits for; ugatit/assets/dataset_download.py uses the same machinery.
"""

import inspect
import json
import math
import os
import time
from urllib.parse import urlsplit

import requests
from tqdm import tqdm

from ugatit.model import checkpoint as ckpt
from ugatit.assets.archive import ArchiveError, extract_checkpoint, write_errors_named
from ugatit.config import Config, ModelConfig, PathConfig
from ugatit.errors import UserError
from utils import check_disk_space, write_atomic

# The released checkpoints: the official default architecture (full model, 256 px) and losses
# (TrainConfig()), trained on selfie2anime.
RELEASED_MODEL = ModelConfig()
RELEASED_DATASET = 'selfie2anime'

MIRROR_URL = os.environ.get('UGATIT_MIRROR_URL', 'https://huggingface.co/hylee/UGATIT_model/resolve/main')
MIRROR_PAGE = 'https://huggingface.co/hylee/UGATIT_model/tree/main'

GB = 1e9
# archive_url: a plain HTTP copy of the Drive zip, used instead of gdown when set (tests, mirrors).
# mirror_files: the file names under <mirror>/<model_dir>/ (None: the mirror lacks this model).
# *_bytes: what the disk check plans for. The zips are about 4.7 GB (reports in the official
# issues); a full training checkpoint of the released architecture is 8,049,363,696 bytes of
# variables (G, D and Adam slots), plus its index and graph files. archive_bytes_exact: the
# archive's exact size when it is known (None: the length the server announces is checked).
SOURCES = {
    'selfie2anime-100': dict(
        epochs=100, gdrive_id='19xQK2onIy-3S5W5K-XIh85pAg_RNvBVf', archive_url=None,
        mirror_files=('UGATIT.model-1000000.index', 'UGATIT.model-1000000.data-00000-of-00001'),
        archive_bytes=4.8 * GB, unpacked_bytes=8.1 * GB, archive_bytes_exact=None),
    'selfie2anime-50': dict(
        epochs=50, gdrive_id='1V6GbSItG3HZKv3quYs7AP0rr1kOCT3QO', archive_url=None, mirror_files=None,
        archive_bytes=4.8 * GB, unpacked_bytes=8.1 * GB, archive_bytes_exact=None),
}
# Every request gives up on a server that does not answer: seconds to connect, and seconds
# without a byte while waiting for the answer or the data (a network that accepts connections
# and never answers would otherwise be waited on forever, issue #25).
CONNECT_TIMEOUT = 20
READ_TIMEOUT = 60
GDOWN_WITH_TIMEOUT = 'gdown>=6.3,<7'  # gdown.download() takes a timeout since 6.3
# Google Drive: the page a browser downloads a file from (the official README's links), and the
# URL gdown.download(id=...) starts from, a constant so that tests can point it elsewhere.
DRIVE_PAGE_URL = 'https://drive.google.com/file/d/{}/view'
DRIVE_DOWNLOAD_URL = 'https://drive.google.com/uc?id={}'
RETRIES = 4          # extra attempts per file after a dropped connection
RETRY_DELAY = 2.0    # seconds before the first retry, doubled each time (tests set 0)
CHUNK = 1 << 16     # bytes per write: what a dropped connection can lose of the last block


class DownloadError(Exception):
    """One source failed (network, quota, bad archive); `auto` moves on to the next source."""


def released_config(config):
    """The Config of the released architecture's test phase, in config's --checkpoint_dir."""
    return Config(phase='test', model=RELEASED_MODEL, download=config.download,
                  paths=PathConfig(dataset=RELEASED_DATASET, checkpoint_dir=config.paths.checkpoint_dir))


def expected_variables(config):
    """The tf.Variables the test phase restores for `config` (names, shapes), taken from the
    model code itself: the generators are built in a new graph and never run."""
    import tensorflow as tf
    from ugatit.infer.translator import build_generators
    with tf.Graph().as_default():
        build_generators(config.model)
        return tf.compat.v1.global_variables()


def verify_checkpoint(prefix, config):
    """Check every variable the released architecture needs by name and shape (check_compatible),
    and that the data shards are large enough for the checkpoint's tensors.

    Returns the names of leftover variables that are ignored (see check_compatible)."""
    import tensorflow as tf
    ignored = ckpt.check_compatible(prefix, expected_variables(config), config.model)
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    needed = sum(math.prod(shape) * dtypes[name].size for name, shape in reader.get_variable_to_shape_map().items())
    folder, base = os.path.split(prefix)
    shards = [n for n in os.listdir(folder or '.') if n.startswith(base + '.data-')]
    have = sum(os.path.getsize(os.path.join(folder, n)) for n in shards)
    if have < needed:
        raise UserError('checkpoint %s is truncated: its data files hold %d bytes, its tensors need %d. '
                        'Delete them and download again.' % (prefix, have, needed))
    return ignored


def not_enough_space(what, flag='--checkpoint_dir'):
    """The message of utils.check_disk_space when `what` does not fit; `flag` is the option that
    chooses another place."""
    return lambda folder, needed, free: ('not enough disk space in %s: %s needs %s, %s are free. Free some '
                                         'space or pass another %s.' % (folder, what, needed, free, flag))


def _total_size(response, offset):
    """The full file size announced by a 200/206 response (None when the server does not say)."""
    content_range = response.headers.get('Content-Range', '')
    if '/' in content_range and not content_range.endswith('/*'):
        return int(content_range.rsplit('/', 1)[1])
    length = response.headers.get('Content-Length')
    return int(length) + offset if length is not None else None


def _fetch_once(url, part, desc):
    """One HTTP request appending to `part` from its current size (HTTP Range).

    Returns the announced total size (or None). Raises requests exceptions on network errors."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {'Accept-Encoding': 'identity'}  # the bytes as stored, so that sizes and offsets agree
    if have:
        headers['Range'] = 'bytes=%d-' % have
    with requests.get(url, headers=headers, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)) as r:
        if r.status_code == 416 and have:  # nothing left to send: the part file is complete
            return _total_size(r, 0) if r.headers.get('Content-Range') else have
        if r.status_code not in (200, 206):
            raise DownloadError('%s answered HTTP %d %s' % (url, r.status_code, r.reason))
        if r.status_code == 200 and have:
            have = 0  # the server ignored the Range header: start over
        total = _total_size(r, have)
        with open(part, 'ab' if have else 'wb') as f, \
                tqdm(total=total, initial=have, unit='B', unit_scale=True, desc=desc, leave=False) as bar:
            for block in r.iter_content(CHUNK):
                f.write(block)
                bar.update(len(block))
    return total


def fetch(url, dest, expected_size=None):
    """Download `url` to `dest`, resuming `dest + '.part'` after a dropped connection (here or in
    an earlier run), with a progress bar. The size is checked against the size the server
    announced and `expected_size` (when given) before `dest` appears (os.replace).

    Raises DownloadError when the server cannot be reached or the size is wrong."""
    part = dest + '.part'
    desc = os.path.basename(dest)
    stalls, total = 0, None
    announce(url)
    for attempt in range(RETRIES + 1):
        before = os.path.getsize(part) if os.path.exists(part) else 0
        try:
            total = _fetch_once(url, part, desc)
        except requests.RequestException as exc:
            # A drop mid-transfer is retried; a server that sends nothing twice is given up on.
            stalls += (os.path.getsize(part) if os.path.exists(part) else 0) == before
            if attempt == RETRIES or stalls == 2:
                raise DownloadError('cannot download %s: %s' % (url, _reason(exc)))
            tqdm.write(' [!] %s: %s; trying again' % (desc, _reason(exc)))
            time.sleep(RETRY_DELAY * 2 ** attempt)
            continue
        if total is not None and os.path.getsize(part) < total and attempt < RETRIES:
            tqdm.write(' [!] %s: %d of %d bytes received; resuming' % (desc, os.path.getsize(part), total))
            continue
        break
    size = os.path.getsize(part)
    for want, source in ((total, 'the server announced'), (expected_size, 'expected')):
        if want is not None and size != want:
            raise DownloadError('%s is %d bytes, %s %d: the download is incomplete or not the released file. '
                                'Delete %s and try again.' % (part, size, source, want, part))
    os.replace(part, dest)
    return dest


def announce(url):
    """Say, before a request that may wait, what it waits for and how long at most."""
    print(' [*] Waiting for %s (%s): giving up after %d s without a connection or %d s without data'
          % (urlsplit(url).netloc, url, CONNECT_TIMEOUT, READ_TIMEOUT), flush=True)


def _reason(exc):
    """A one-line reason for a network or gdown exception (connection refused, quota, ...)."""
    text = str(exc)
    for key in ('Connection refused', 'Name or service not known', 'timed out', 'Temporary failure'):
        if key in text:
            return key.lower()
    return ' '.join(line.strip() for line in text.splitlines() if line.strip())[:300] or type(exc).__name__


def _stash(config, model):
    """<checkpoint_dir>/.download/<model>: partial downloads live here until they are complete."""
    path = os.path.join(config.paths.checkpoint_dir, '.download', model)
    os.makedirs(path, exist_ok=True)
    return path


def _bytes_in(folder):
    return sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))


def _takes_timeout(function):
    """Whether `function` accepts a `timeout` keyword (gdown.download does since gdown 6.3)."""
    parameters = inspect.signature(function).parameters.values()
    return any(p.name == 'timeout' or p.kind == p.VAR_KEYWORD for p in parameters)


def gdrive_download(file_id, archive):
    """Download a Drive file with gdown (it answers Drive's confirmation page and resumes its
    own partial file), with the network timeouts. Raises DownloadError."""
    try:
        import gdown
    except ImportError:
        raise DownloadError('the gdown package is missing (pip install -r requirements.txt)')
    if not _takes_timeout(gdown.download):  # an older gdown would wait forever on a silent network
        raise DownloadError('gdown %s cannot give up on a server that does not answer; pip install "%s"'
                            % (getattr(gdown, '__version__', '(unknown version)'), GDOWN_WITH_TIMEOUT))
    url = DRIVE_DOWNLOAD_URL.format(file_id)
    announce(url)
    try:
        gdown.download(url=url, output=archive, quiet=False, resume=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
    except Exception as exc:  # gdown's own errors (quota, permission) and requests' (network)
        raise DownloadError('Google Drive: %s' % _reason(exc))
    if not os.path.isfile(archive):
        raise DownloadError('Google Drive: nothing was downloaded')


def unpack(archive, folder):
    """Extract the checkpoint of a zip archive into folder; returns the prefix (DownloadError;
    UserError on a full disk or an unwritable folder)."""
    try:
        with write_errors_named(archive, folder, '--checkpoint_dir'):
            return extract_checkpoint(archive, folder)
    except ArchiveError as exc:
        raise DownloadError('%s. Delete %s and download it again.' % (exc, archive))


def from_gdrive(model, config, folder):
    """Source 'gdrive': the official zip (gdown, or archive_url over plain HTTP), unpacked."""
    entry, stash = SOURCES[model], _stash(config, model)
    archive = os.path.join(stash, model + '.zip')
    if not os.path.isfile(archive):
        check_disk_space(folder, entry['archive_bytes'] + entry['unpacked_bytes'] - _bytes_in(stash),
                         not_enough_space('the archive and its unpacked checkpoint'))
        if entry['archive_url']:
            fetch(entry['archive_url'], archive, entry['archive_bytes_exact'])
        else:
            gdrive_download(entry['gdrive_id'], archive)
    else:
        check_disk_space(folder, entry['unpacked_bytes'], not_enough_space('the unpacked checkpoint'))
    size = os.path.getsize(archive)
    if entry['archive_bytes_exact'] is not None and size != entry['archive_bytes_exact']:
        raise DownloadError('%s is %d bytes, the released archive %d. Delete it and download it again.'
                            % (archive, size, entry['archive_bytes_exact']))
    prefix = unpack(archive, folder)
    os.remove(archive)  # 4.7 GB that are no longer needed
    return prefix


def from_mirror(model, config, folder):
    """Source 'mirror': the checkpoint files in the official folder of a Hugging Face-style mirror."""
    entry = SOURCES[model]
    if not entry['mirror_files']:
        raise DownloadError('the mirror %s holds no %s checkpoint' % (MIRROR_PAGE, model))
    stash = _stash(config, model)
    check_disk_space(folder, entry['unpacked_bytes'] - _bytes_in(stash), not_enough_space('the checkpoint files'))
    base = '%s/%s' % (MIRROR_URL.rstrip('/'), os.path.basename(folder))
    for name in entry['mirror_files']:
        if not os.path.isfile(os.path.join(stash, name)):
            fetch('%s/%s' % (base, name), os.path.join(stash, name))
    os.makedirs(folder, exist_ok=True)
    for name in entry['mirror_files']:  # only complete sets reach the official folder
        os.replace(os.path.join(stash, name), os.path.join(folder, name))
    return os.path.join(folder, entry['mirror_files'][0][:-len('.index')])


FETCHERS = {'gdrive': from_gdrive, 'mirror': from_mirror}


def manual_steps(model, folder, failures):
    """The error text when no source worked: what failed, and how to do it by hand."""
    entry = SOURCES[model]
    lines = ['could not download %s:' % model] + ['  %s: %s' % (name, err) for name, err in failures]
    lines += ['Download it by hand instead, either',
              '  - the %d-epoch zip from %s (the official README links it), '
              'then run this command again with --archive PATH/TO/THE.zip (it also unpacks the archives '
              'that `unzip` rejects)' % (entry['epochs'], DRIVE_PAGE_URL.format(entry['gdrive_id']))]
    if entry['mirror_files']:
        lines.append('  - or the files %s from %s/%s'
                     % (' and '.join(entry['mirror_files']), MIRROR_PAGE, os.path.basename(folder)))
    lines.append('The checkpoint belongs in %s%s (its .index and .data-00000-of-00001 files).' % (folder, os.sep))
    return '\n'.join(lines)


def _marker(folder):
    return os.path.join(folder, 'download.json')


def _existing(model, folder, arch):
    """The prefix of a checkpoint already in folder (checked), or None. Refuses a folder that
    holds the other released model or a checkpoint that does not pass the checks."""
    prefix = ckpt.latest_in_folder(folder)
    if prefix is None:
        return None
    try:
        with open(_marker(folder)) as f:
            held = json.load(f).get('model')
    except (OSError, ValueError):
        held = None
    if held and held != model:
        raise UserError('%s already holds %s. Pass another --checkpoint_dir to download %s.' % (folder, held, model))
    print(' [*] %s already holds %s%s: checking it' % (folder, os.path.basename(prefix), '' if held else
                                                       ' (not downloaded by this command)'))
    try:
        verify_checkpoint(prefix, arch)
    except UserError as exc:
        raise UserError('%s\nRemove %s (or pass another --checkpoint_dir) to download %s again.' % (exc, folder, model))
    return prefix


def download(config):
    """Get the released checkpoint config.download.model into <checkpoint_dir>/<model_dir> and
    check it. Returns the checkpoint prefix. Raises UserError (with the manual steps when no
    source worked)."""
    model, archive = config.download.model, config.download.archive
    arch = released_config(config)
    folder = arch.run_folder('checkpoint')
    prefix = _existing(model, folder, arch)
    if prefix is not None:
        return prefix
    if archive:
        if not os.path.isfile(archive):
            raise UserError('--archive %s: no such file' % archive)
        check_disk_space(folder, SOURCES[model]['unpacked_bytes'], not_enough_space('the unpacked checkpoint'))
        try:
            prefix = unpack(archive, folder)
        except DownloadError as exc:
            raise UserError(str(exc))
    else:
        prefix = _download_any(model, config, folder)
    try:
        ignored = verify_checkpoint(prefix, arch)
    except UserError as exc:
        raise UserError('%s\nThe files are in %s; delete them to download again.' % (exc, folder))
    ckpt.write_state_file(folder, prefix)
    write_atomic(_marker(folder), json.dumps({'model': model, 'ignored_variables': ignored}, indent=1).encode())
    return prefix


def _remove_empty_stash(config):
    stash = os.path.join(config.paths.checkpoint_dir, '.download')
    for empty in (os.path.join(stash, config.download.model), stash):
        try:
            os.rmdir(empty)
        except OSError:  # absent, or it holds a partial download to resume
            pass


def _download_any(model, config, folder):
    """Try the sources --source names, in order; the first that works gives the prefix."""
    source = config.download.source
    names = ('gdrive', 'mirror') if source == 'auto' else (source,)
    failures = []
    for name in names:
        print(' [*] Downloading %s from %s' % (model, name))
        try:
            return FETCHERS[name](model, config, folder)
        except DownloadError as exc:
            print(' [!] %s: %s' % (name, exc))
            failures.append((name, exc))
    raise UserError(manual_steps(model, folder, failures))


def next_commands(config):
    """The commands that use the downloaded checkpoint."""
    checkpoint_dir = config.paths.checkpoint_dir
    extra = '' if checkpoint_dir == 'checkpoint' else ' --checkpoint_dir %s' % checkpoint_dir
    return ['python main.py --phase test --dataset selfie2anime' + extra,
            'python main.py --phase test --dataset selfie2anime%s --input photo.jpg --align_face' % extra]


def run_download(config):
    """--phase download: returns the exit status 0 when ready; raises UserError otherwise."""
    try:
        prefix = download(config)
    finally:
        _remove_empty_stash(config)
    print(' [*] ready: %s is %s' % (config.download.model, prefix))
    print('Next:\n  ' + '\n  '.join(next_commands(config)))
    return 0
