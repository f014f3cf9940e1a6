"""`python main.py --phase upscale --input PATH --upscale 2 --result_dir OUT`: enlarge existing
images (results of an earlier run or of any other tool) with no model involved.

PATH is an image, a folder or a glob. Each result keeps its input's name (sanitised, made
unique) and format; images with an alpha channel keep it (written as PNG when the format has
none). Unreadable files are named and skipped. The result folder must not hold any input, so
nothing of the user's is overwritten; each file is written to a temporary name first.
"""

import os
import tempfile

import cv2
import numpy as np
from tqdm import tqdm

from ugatit.errors import UserError
from ugatit.upscale import upscale
from utils import (IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS, ImageError, check_folder, expand_inputs, read_image_rgb,
                   unique_stem)

# Results larger than the largest input accepted are refused (memory), file by file.
MAX_OUTPUT_PIXELS = MAX_IMAGE_PIXELS
# Formats that keep an alpha channel when written by OpenCV.
ALPHA_EXTENSIONS = ('.png', '.webp', '.tif', '.tiff')


def read_image(path):
    """RGB uint8 [H, W, 3], or RGBA uint8 [H, W, 4] when the file has an alpha channel.

    Raises ImageError (from utils.read_image_rgb) for missing, empty or undecodable files.
    """
    rgb = read_image_rgb(path)
    if not path.lower().endswith(ALPHA_EXTENSIONS):
        return rgb
    raw = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.ndim != 3 or raw.shape[2] != 4:
        return rgb
    alpha = raw[:, :, 3]
    if alpha.dtype == np.uint16:
        alpha = (alpha / 257.0 + 0.5).astype(np.uint8)
    elif alpha.dtype != np.uint8:
        return rgb
    return np.dstack([rgb, alpha])


def write_image_atomic(path, img):
    """Write RGB or RGBA uint8 to `path` through a temporary file in the same folder."""
    ext = os.path.splitext(path)[1].lower()
    code = cv2.COLOR_RGBA2BGRA if img.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, buf = cv2.imencode(ext, cv2.cvtColor(img, code))
    if not ok:
        raise OSError('could not encode %s' % path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp',
                               dir=os.path.dirname(path) or '.')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(buf.tobytes())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the result from others
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def output_name(path, stem, has_alpha):
    """`stem` with the input's extension; PNG when the input's format cannot hold the alpha."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_EXTENSIONS or (has_alpha and ext not in ALPHA_EXTENSIONS):
        ext = '.png'
    return stem + ext


def check_result_dir(files, result_dir):
    """Refuse a result folder that holds one of the inputs: results would overwrite them."""
    out = os.path.realpath(result_dir)
    for path in files:
        if os.path.dirname(os.path.realpath(path)) == out:
            raise UserError('--result_dir %s holds the input %s: the results keep the input names and would '
                            'overwrite it; choose another --result_dir' % (result_dir, path))


def run_upscale(args):
    """The upscale phase. Returns the process exit status: 0, or 2 when an input was skipped."""
    if args.upscale == 'auto':
        raise UserError('--upscale auto needs a face in a photo to size it; --phase upscale takes 1, 2 or 4')
    files = expand_inputs(args.input)
    if not files:
        raise UserError('--input %s matched no file (give an image, a folder or a quoted glob '
                        'such as "results/*.png")' % args.input)
    check_result_dir(files, args.result_dir)
    out_dir = check_folder(args.result_dir)
    used, failed = set(), 0
    for path in tqdm(files, desc='upscaling %dx (%s)' % (args.upscale, args.upscaler), unit='img'):
        try:
            img = read_image(path)
            pixels = img.shape[0] * img.shape[1] * args.upscale ** 2
            if pixels > MAX_OUTPUT_PIXELS:
                raise ImageError('%s: %dx%d pixels, %dx would make %.0f megapixels (at most %.0f)' % (
                    path, img.shape[1], img.shape[0], args.upscale, pixels / 1e6, MAX_OUTPUT_PIXELS / 1e6))
        except ImageError as exc:
            tqdm.write(' [!] skipped: %s' % exc)
            failed += 1
            continue
        big = upscale(img, args.upscale, args.upscaler)
        name = output_name(path, unique_stem(path, used), img.shape[2] == 4)
        write_image_atomic(os.path.join(out_dir, name), big)
    print(' [*] %d of %d image(s) upscaled %dx into %s' % (len(files) - failed, len(files), args.upscale, out_dir))
    return 2 if failed else 0
