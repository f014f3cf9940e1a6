"""--phase download --what dataset on stand-in archives of tiny generated images (local files and
a 127.0.0.1 HTTP server; no test reaches the internet, no image of the dataset is used)."""

import copy
import io
import os
import zipfile

import pytest
from PIL import Image

import main
from ugatit import cli
from tests.support.net import closed_port_url, server  # noqa: F401 (fixture)
from ugatit.assets import dataset_download
from ugatit.assets.dataset_download import DATASETS, count_problems
from tests.support.zips import BAD_UTF8_NAME, ZipWriter

SMALL = {'trainA': 3, 'trainB': 3, 'testA': 1, 'testB': 1}
PAGE = 'https://drive.google.com/file/d/1xOWj1UVgp6NKMT3HbPhBbtq2A4EDkghF/view'


def image(kind, size=256):
    """A small valid image file's bytes (one colour; a 1-bit PNG is about 100 bytes)."""
    buf = io.BytesIO()
    Image.new('1' if kind == 'PNG' else 'L', (size, size)).save(buf, kind)
    return buf.getvalue()


def members(counts, root='selfie2anime/', size=256):
    """{name: bytes} laid out as the release: JPEG selfies, and anime faces that are PNG data
    named .jpg (decoded by content)."""
    jpeg, png = image('JPEG', size), image('PNG', size)
    return {'%s%s/%04d.jpg' % (root, split, i): png if split.endswith('B') else jpeg
            for split, n in counts.items() for i in range(n)}


def write_zip(path, files):
    with zipfile.ZipFile(path, 'w') as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return str(path)


@pytest.fixture
def small_release(monkeypatch):
    """The selfie2anime entry with SMALL counts (the real ones: test_the_real_counts_*);
    returns it to edit (archive_url)."""
    table = copy.deepcopy(DATASETS)
    table['selfie2anime'].update(counts=SMALL, archive_bytes=1e5, unpacked_bytes=1e5)
    monkeypatch.setattr(dataset_download, 'DATASETS', table)
    monkeypatch.setattr(dataset_download.download, 'RETRY_DELAY', 0.0)
    return table['selfie2anime']


def run(capsys, tmp_path, *flags):
    rc = main.main(['--phase', 'download', '--what', 'dataset', '--dataset', 'selfie2anime',
                    '--dataset_dir', str(tmp_path / 'data')] + list(flags))
    out, err = capsys.readouterr()
    return rc, out, err


def nothing_unpacked(tmp_path):
    data = tmp_path / 'data'
    return not data.exists() or sorted(os.listdir(data)) in ([], ['.download'])


def test_the_release_rule_counts_3400_3400_100_100():
    counts = DATASETS['selfie2anime']['counts']
    assert counts == {'trainA': 3400, 'trainB': 3400, 'testA': 100, 'testB': 100}
    assert count_problems(dict(counts), counts) == []
    assert count_problems(dict(counts, trainB=3399, testA=0), counts) == [
        'trainB holds 3399 files, the release 3400', 'testA holds 0 files, the release 100']


def test_the_real_counts_unpack_and_pass_the_check(tmp_path, capsys):
    """7,000 tiny images in the release's layout, with the macOS metadata a zip made on a Mac has."""
    files = members(DATASETS['selfie2anime']['counts'])
    files.update({'__MACOSX/selfie2anime/trainA/._0000.jpg': b'meta', 'selfie2anime/trainB/.DS_Store': b'x',
                  'selfie2anime/readme.txt': b'hello'})
    archive = write_zip(tmp_path / 'selfie2anime.zip', files)
    rc, out, err = run(capsys, tmp_path, '--archive', archive)
    assert rc == 0, err
    folder = tmp_path / 'data' / 'selfie2anime'
    assert ' [*] ready: the selfie2anime dataset is in %s' % folder in out
    assert 'python main.py --dataset selfie2anime --dataset_dir %s' % (tmp_path / 'data') in out
    assert {split: len(os.listdir(folder / split)) for split in SMALL} == DATASETS['selfie2anime']['counts']
    assert (folder / 'trainB' / '0007.jpg').read_bytes() == files['selfie2anime/trainB/0007.jpg']
    assert sorted(os.listdir(tmp_path / 'data')) == ['selfie2anime']  # no staging folder left
    assert os.path.isfile(archive)  # the user's zip is kept


