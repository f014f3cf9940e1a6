"""--phase download against a local HTTP server (127.0.0.1, started and stopped by each test)
serving archives and files built from reference checkpoint a; no test reaches the internet."""

import copy
import dataclasses
import json
import os
import re
import shutil
from collections import namedtuple

import pytest

import main
from ugatit import cli
from tests.support.checkpoints import A_FOLDER, reference_a_folder
from tests.support import shared_path
from tests.support.net import closed_port_url, server, silent_server  # noqa: F401 (fixtures)
from ugatit.assets import download
from ugatit.config import ModelConfig
from tests.support.zips import checkpoint_zip

PREFIX = 'UGATIT_light.model-1000'
FILES = (PREFIX + '.index', PREFIX + '.data-00000-of-00001')
# Reference a's architecture stands in for the released one (light, ch 8, 64 px, dataset tiny).
A_RELEASED = ModelConfig(light=True, ch=8, img_size=64)
REAL_GDOWN = download.gdrive_download  # the `sources` fixture replaces it; the gdown tests put it back


@pytest.fixture
def sources(monkeypatch):
    """The module's tables pointed at reference a; returns the selfie2anime-100 entry to edit."""
    monkeypatch.setattr(download, 'RELEASED_MODEL', A_RELEASED)
    monkeypatch.setattr(download, 'RELEASED_DATASET', 'tiny')
    monkeypatch.setattr(download, 'RETRY_DELAY', 0.0)
    table = copy.deepcopy(download.SOURCES)
    for entry in table.values():
        entry.update(archive_url=None, archive_bytes=1e5, unpacked_bytes=1e5)
    table['selfie2anime-100']['mirror_files'] = FILES
    monkeypatch.setattr(download, 'SOURCES', table)
    monkeypatch.setattr(download, 'MIRROR_URL', closed_port_url())

    def no_gdown(file_id, archive):
        raise download.DownloadError('Google Drive: not reachable in tests')
    monkeypatch.setattr(download, 'gdrive_download', no_gdown)
    return table['selfie2anime-100']


def _zip_bytes(tmp_path, **kw):
    path = checkpoint_zip(str(tmp_path / 'served.zip'), reference_a_folder(), PREFIX, A_FOLDER, **kw)
    with open(path, 'rb') as f:
        data = f.read()
    os.remove(path)
    return data


def _serve_mirror(server):
    for name in FILES:
        with open(os.path.join(reference_a_folder(), name), 'rb') as f:
            server.files['/%s/%s' % (A_FOLDER, name)] = f.read()


def run(capsys, tmp_path, *flags):
    rc = main.main(['--phase', 'download', '--checkpoint_dir', str(tmp_path / 'ckpt')] + list(flags))
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_ready(tmp_path, out):
    folder = tmp_path / 'ckpt' / A_FOLDER
    assert ' [*] ready: selfie2anime-100 is %s' % (folder / PREFIX) in out
    assert 'python main.py --phase test --dataset selfie2anime --checkpoint_dir %s' % (tmp_path / 'ckpt') in out
    for name in FILES:
        with open(folder / name, 'rb') as got, open(os.path.join(reference_a_folder(), name), 'rb') as want:
            assert got.read() == want.read()
    # The state file names the checkpoint relative to its folder, as the official save() does.
    assert 'model_checkpoint_path: "%s"' % PREFIX in (folder / 'checkpoint').read_text()
    assert json.loads((folder / 'download.json').read_text())['model'] == 'selfie2anime-100'
    assert not os.path.exists(tmp_path / 'ckpt' / '.download')  # no partial file or folder left over


def test_archive_download_success(server, sources, tmp_path, capsys):
    server.files['/a.zip'] = _zip_bytes(tmp_path)
    sources['archive_url'] = server.url + '/a.zip'
    rc, out, err = run(capsys, tmp_path, '--source', 'gdrive')
    assert rc == 0, err
    _assert_ready(tmp_path, out)


def test_interrupted_archive_download_is_resumed(server, sources, tmp_path, capsys):
    data = _zip_bytes(tmp_path)
    server.files['/a.zip'] = data
    server.drop['/a.zip'] = len(data) // 3
    sources['archive_url'] = server.url + '/a.zip'
    rc, out, err = run(capsys, tmp_path, '--source', 'gdrive')
    assert rc == 0, err
    # The second request asks for the rest: what arrived in whole blocks before the drop is kept.
    assert [path for path, _ in server.requests] == ['/a.zip', '/a.zip'] and server.requests[0][1] is None
    assert 0 < int(re.match(r'bytes=(\d+)-$', server.requests[1][1]).group(1)) <= len(data) // 3
    _assert_ready(tmp_path, out)


