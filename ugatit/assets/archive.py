"""Unpacking a checkpoint from a zip archive, including the released ones that `unzip` and Python's
zipfile cannot read.

The released selfie2anime zips (about 4.7 GB) were written without zip64 records, so every
offset and size beyond 4 GiB is stored modulo 2**32. The central directory then seems to start
4294967296 bytes before it does: Info-ZIP `unzip` reports "4294967296 extra bytes at beginning or
within zipfile" and stops on "overlapped components"; Python's zipfile takes those 2**32 bytes
for data prepended to the archive, adds them to every member's offset and fails with "Bad magic
number for file header" (tests/unit/test_archive.py builds such an archive). 7-Zip and fastjar read
the members in order from their local headers instead, and so does the fallback here: a deflate
stream marks its own end, so the truncated size fields are not needed to find the next member.
"""

import contextlib
import errno
import os
import re
import shutil
import struct
import tempfile
import zipfile
import zlib

from tqdm import tqdm

from ugatit.errors import UserError, is_write_error
from utils import printable

# Checkpoint files: <prefix>.index and <prefix>.data-<i>-of-<n>.
CHECKPOINT_FILE = re.compile(r'(.+)\.(index|data-\d{5}-of-(\d{5}))$')
_LOCAL_HEADER = b'PK\x03\x04'
_DESCRIPTOR = b'PK\x07\x08'
_CHUNK = 1 << 20
_WRAP = 1 << 32


class ArchiveError(Exception):
    """The archive is corrupt, truncated or holds no complete checkpoint."""


@contextlib.contextmanager
def write_errors_named(archive, folder, flag):
    """Within the block, which unpacks `archive` for `folder` and removes what it wrote when it
    fails, a write error (ugatit.errors.is_write_error: a full disk, an unwritable folder) becomes
    a UserError naming the archive, the folder, the reason and the flag that chooses the folder."""
    try:
        yield
    except OSError as exc:
        if not is_write_error(exc):
            raise
        fix = 'free some space there' if exc.errno in (errno.ENOSPC, errno.EDQUOT) else 'make it writable'
        where = ' (%s)' % printable(exc.filename) if exc.filename else ''
        raise UserError('cannot unpack %s into %s: %s%s. Nothing was unpacked there (the files written so far are '
                        'removed): %s, or choose another %s' % (printable(archive), printable(folder), exc.strerror,
                                                               where, fix, flag)) from None


def plain_file_member(name):
    """The base name of a zip member that is a file of the archive's content, or None for
    folders, hidden files and the `__MACOSX/`, `._*`, `.DS_Store` metadata macOS puts into zips."""
    base = name.rsplit('/', 1)[-1]
    if name.endswith('/') or '__MACOSX/' in name or base.startswith('.'):
        return None
    return base


def checkpoint_member(name):
    """The checkpoint file name (base name) a zip member is, or None (see plain_file_member)."""
    base = plain_file_member(name)
    return base if base and CHECKPOINT_FILE.match(base) else None


def bad_name_error(archive, raw):
    """The ArchiveError for a member name flagged as UTF-8 (bit 11) that is not valid UTF-8."""
    return ArchiveError('%s: the name of member %r is marked as UTF-8 but is not valid UTF-8: the archive is '
                        'corrupt or was written by a faulty zip tool' % (archive, raw))


def complete_prefix(names):
    """The prefix (base name) of a checkpoint whose index and every data shard are among `names`;
    the largest step when there are several; None when there is none."""
    complete = []
    for name in names:
        m = CHECKPOINT_FILE.match(name)
        if m and m.group(2) == 'index':
            shards = [n for n in names if n.startswith(m.group(1) + '.data-')]
            if shards and all(int(CHECKPOINT_FILE.match(n).group(3)) == len(shards) for n in shards):
                complete.append(m.group(1))
    return max(complete, key=lambda p: (int(re.search(r'(\d*)$', p).group(1) or 0), p)) if complete else None


