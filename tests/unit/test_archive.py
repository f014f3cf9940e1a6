"""Unpacking checkpoint zips, including one with the defect of the released archives."""

import os
import shutil
import subprocess
import zipfile

import pytest

from tests.support.checkpoints import A_FOLDER, reference_a_folder
from ugatit.assets import archive as archive_module
from ugatit.assets.archive import ArchiveError, checkpoint_member, complete_prefix, extract_checkpoint
from tests.support.zips import checkpoint_zip

PREFIX = 'UGATIT_light.model-1000'
FILES = (PREFIX + '.index', PREFIX + '.data-00000-of-00001')


@pytest.fixture
def defective_zip(tmp_path):
    """Reference checkpoint a in a zip whose central directory starts beyond 4 GiB (a sparse
    hole: a few kB on disk) and is recorded modulo 2**32, without zip64 records."""
    return checkpoint_zip(str(tmp_path / 'defect.zip'), reference_a_folder(), PREFIX, A_FOLDER, defect=True)


def _same_files(folder):
    for name in FILES:
        with open(os.path.join(folder, name), 'rb') as got, open(os.path.join(reference_a_folder(), name), 'rb') as want:
            assert got.read() == want.read(), name


def test_the_defect_is_the_reported_one_and_python_zipfile_fails_on_it(defective_zip):
    assert os.path.getsize(defective_zip) > 2 ** 32
    # zipfile takes the 2**32 bytes for data prepended to the archive and adds them to every
    # member's offset: the first member it opens is read inside the hole.
    with zipfile.ZipFile(defective_zip) as zf:
        info = [i for i in zf.infolist() if i.filename.endswith('.index')][0]
        with pytest.raises(zipfile.BadZipFile, match='Bad magic number for file header'):
            zf.open(info).read()
    if shutil.which('unzip'):  # Info-ZIP prints what the official issue #87 quotes
        listing = subprocess.run(['unzip', '-l', defective_zip], capture_output=True, text=True, timeout=60)
        assert '4294967296 extra bytes at beginning or within zipfile' in listing.stdout + listing.stderr


def test_defective_zip_is_unpacked_by_reading_members_in_order(defective_zip, tmp_path, capsys):
    out = tmp_path / 'out'
    prefix = extract_checkpoint(defective_zip, str(out))
    assert prefix == str(out / PREFIX)
    assert sorted(os.listdir(out)) == sorted(FILES)  # no metadata copies, no temporary folder
    _same_files(str(out))
    assert 'reading its members in order' in capsys.readouterr().out


def test_ordinary_zip_is_unpacked_by_zipfile(tmp_path, capsys):
    archive = checkpoint_zip(str(tmp_path / 'ok.zip'), reference_a_folder(), PREFIX, A_FOLDER)
    prefix = extract_checkpoint(archive, str(tmp_path / 'out'))
    assert prefix == str(tmp_path / 'out' / PREFIX)
    _same_files(str(tmp_path / 'out'))
    assert 'in order' not in capsys.readouterr().out


@pytest.mark.parametrize('defect', [False, True])
def test_corrupt_member_is_refused_and_nothing_is_left(tmp_path, defect):
    archive = checkpoint_zip(str(tmp_path / 'bad.zip'), reference_a_folder(), PREFIX, A_FOLDER,
                             defect=defect, corrupt=True)
    with pytest.raises(ArchiveError, match='corrupt|CRC'):
        extract_checkpoint(archive, str(tmp_path / 'out'))
    assert os.listdir(tmp_path / 'out') == []


def test_not_a_zip_and_a_zip_without_checkpoint_are_refused(tmp_path):
    (tmp_path / 'page.zip').write_bytes(b'<html>Google Drive - Quota exceeded</html>')
    with pytest.raises(ArchiveError, match='no complete checkpoint'):
        extract_checkpoint(str(tmp_path / 'page.zip'), str(tmp_path / 'out'))
    with zipfile.ZipFile(tmp_path / 'other.zip', 'w') as zf:
        zf.writestr('checkpoint/readme.txt', 'hello')
        zf.writestr('checkpoint/UGATIT.model-1.index', 'x')  # an index without its data shard
    with pytest.raises(ArchiveError, match='UGATIT.model-1.index'):
        extract_checkpoint(str(tmp_path / 'other.zip'), str(tmp_path / 'out'))


@pytest.mark.parametrize('reader', ['zipfile', 'in order'])
def test_member_name_flagged_utf8_but_invalid_is_refused_naming_the_archive(tmp_path, reader):
    """Issue #25: such a name gave a UnicodeDecodeError traceback, from zipfile (which decodes
    the names flagged UTF-8 strictly) or from the in-order reader's local headers."""
    archive = checkpoint_zip(str(tmp_path / 'bad name.zip'), reference_a_folder(), PREFIX, A_FOLDER, bad_name=True)
    out = tmp_path / 'out'
    with pytest.raises(ArchiveError) as caught:
        if reader == 'zipfile':
            extract_checkpoint(archive, str(out))
        else:
            out.mkdir()
            archive_module._extract_in_order(archive, str(out))
    assert archive in str(caught.value) and 'not valid UTF-8' in str(caught.value)
    assert "r\\xe9sum\\xe9.txt" in str(caught.value)  # the member, its bytes escaped
    assert os.listdir(out) == []


def test_member_names():
    assert checkpoint_member('checkpoint/x/UGATIT.model-1000000.data-00000-of-00001') == 'UGATIT.model-1000000.data-00000-of-00001'
    assert checkpoint_member('__MACOSX/checkpoint/x/._UGATIT.model-1000000.index') is None
    assert checkpoint_member('checkpoint/x/._UGATIT.model-1000000.index') is None
    assert checkpoint_member('checkpoint/x/UGATIT.model-1000000.meta') is None
    assert checkpoint_member('checkpoint/x/') is None
    assert complete_prefix(['m-5.index', 'm-5.data-00000-of-00002']) is None
    assert complete_prefix(['m-5.index', 'm-5.data-00000-of-00002', 'm-5.data-00001-of-00002']) == 'm-5'
    assert complete_prefix(['m-5.index', 'm-5.data-00000-of-00001', 'm-40.index', 'm-40.data-00000-of-00001']) == 'm-40'