def test_mirror_download_resumes_a_dropped_file_and_the_next_run_finds_it(server, sources, tmp_path, capsys, monkeypatch):
    _serve_mirror(server)
    data_path = '/%s/%s' % (A_FOLDER, FILES[1])
    server.drop[data_path] = 200000
    monkeypatch.setattr(download, 'MIRROR_URL', server.url)
    rc, out, err = run(capsys, tmp_path, '--source', 'mirror')
    assert rc == 0, err
    assert [r for r in server.requests if r[0] == data_path][1][1] in ('bytes=131072-', 'bytes=196608-')
    _assert_ready(tmp_path, out)
    served = len(server.requests)
    rc, out, err = run(capsys, tmp_path)  # again: already there, checked, nothing downloaded
    assert rc == 0 and 'already holds' in out and len(server.requests) == served


def test_auto_falls_back_from_google_drive_to_the_mirror(server, sources, tmp_path, capsys, monkeypatch):
    """gdown's quota error (its exception) makes `auto` try the mirror; gdown gets the Drive id
    (in the URL gdown.download(id=...) would build) and the network timeouts."""
    import gdown
    calls = []

    def quota(**kw):
        calls.append(kw)
        raise gdown.exceptions.FileURLRetrievalError(
            'Failed to retrieve file url:\n\n\tToo many users have viewed or downloaded this file recently.')
    monkeypatch.setattr(gdown, 'download', quota)
    monkeypatch.setattr(download, 'gdrive_download', REAL_GDOWN)
    _serve_mirror(server)
    monkeypatch.setattr(download, 'MIRROR_URL', server.url)
    rc, out, err = run(capsys, tmp_path)
    assert rc == 0, err
    assert calls[0]['url'] == 'https://drive.google.com/uc?id=19xQK2onIy-3S5W5K-XIh85pAg_RNvBVf'
    assert calls[0]['resume'] is True and calls[0]['timeout'] == (20, 60)
    assert 'Too many users' in out
    _assert_ready(tmp_path, out)


def test_corrupt_archive_is_refused_and_nothing_is_installed(server, sources, tmp_path, capsys):
    server.files['/a.zip'] = _zip_bytes(tmp_path, corrupt=True)
    sources['archive_url'] = server.url + '/a.zip'
    rc, out, err = run(capsys, tmp_path, '--source', 'gdrive')
    assert rc == 2
    assert 'corrupt' in err and 'Delete' in err and 'Traceback' not in err
    assert not os.path.exists(tmp_path / 'ckpt' / A_FOLDER / FILES[0])


def test_wrong_archive_size_is_refused(server, sources, tmp_path, capsys):
    data = _zip_bytes(tmp_path)
    server.files['/a.zip'] = data
    sources.update(archive_url=server.url + '/a.zip', archive_bytes_exact=len(data) + 1)
    rc, out, err = run(capsys, tmp_path, '--source', 'gdrive')
    assert rc == 2
    assert '%d bytes, expected %d' % (len(data), len(data) + 1) in err
    assert not os.path.exists(tmp_path / 'ckpt' / A_FOLDER)


def test_not_enough_disk_space_stops_before_downloading(server, sources, tmp_path, capsys, monkeypatch):
    server.files['/a.zip'] = _zip_bytes(tmp_path)
    sources.update(archive_url=server.url + '/a.zip', archive_bytes=4.8e9, unpacked_bytes=8.1e9)
    usage = namedtuple('usage', 'total used free')
    monkeypatch.setattr(shutil, 'disk_usage', lambda path: usage(10e9, 8e9, 2e9))
    rc, out, err = run(capsys, tmp_path, '--source', 'gdrive')
    assert rc == 2
    assert 'not enough disk space' in err and '12.9 GB' in err and '2.0 GB are free' in err
    assert server.requests == []


def test_no_network_gives_the_manual_steps_and_the_folder(sources, tmp_path, capsys):
    sources['archive_url'] = closed_port_url() + '/a.zip'
    rc, out, err = run(capsys, tmp_path)
    assert rc == 2
    assert 'could not download selfie2anime-100' in err
    assert 'connection refused' in err
    assert 'https://drive.google.com/file/d/19xQK2onIy-3S5W5K-XIh85pAg_RNvBVf/view' in err
    assert 'https://huggingface.co/hylee/UGATIT_model/tree/main/' + A_FOLDER in err
    assert '--archive' in err
    assert str(tmp_path / 'ckpt' / A_FOLDER) + os.sep in err
    assert 'Traceback' not in err


@pytest.fixture
def short_timeouts(monkeypatch):
    monkeypatch.setattr(download, 'CONNECT_TIMEOUT', 0.5)
    monkeypatch.setattr(download, 'READ_TIMEOUT', 0.5)


def test_mirror_gives_up_on_a_server_that_never_answers(sources, silent_server, short_timeouts, tmp_path,
                                                         capsys, monkeypatch):
    """Issue #25: a server that accepts and never answers; the read timeout ends each attempt,
    and a line said beforehand what is waited for."""
    monkeypatch.setattr(download, 'MIRROR_URL', silent_server)
    rc, out, err = run(capsys, tmp_path, '--source', 'mirror')
    assert rc == 2
    assert ' [*] Waiting for %s (%s/%s/' % (silent_server[len('http://'):], silent_server, A_FOLDER) in out
    assert 'mirror: cannot download %s/%s/%s: timed out' % (silent_server, A_FOLDER, FILES[0]) in err
    assert 'Traceback' not in err