def extract_checkpoint(archive, folder):
    """Unpack the checkpoint files (*.index, *.data-*) of a zip archive into `folder`.

    Python's zipfile is tried first; when it cannot read the archive, the members are read in
    order from their local headers. Files appear in `folder` only once all are unpacked and
    checked (CRC-32). Returns the checkpoint prefix in `folder`; raises ArchiveError.
    """
    os.makedirs(folder, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.unpack-', dir=folder)
    try:
        try:
            found = _extract_with_zipfile(archive, tmp)
        except UnicodeDecodeError as exc:  # zipfile decodes the names flagged UTF-8 strictly
            raise bad_name_error(archive, exc.object)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            tqdm.write(' [*] Python zipfile cannot read %s (%s): reading its members in order instead'
                       % (os.path.basename(archive), exc))
            _empty(tmp)
            found = _extract_in_order(archive, tmp)
        prefix = complete_prefix(found)
        if prefix is None:
            raise ArchiveError('%s holds no complete checkpoint (an .index file and its .data-* files); it holds %s'
                               % (archive, ', '.join(sorted(found)) or 'no checkpoint file'))
        for name in found:
            if name.startswith(prefix + '.'):
                os.replace(os.path.join(tmp, name), os.path.join(folder, name))
        return os.path.join(folder, prefix)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _empty(folder):
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))


def _progress(total):
    return tqdm(total=total, unit='B', unit_scale=True, desc='unpacking', leave=False)


def _extract_with_zipfile(archive, out):
    """Extract the checkpoint members with zipfile (which checks each CRC); returns their names."""
    found = []
    with zipfile.ZipFile(archive) as zf:
        members = [(info, checkpoint_member(info.filename)) for info in zf.infolist()]
        members = [(info, base) for info, base in members if base]
        with _progress(sum(info.file_size for info, _ in members)) as bar:
            for info, base in members:
                with zf.open(info) as src, open(os.path.join(out, base), 'wb') as dst:
                    for block in iter(lambda: src.read(_CHUNK), b''):
                        dst.write(block)
                        bar.update(len(block))
                found.append(base)
    return found


def _extract_in_order(archive, out):
    """Walk the local headers from the start of the archive and extract the checkpoint members,
    stopping once a complete checkpoint is out. Returns the extracted names."""
    found = []
    with open(archive, 'rb') as f, _progress(os.path.getsize(archive)) as bar:
        while complete_prefix(found) is None and f.read(4) == _LOCAL_HEADER:
            flags, method, crc, csize, usize, zip64, name = _local_header(f, archive)
            base = checkpoint_member(name)
            dst = open(os.path.join(out, base), 'wb') if base else None
            try:
                got_crc, got_size = _member_data(f, method, flags, csize, dst, bar)
            except zlib.error as exc:
                raise ArchiveError('%s: member %s does not inflate (%s): the archive is corrupt' % (archive, name, exc))
            finally:
                if dst:
                    dst.close()
            if flags & 0x08:  # sizes and CRC follow the data (data descriptor)
                crc, csize, usize = _data_descriptor(f, zip64)
            # Sizes are compared modulo 2**32: the released archives store them truncated.
            if got_crc != crc or got_size % _WRAP != usize % _WRAP:
                raise ArchiveError('%s: member %s fails its CRC-32/size check: the archive is corrupt' % (archive, name))
            if base:
                found.append(base)
    return found


