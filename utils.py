"""Image I/O, folders and small helpers shared by training, testing and the photo tool.

Images inside the model are float32 RGB in [-1, 1]; on disk they are 8-bit files. Files are
decoded by content, not by extension (the real selfie2anime anime images are PNG data named
`.jpg`); grayscale, RGBA, 16-bit and CMYK images are converted to 8-bit RGB.
"""

import argparse
import glob
import html
import itertools
import os
import re
import shutil
import tempfile

import cv2
import numpy as np

from ugatit.errors import UserError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff', '.ppm', '.pgm')

# Larger images are refused, from their header, rather than risking the machine's memory
# (about 200 megapixels; OpenCV itself fails above about 1.07 gigapixels), and so are files
# larger than any image of that size would be.
MAX_IMAGE_PIXELS = 200_000_000
MAX_FILE_BYTES = 1 << 30
# Images with a shorter side carry too little to translate or to train on (a 1x1 training
# image made the losses NaN): named and skipped, in training, photos and the web page alike.
MIN_IMAGE_SIDE = 32


class ImageError(Exception):
    """An input image that cannot be used; the message names the file and the reason."""


def str2bool(value):
    """Strict boolean flag parser: true/false, 1/0, yes/no (any case); anything else is an error.

    (The official str2bool accepted any substring of "true", so "--light t" or "--light ''"
    silently meant True and "--light Flase" meant False.)
    """
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in ('true', '1', 'yes'):
        return True
    if v in ('false', '0', 'no'):
        return False
    raise argparse.ArgumentTypeError('expected a boolean (true/false, 1/0, yes/no), got %r' % value)


# The folders make_folder created in this run, parents first (remove_made_folders).
_MADE_FOLDERS = []


def make_folder(path):
    """os.makedirs(path, exist_ok=True), remembering the folders it creates, so that a run that is
    refused or fails can remove those it left empty (remove_made_folders)."""
    missing, probe = [], os.path.abspath(path)
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    os.makedirs(path, exist_ok=True)
    _MADE_FOLDERS.extend(reversed(missing))
    return path


def remove_made_folders():
    """Remove the folders make_folder created in this run that are still empty, deepest first
    (a refused run leaves no empty --result_dir or checkpoint folder); forget them all. Returns
    the folders removed."""
    removed = []
    for folder in reversed(_MADE_FOLDERS):
        try:
            os.rmdir(folder)
            removed.append(folder)
        except OSError:  # not empty (or gone): kept
            pass
    _MADE_FOLDERS.clear()
    return removed


def forget_made_folders():
    """Keep every folder made so far (a run that succeeded)."""
    _MADE_FOLDERS.clear()


def check_folder(path):
    """Create `path` (and parents) if needed (make_folder) and return it."""
    return make_folder(path)


def ensure_writable_folder(path, flag):
    """Create `path` if needed (make_folder) and check that files can be written there, before
    any work starts; raises UserError naming the flag otherwise."""
    try:
        make_folder(path)
        fd, probe = tempfile.mkstemp(prefix='.write-test-', dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        reason = 'a file of that name is there' if os.path.isfile(path) else exc.strerror or exc
        raise UserError('%s %s is not a writable folder (%s): choose another %s' % (flag, printable(path), reason, flag))
    return path


def list_images(folder):
    """Sorted image files directly inside `folder` (by extension, case-insensitive)."""
    if not os.path.isdir(folder):
        return []
    files = [os.path.join(folder, name) for name in os.listdir(folder)]
    return sorted(f for f in files
                  if os.path.isfile(f) and f.lower().endswith(IMAGE_EXTENSIONS))


def to_rgb_uint8(img, path='<image>'):
    """Convert a decoded OpenCV image (BGR/BGRA/gray, 8 or 16 bit, float) to RGB uint8 [H, W, 3]."""
    if img.dtype == np.uint16:
        img = (img / 257.0 + 0.5).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ImageError('%s: unsupported pixel type %s' % (path, img.dtype))
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)