def test_google_drive_gives_up_on_a_server_that_never_answers(sources, silent_server, short_timeouts, tmp_path,
                                                               capsys, monkeypatch):
    """Issue #25: gdown (the real one) waited forever on such a server; it gets the timeouts."""
    monkeypatch.setattr(download, 'gdrive_download', REAL_GDOWN)
    monkeypatch.setattr(download, 'DRIVE_DOWNLOAD_URL', silent_server + '/uc?id={}')
    rc, out, err = run(capsys, tmp_path, '--source', 'gdrive')
    assert rc == 2
    assert ' [*] Waiting for %s (%s/uc?id=19xQK2onIy' % (silent_server[len('http://'):], silent_server) in out
    assert 'gdrive: Google Drive: timed out' in err
    assert 'https://drive.google.com/file/d/19xQK2onIy-3S5W5K-XIh85pAg_RNvBVf/view' in err  # the manual steps


def test_a_gdown_without_timeouts_is_not_used(sources, tmp_path, capsys, monkeypatch):
    """gdown before 6.3 has no timeout parameter: it would wait forever on a silent network."""
    import gdown
    calls = []
    monkeypatch.setattr(gdown, 'download', lambda url=None, output=None, quiet=False, id=None, resume=False:
                        calls.append(url))
    monkeypatch.setattr(download, 'gdrive_download', REAL_GDOWN)
    rc, out, err = run(capsys, tmp_path, '--source', 'gdrive')
    assert rc == 2 and calls == []
    assert 'cannot give up on a server that does not answer; pip install "gdown>=6.3,<7"' in err


def test_archive_with_a_member_name_that_is_not_utf8_is_refused(sources, tmp_path, capsys):
    """Issue #25: a member name flagged UTF-8 that is not gave a UnicodeDecodeError traceback."""
    archive = checkpoint_zip(str(tmp_path / 'by_hand.zip'), reference_a_folder(), PREFIX, A_FOLDER, bad_name=True)
    rc, out, err = run(capsys, tmp_path, '--archive', archive)
    assert rc == 2
    assert 'error: %s: the name of member' % archive in err and 'not valid UTF-8' in err
    assert 'Traceback' not in err and not os.path.exists(tmp_path / 'ckpt' / A_FOLDER / FILES[0])


def test_archive_flag_unpacks_a_zip_downloaded_by_hand(sources, tmp_path, capsys):
    archive = checkpoint_zip(str(tmp_path / 'by_hand.zip'), reference_a_folder(), PREFIX, A_FOLDER)
    rc, out, err = run(capsys, tmp_path, '--archive', archive)
    assert rc == 0, err
    _assert_ready(tmp_path, out)
    rc, out, err = run(capsys, tmp_path, '--model', 'selfie2anime-50', '--archive', archive)
    assert rc == 2 and 'already holds selfie2anime-100' in err


def test_downloaded_checkpoint_of_another_architecture_is_refused(server, sources, tmp_path, capsys):
    """The check after the download: reference b (the full model) where a (light) is expected."""
    b = shared_path('reference', 'b', 'checkpoint', 'UGATIT_tiny_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing')
    with open(checkpoint_zip(str(tmp_path / 'b.zip'), b, 'UGATIT.model-1000', A_FOLDER), 'rb') as f:
        server.files['/b.zip'] = f.read()
    sources['archive_url'] = server.url + '/b.zip'
    rc, out, err = run(capsys, tmp_path, '--source', 'gdrive')
    assert rc == 2
    assert '--light False (the flags say True)' in err and 'delete them' in err


def test_expected_variables_are_the_released_architecture():
    """The names and shapes --phase download checks are those of the official test graph of the
    released selfie2anime model (../shared/reference/e), built from the project's model code."""
    want = json.load(open(shared_path('reference', 'e', 'graph_variables.json')))['variables']
    got = download.expected_variables(download.released_config(cli.parse_config(['--phase', 'download'])))
    assert [(v.op.name, v.shape.as_list()) for v in got] == [(v['name'], v['shape']) for v in want]


def test_a_training_checkpoint_passes_the_check_without_warnings(monkeypatch, capfd):
    """The released files are training checkpoints (discriminators, Adam slots): those are not
    leftovers of the generators, so the check neither refuses nor lists them."""
    cfg = shared_path('reference', 'a_train_ndis4', 'checkpoint',
                      'UGATIT_light_tiny_lsgan_4resblock_4dis_1_1_10_10_1000_sn_smoothing')
    monkeypatch.setattr(download, 'RELEASED_MODEL', dataclasses.replace(A_RELEASED, n_dis=4))
    config = download.released_config(cli.parse_config(['--phase', 'download']))
    assert download.verify_checkpoint(os.path.join(cfg, 'UGATIT_light.model-1000'), config) == []
    assert 'warning' not in capfd.readouterr().err