@pytest.mark.parametrize('root', ['', 'selfie2anime/'])
def test_download_over_http_resumes_and_removes_the_zip(server, small_release, tmp_path, capsys, root):
    """The connection drops halfway; the next request asks for the rest (what arrived in whole
    blocks of download.CHUNK is kept: a 300 kB file outside the four folders makes several)."""
    files = dict(members(SMALL, root), **{root + 'notes.bin': os.urandom(300000)})
    data = open(write_zip(tmp_path / 'served.zip', files), 'rb').read()
    server.files['/s.zip'] = data
    server.drop['/s.zip'] = len(data) // 2
    small_release['archive_url'] = server.url + '/s.zip'
    rc, out, err = run(capsys, tmp_path)
    assert rc == 0, err
    assert [path for path, _ in server.requests] == ['/s.zip', '/s.zip'] and server.requests[1][1].startswith('bytes=')
    assert ' [*] Waiting for 127.0.0.1' in out
    assert sorted(os.listdir(tmp_path / 'data')) == ['selfie2anime']  # the zip and .download/ are gone
    assert sorted(os.listdir(tmp_path / 'data' / 'selfie2anime' / 'trainA')) == ['0000.jpg', '0001.jpg', '0002.jpg']


def _refused(capsys, tmp_path, archive, *expected):
    rc, out, err = run(capsys, tmp_path, '--archive', archive)
    assert rc == 2 and 'Traceback' not in err
    assert 'error: %s' % archive in err
    for text in expected:
        assert text in err
    assert nothing_unpacked(tmp_path)
    return err