def printable(text):
    """`text` (a file name) with control characters escaped, safe to print to a terminal."""
    return ''.join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def image_header(path):
    """(width, height, PIL mode) of an image file read from its header alone, the file checked first.

    Raises ImageError naming the file for a missing, unreadable, empty or oversized file, one
    that is not an image by its content, and one with more than MAX_IMAGE_PIXELS pixels: nothing
    large is read or decoded before these checks."""
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = None  # PIL's own bomb check would call a large image "not an image"
    name = printable(path)
    try:
        size = os.path.getsize(path)
        if not os.path.isfile(path):
            raise ImageError('%s: not a file' % name)
        if size == 0:
            raise ImageError('%s: the file is empty (0 bytes)' % name)
        if size > MAX_FILE_BYTES:
            raise ImageError('%s: %.1f GB is too large for an image file (at most %.1f GB)'
                             % (name, size / 1e9, MAX_FILE_BYTES / 1e9))
        with Image.open(path) as header:  # reads the header only
            (w, h), mode = header.size, header.mode
    except FileNotFoundError:
        raise ImageError('%s: no such file' % name)
    except PermissionError:
        raise ImageError('%s: permission denied (the file cannot be read)' % name)
    except (OSError, ValueError, SyntaxError):
        raise ImageError('%s: not an image (by its content: corrupt, truncated or another kind of file)' % name)
    if w * h > MAX_IMAGE_PIXELS:
        raise ImageError('%s: image too large (%dx%d pixels; the limit is %d megapixels): downscale it first'
                         % (name, w, h, MAX_IMAGE_PIXELS // 1_000_000))
    return w, h, mode


def read_image_rgb(path, min_size=1):
    """Read an image file as RGB uint8 [H, W, 3], decoding by content.

    Raises ImageError with the file name and the reason for missing, unreadable, empty, huge,
    too small or non-image files; size and header are checked (image_header) before the file is
    decoded. EXIF orientation is applied for JPEGs (OpenCV's default).
    """
    w, h, mode = image_header(path)
    name = printable(path)
    if min(h, w) < min_size:
        raise ImageError('%s: image too small (%dx%d pixels; at least %d needed)' % (name, w, h, min_size))
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageError('%s: cannot be read (%s)' % (name, exc.strerror or exc))
    # 8-bit gray/colour: decoded once, as colour, so that OpenCV applies EXIF orientation and
    # CMYK -> RGB; alpha, 16-bit and float images as they are, converted by to_rgb_uint8.
    colour = mode in ('1', 'L', 'P', 'RGB', 'CMYK', 'YCbCr')
    img = cv2.imdecode(data, cv2.IMREAD_COLOR if colour else cv2.IMREAD_UNCHANGED)
    del data
    if img is None:
        raise ImageError('%s: not an image OpenCV can decode (corrupt, truncated or another '
                         'kind of file)' % name)
    if img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)  # in place: no second copy
    return to_rgb_uint8(img, name)


def preprocess(img_rgb, size):
    """RGB uint8 [H, W, 3] -> float32 [size, size, 3] in [-1, 1], resized as the official test."""
    img = cv2.resize(img_rgb, dsize=(size, size))
    return img.astype(np.float32) / 127.5 - 1.0


def inverse_transform(images):
    """[-1, 1] -> [0, 255] float."""
    return (images + 1.0) / 2.0 * 255.0


def to_uint8(images):
    """[-1, 1] float -> uint8, rounded and clipped."""
    return np.clip(inverse_transform(np.asarray(images)) + 0.5, 0, 255).astype(np.uint8)


def size_text(n):
    """A byte count for messages: '2.5 GB', '3.2 MB', '126 kB'."""
    if n >= 1e9:
        return '%.1f GB' % (n / 1e9)
    if n >= 1e6:
        return '%.1f MB' % (n / 1e6)
    return '%.0f kB' % (n / 1e3)


def check_disk_space(folder, needed_bytes, message):
    """UserError unless the file system holding `folder` (or its nearest existing parent, for a
    folder not made yet) has `needed_bytes` free. message(folder checked, needed, free) -> the
    error's text, the sizes given as size_text strings."""
    probe = os.path.abspath(folder)
    while not os.path.isdir(probe):
        probe = os.path.dirname(probe)
    free = shutil.disk_usage(probe).free
    if free < needed_bytes:
        raise UserError(message(probe, size_text(needed_bytes), size_text(free)))


def usual_file_mode():
    """0666 less the process's umask: the permissions that open() gives a new file, and that a
    file made with tempfile.mkstemp (0600) must be given before it is published. Read from
    /proc/self/status where Linux has it: os.umask() can only be read by changing it, which a
    file created meanwhile by another thread (the server's) would see."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _write_temp(folder, name, data):
    """A new temporary file in `folder` (its name starts with `name`) holding the bytes `data`,
    with the permissions of an ordinary new file; returns its path."""
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % name[:100], suffix='.tmp', dir=folder or '.')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.chmod(tmp, usual_file_mode())  # mkstemp's 0600 would hide the file from others
    except BaseException as exc:
        os.remove(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = os.path.join(folder, name)  # a full disk's write names no file
        raise
    return tmp


def write_atomic(path, data):
    """Write bytes (or text, as UTF-8) to `path` through a temporary file in the same folder,
    renamed over `path` only once complete: a failed or interrupted write leaves no partial file
    under the final name, and an earlier file of that name intact."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    tmp = _write_temp(os.path.dirname(path), os.path.basename(path), data)
    try:
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = path  # a failed rename names no file: its message must
        raise


def unique_names(folder, name):
    """folder/<name>, then folder/<stem>_2<ext>, folder/<stem>_3<ext>, ... (endless)."""
    stem, ext = os.path.splitext(name)
    for n in itertools.count(1):
        yield os.path.join(folder, name if n == 1 else '%s_%d%s' % (stem, n, ext))


def _link_if_free(tmp, path):
    """Give the complete file `tmp` the name `path` unless something has that name; returns
    whether it did (tmp is gone then). A hard link fails on an existing name, so there is no
    check-then-write race; where the folder has no hard links (FAT, some network shares), a file
    created with O_EXCL claims the name and tmp replaces it."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # no hard links here
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        try:
            os.replace(tmp, path)
        except BaseException:
            os.remove(path)  # the empty claim
            raise
        return True
    os.remove(tmp)
    return True


def publish_unique(tmp, folder, name):
    """Give the complete file `tmp` the first free name of unique_names(folder, name) and return
    that path; never replaces a file, even one another process writes meanwhile."""
    return next(path for path in unique_names(folder, name) if _link_if_free(tmp, path))


def write_unique(folder, name, data):
    """Write the bytes `data` to a new file in `folder` named `name`, or, when a file has that name,
    stem_2.ext, stem_3.ext, ... (publish_unique). The file is complete before it gets its name.
    Returns its path."""
    tmp = _write_temp(folder, name, data)
    try:
        return publish_unique(tmp, folder, name)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def encode_image(path, img):
    """The file bytes of an RGB (or RGBA) uint8 image [H, W, 3 or 4] in the format of the path's
    extension (PNG without one); raise OSError naming the path if it cannot be encoded."""
    ext = os.path.splitext(path)[1] or '.png'
    code = cv2.COLOR_RGBA2BGRA if img.ndim == 3 and img.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, buf = cv2.imencode(ext, cv2.cvtColor(img, code))
    if not ok:
        raise OSError('could not encode an image for %s' % path)
    return buf.tobytes()


def imwrite_rgb(path, img):
    """Write an RGB (or RGBA) uint8 image [H, W, 3 or 4] atomically (write_atomic), in the format
    of the path's extension (PNG without one); raise OSError naming the path if it cannot."""
    write_atomic(path, encode_image(path, img))


def refuse_result_dir_holding_inputs(result_dir, files):
    """UserError when `result_dir` is the folder of one of the input `files`: results named
    after the inputs could be written over them."""
    out = os.path.realpath(result_dir)
    for path in files:
        if os.path.dirname(os.path.realpath(path)) == out:
            raise UserError('--result_dir %s holds the input %s: results would be written over the inputs; '
                            'choose another --result_dir' % (printable(result_dir), printable(path)))




def heatmap_to_rgb(heatmap, size):
    """Normalise a CAM heatmap [h, w] to [0, 1], resize to size x size, colour it (jet): uint8 RGB."""
    heatmap = np.asarray(heatmap, dtype=np.float32)
    lo, hi = float(heatmap.min()), float(heatmap.max())
    norm = (heatmap - lo) / (hi - lo) if hi > lo else np.zeros_like(heatmap)
    norm = cv2.resize(norm, (size, size), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)


_UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')


def safe_name(name, default='image'):
    """A file name made from user input that cannot leave its folder: no separators, no '..'."""
    base = os.path.basename(name.replace('\\', '/'))
    base = _UNSAFE.sub('_', base).strip('._') or default
    return base[:120]


def unique_stem(path, used):
    """A safe output stem for the file `path` (its name without extension), made unique within the
    set `used` by a _2, _3, ... suffix; the result is added to `used`."""
    stem = safe_name(os.path.splitext(os.path.basename(path))[0])
    candidate, n = stem, 1
    while candidate in used:
        n += 1
        candidate = '%s_%d' % (stem, n)
    used.add(candidate)
    return candidate


def claim_unique_path(folder, name, also=()):
    """Claim a new file for `name` in `folder`: folder/<name>, or the first free of
    <stem>_2<ext>, <stem>_3<ext>, ... Returns a path that did not exist and now does (an empty
    file, created with O_EXCL: a concurrent run cannot claim it too, and nothing that was there
    is ever written over). The same name is claimed in every folder of `also` as well (for
    outputs that share a name across folders); the returned path is the one in `folder`.
    Write the file with write_atomic; release_unwritten removes the claims never written."""
    for candidate in unique_names('', name):
        claimed = []
        try:
            for where in (folder,) + tuple(also):
                path = os.path.join(where, candidate)
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                claimed.append(path)
            return claimed[0]
        except BaseException as exc:
            for path in claimed:  # ours, created just now: free them (for the next candidate)
                os.remove(path)
            if not isinstance(exc, FileExistsError):
                raise


def release_unwritten(paths):
    """Remove the files of `paths` (claimed by claim_unique_path) that are still empty: a run
    that stops early leaves no empty placeholder. Written files are never empty."""
    for path in paths:
        try:
            if os.path.getsize(path) == 0:
                os.remove(path)
        except OSError:
            pass


def escape(text):
    """HTML-escape text for index.html."""
    return html.escape(str(text), quote=True)


def expand_inputs(pattern):
    """Image files for --input: a file, a folder (its images, sorted) or a glob pattern."""
    if os.path.isdir(pattern):
        return [os.path.join(pattern, n) for n in sorted(os.listdir(pattern))
                if os.path.isfile(os.path.join(pattern, n))]
    if os.path.exists(pattern):
        return [pattern]
    return sorted(f for f in glob.glob(pattern) if os.path.isfile(f))
