"""Zip archives for tests, written by hand: ordinary ones, and ones with the defect of the released
selfie2anime zips (more than 4 GiB, no zip64 records, so offsets and sizes are stored modulo 2**32).

The defective archive is kept small on disk: its 4 GiB member is a hole in a sparse file.
"""

import os
import struct
import zlib

WRAP = 1 << 32
# zlib.crc32(bytes(2**32)): the CRC-32 of the 4 GiB zero member (2 s to compute, so fixed here).
CRC_OF_4GIB_ZEROS = 0xD202EF8D


def _deflate(data):
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def _raw(name):
    return name if isinstance(name, bytes) else name.encode()


class ZipWriter(object):
    """Writes members in order (deflated with data descriptors, as macOS's Archive Utility does,
    or stored), then the central directory. Sizes and offsets are written modulo 2**32."""

    def __init__(self, path):
        self.f = open(path, 'wb')
        self.entries = []

    def add(self, name, data, corrupt=False, utf8=False):
        """A deflated member with a data descriptor; corrupt flips a byte of its deflate stream.
        name: str, or bytes written as they are; utf8 sets the flag that says the name is UTF-8."""
        packed = bytearray(_deflate(data))
        if corrupt:
            packed[len(packed) // 2] ^= 0xFF
        crc = zlib.crc32(data)
        flags = 0x08 | (0x800 if utf8 else 0)
        offset = self._header(name, 8, flags, 0, 0, 0)
        self.f.write(packed)
        self.f.write(struct.pack('<4sIII', b'PK\x07\x08', crc, len(packed) % WRAP, len(data) % WRAP))
        self.entries.append((name, 8, flags, crc, len(packed), len(data), offset))

    def add_zero_hole(self, name, size, crc):
        """A stored member of `size` zero bytes, left as a hole in the file (sparse)."""
        offset = self._header(name, 0, 0, crc, size, size)
        self.f.seek(size, os.SEEK_CUR)
        self.entries.append((name, 0, 0, crc, size, size, offset))

    def add_folder(self, name):
        offset = self._header(name, 0, 0, 0, 0, 0)
        self.entries.append((name, 0, 0, 0, 0, 0, offset))

    def _header(self, name, method, flags, crc, csize, usize):
        offset = self.f.tell()
        raw = _raw(name)
        self.f.write(struct.pack('<4sHHHHHIIIHH', b'PK\x03\x04', 20, flags, method, 0, 0x21,
                                 crc, csize % WRAP, usize % WRAP, len(raw), 0) + raw)
        return offset

    def close(self):
        start = self.f.tell()
        for name, method, flags, crc, csize, usize, offset in self.entries:
            raw = _raw(name)
            self.f.write(struct.pack('<4sHHHHHHIIIHHHHHII', b'PK\x01\x02', 20, 20, flags, method, 0, 0x21,
                                     crc, csize % WRAP, usize % WRAP, len(raw), 0, 0, 0, 0, 0, offset % WRAP) + raw)
        size = self.f.tell() - start
        self.f.write(struct.pack('<4sHHHHIIH', b'PK\x05\x06', 0, 0, len(self.entries), len(self.entries),
                                 size, start % WRAP, 0))
        self.f.close()


# A member name flagged as UTF-8 that is not UTF-8 (Latin-1 bytes): what issue #25 met.
BAD_UTF8_NAME = b'checkpoint/r\xe9sum\xe9.txt'


def checkpoint_zip(path, folder, prefix_name, model_dir, defect=False, corrupt=False, bad_name=False):
    """A zip laid out as the released ones: checkpoint/<model_dir>/<files>, plus macOS metadata.

    defect: add a 4 GiB member (the .meta graph file's place) so that the central directory lies
    beyond 4 GiB and its offset is stored modulo 2**32. corrupt: damage the data shard.
    bad_name: a first member named BAD_UTF8_NAME with the UTF-8 flag set."""
    writer = ZipWriter(path)
    if bad_name:
        writer.add(BAD_UTF8_NAME, b'notes', utf8=True)
    writer.add_folder('checkpoint/')
    writer.add_folder('checkpoint/%s/' % model_dir)
    for name in sorted(os.listdir(folder)):
        if name.startswith(prefix_name + '.'):
            with open(os.path.join(folder, name), 'rb') as f:
                data = f.read()
            member = 'checkpoint/%s/%s' % (model_dir, name)
            writer.add('__MACOSX/%s/._%s' % (os.path.dirname(member), name), b'\x00\x05\x16\x07 metadata')
            writer.add(member, data, corrupt=corrupt and '.data-' in name)
    writer.add('checkpoint/%s/checkpoint' % model_dir, b'model_checkpoint_path: "/Users/someone/%s"\n' % prefix_name.encode())
    if defect:
        writer.add_zero_hole('checkpoint/%s/%s.meta' % (model_dir, prefix_name), WRAP, CRC_OF_4GIB_ZEROS)
    writer.close()
    return path