def test_truncated_zip_is_refused(small_release, tmp_path, capsys):
    whole = open(write_zip(tmp_path / 'whole.zip', members(SMALL)), 'rb').read()
    (tmp_path / 'cut.zip').write_bytes(whole[:len(whole) * 2 // 3])
    _refused(capsys, tmp_path, str(tmp_path / 'cut.zip'), 'not a zip archive, or a truncated one',
             'Check that it is the zip of %s' % PAGE)


def test_not_a_zip_is_refused(small_release, tmp_path, capsys):
    (tmp_path / 'page.zip').write_bytes(b'<html>Google Drive - Quota exceeded</html>')
    _refused(capsys, tmp_path, str(tmp_path / 'page.zip'), 'not a zip archive')


def test_wrong_counts_are_named(small_release, tmp_path, capsys):
    files = members(dict(SMALL, trainB=2))
    del files['selfie2anime/testA/0000.jpg']
    archive = write_zip(tmp_path / 'short.zip', files)
    _refused(capsys, tmp_path, archive, 'is not the released dataset',
             'trainB holds 2 files, the release 3', 'testA holds 0 files, the release 1')


def test_wrong_sizes_and_files_that_are_not_images_are_named(small_release, tmp_path, capsys):
    files = members(SMALL)
    files['selfie2anime/trainA/0001.jpg'] = image('JPEG', 128)
    files['selfie2anime/testB/0000.jpg'] = b'<html>not an image</html>'
    archive = write_zip(tmp_path / 'sizes.zip', files)
    err = _refused(capsys, tmp_path, archive, 'trainA/0001.jpg is 128x128, the release 256x256',
                   'testB/0000.jpg: not an image')
    assert '.unpacking' not in err  # files are named as in the archive, not by a temporary path


def test_member_name_that_is_not_utf8_is_refused(small_release, tmp_path, capsys):
    """Issue #25 for the dataset zip: a name flagged UTF-8 that is not."""
    writer = ZipWriter(str(tmp_path / 'bad.zip'))
    writer.add(BAD_UTF8_NAME, b'x', utf8=True)
    for name, data in members(SMALL).items():
        writer.add(name, data)
    writer.close()
    _refused(capsys, tmp_path, str(tmp_path / 'bad.zip'), 'not valid UTF-8')


def test_a_downloaded_zip_that_fails_the_check_is_kept_and_named(server, small_release, tmp_path, capsys):
    server.files['/s.zip'] = open(write_zip(tmp_path / 's.zip', members(dict(SMALL, trainA=1))), 'rb').read()
    small_release['archive_url'] = server.url + '/s.zip'
    rc, out, err = run(capsys, tmp_path)
    kept = tmp_path / 'data' / '.download' / 'selfie2anime.zip'
    assert rc == 2 and 'error: %s is not the released dataset' % kept in err
    assert 'Delete it and run this command again' in err and kept.is_file()
    assert not (tmp_path / 'data' / 'selfie2anime').exists()


def test_an_existing_dataset_folder_is_never_overwritten(small_release, tmp_path, capsys):
    mine = tmp_path / 'data' / 'selfie2anime' / 'trainA' / 'mine.jpg'
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b'my photo')
    archive = write_zip(tmp_path / 's.zip', members(SMALL))
    rc, out, err = run(capsys, tmp_path, '--archive', archive)
    assert rc == 2 and 'already exists and is not empty: nothing was downloaded or changed' in err
    assert os.listdir(mine.parent) == ['mine.jpg'] and mine.read_bytes() == b'my photo'
    mine.unlink()
    mine.parent.rmdir()  # an empty folder is fine
    rc, out, err = run(capsys, tmp_path, '--archive', archive)
    assert rc == 0, err


def test_no_network_gives_the_manual_steps(small_release, tmp_path, capsys):
    small_release['archive_url'] = closed_port_url() + '/s.zip'
    rc, out, err = run(capsys, tmp_path)
    assert rc == 2 and 'Traceback' not in err
    assert 'could not download the selfie2anime dataset' in err and 'connection refused' in err
    zip_path = tmp_path / 'data' / 'selfie2anime.zip'
    assert PAGE in err and 'save it anywhere, e.g. as %s' % zip_path in err
    assert ('python main.py --phase download --what dataset --dataset selfie2anime --dataset_dir %s --archive %s'
            % (tmp_path / 'data', zip_path)) in err
    assert str(tmp_path / 'data' / 'selfie2anime') + os.sep in err
    assert nothing_unpacked(tmp_path) and not (tmp_path / 'data' / '.download').exists()


@pytest.mark.parametrize('flags, message', [
    (['--phase', 'download', '--what', 'dataset', '--dataset', 'horse2zebra'], 'downloads selfie2anime'),
    (['--phase', 'download', '--what', 'dataset', '--source', 'mirror'], 'no mirror of the dataset'),
    (['--phase', 'train', '--what', 'dataset'], '--what dataset applies to --phase download'),
])
def test_flags_that_do_not_go_with_the_dataset(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.parse_config(flags)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_a_disk_that_fills_while_unpacking_names_the_archive_and_the_folder(small_release, tmp_path, capsys,
                                                                            monkeypatch):
    import errno
    from ugatit.assets import archive as archive_module
    zip_path = write_zip(tmp_path / 'selfie2anime.zip', members(SMALL))
    real_copy, copies = archive_module.shutil.copyfileobj, []

    def fills_up(src, dst, length=0):
        copies.append(1)
        if len(copies) > 2:
            raise OSError(errno.ENOSPC, 'No space left on device')  # as a real write: no file name
        real_copy(src, dst, length)
    monkeypatch.setattr(archive_module.shutil, 'copyfileobj', fills_up)
    rc, out, err = run(capsys, tmp_path, '--archive', zip_path)
    assert rc == 2 and 'Traceback' not in err and nothing_unpacked(tmp_path)
    assert err.splitlines()[-1] == (
        'error: cannot unpack %s into %s: No space left on device. Nothing was unpacked there (the files written so '
        'far are removed): free some space there, or choose another --dataset_dir'
        % (zip_path, tmp_path / 'data' / 'selfie2anime'))