def _local_header(f, archive):
    """Parse a local file header after its signature: (flags, method, crc, csize, usize, zip64, name)."""
    fixed = f.read(26)
    if len(fixed) < 26:
        raise ArchiveError('truncated local header at byte %d' % f.tell())
    _, flags, method, _, _, crc, csize, usize, name_len, extra_len = struct.unpack('<HHHHHIIIHH', fixed)
    raw = f.read(name_len)
    try:
        name = raw.decode('utf-8' if flags & 0x800 else 'cp437')
    except UnicodeDecodeError:
        raise bad_name_error(archive, raw)
    extra = f.read(extra_len)
    zip64 = False
    while len(extra) >= 4:  # a zip64 extra field holds the sizes stored as 0xFFFFFFFF
        tag, size = struct.unpack('<HH', extra[:4])
        if tag == 0x0001:
            values = list(struct.unpack('<%dQ' % (size // 8), extra[4:4 + size // 8 * 8]))
            zip64 = True
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
        extra = extra[4 + size:]
    return flags, method, crc, csize, usize, zip64, name


def _member_data(f, method, flags, csize, dst, bar):
    """Read one member's data (writing it to dst when given). Returns (crc32, size)."""
    crc, size = 0, 0
    if method == 8:
        inflater = zlib.decompressobj(-15)
        pending = b''
        while not inflater.eof:
            if not pending:
                pending = f.read(_CHUNK)
                if not pending:
                    raise ArchiveError('the archive ends inside a member: it is truncated')
            data = inflater.decompress(pending, 64 * _CHUNK)  # bounded output per call
            pending = inflater.unconsumed_tail
            crc, size = zlib.crc32(data, crc), size + len(data)
            if dst:
                dst.write(data)
            bar.update(f.tell() - bar.n)
        f.seek(-len(inflater.unused_data), os.SEEK_CUR)
    elif method == 0 and not (flags & 0x08 and csize == 0):
        left = csize
        while left:
            data = f.read(min(_CHUNK, left))
            if not data:
                raise ArchiveError('the archive ends inside a member: it is truncated')
            left -= len(data)
            crc, size = zlib.crc32(data, crc), size + len(data)
            if dst:
                dst.write(data)
    else:
        raise ArchiveError('unsupported zip member (compression method %d, flags 0x%x)' % (method, flags))
    return crc, size


def _data_descriptor(f, zip64):
    """Read a data descriptor (optional signature, CRC, sizes): (crc, csize, usize)."""
    head = f.read(4)
    if head == _DESCRIPTOR:
        head = f.read(4)
    width = 8 if zip64 else 4
    rest = f.read(2 * width)
    if len(head) < 4 or len(rest) < 2 * width:
        raise ArchiveError('truncated data descriptor at byte %d' % f.tell())
    csize, usize = struct.unpack('<QQ' if zip64 else '<II', rest)
    return struct.unpack('<I', head)[0], csize, usize


def split_members(infos, splits):
    """{zip member: (split, base name)} for the files of the archive in folders named `splits`,
    all under one root (the archive's top or one folder, e.g. `selfie2anime/trainA/x.jpg`);
    macOS metadata and hidden files are left out. Raises ArchiveError for several roots."""
    members, roots = {}, set()
    for info in infos:
        parts, base = info.filename.split('/'), plain_file_member(info.filename)
        if base and len(parts) >= 2 and parts[-2] in splits:
            members[info] = (parts[-2], base)
            roots.add('/'.join(parts[:-2]))
    if len(roots) > 1:
        raise ArchiveError('holds %s folders in several places (%s): which is the dataset?'
                           % ('/'.join(splits), ', '.join(sorted(r + '/' for r in roots))))
    return members


def open_zip(archive):
    """zipfile.ZipFile(archive), or ArchiveError naming it: not a zip (or a truncated one, which
    lacks the directory at its end), or a member name flagged UTF-8 that is not."""
    try:
        return zipfile.ZipFile(archive)
    except UnicodeDecodeError as exc:  # zipfile decodes the names flagged UTF-8 strictly
        raise bad_name_error(archive, exc.object)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ArchiveError('%s: not a zip archive, or a truncated one (an interrupted download?): %s' % (archive, exc))


def extract_split_folders(archive, out, splits):
    """Unpack the files of the archive's folders named `splits` into out/<split>/ (each created,
    empty when the archive has no such folder), checking each member's CRC-32. Returns
    {split: number of files}. Raises ArchiveError naming the archive (see open_zip; a corrupt
    member; folders in several places)."""
    for split in splits:
        os.makedirs(os.path.join(out, split), exist_ok=True)
    counts = dict.fromkeys(splits, 0)
    with open_zip(archive) as zf:
        try:
            members = split_members(zf.infolist(), splits)
        except ArchiveError as exc:
            raise ArchiveError('%s %s' % (archive, exc))
        with _progress(sum(info.file_size for info in members)) as bar:
            for info, (split, base) in members.items():
                try:
                    with zf.open(info) as src, open(os.path.join(out, split, base), 'wb') as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
                except UnicodeDecodeError as exc:  # the local header's copy of the name
                    raise bad_name_error(archive, exc.object)
                except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                    raise ArchiveError('%s: member %s is corrupt (%s)' % (archive, info.filename, exc))
                counts[split] += 1
                bar.update(info.file_size)
    return counts
