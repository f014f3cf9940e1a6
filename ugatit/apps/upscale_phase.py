"""`python main.py --phase upscale --input PATH --upscale 2 --result_dir OUT`: enlarge existing
images (results of an earlier run or of any other tool) with no model involved.

PATH is an image, a folder or a glob. Each result keeps its input's name (sanitised) and format;
images with an alpha channel keep it (written as PNG when the format has none). Unreadable files
and results too large are named and skipped, the size read from the file's header before it is
decoded. Nothing of the user's is overwritten: the result folder must not hold any input, and a
result whose name a file already has gets a _2, _3, ... suffix (utils.write_unique).
"""

import dataclasses
import os

import cv2
import numpy as np
from tqdm import tqdm

from ugatit.errors import UserError
from ugatit.infer.upscale import WAIFU2X_NOISE, upscale
from utils import (IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS, ImageError, encode_image, ensure_writable_folder,
                   expand_inputs, image_header, printable, read_image_rgb, refuse_result_dir_holding_inputs, safe_name,
                   write_unique)

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


def check_output_size(path, factor):
    """Raise ImageError when the file's image, enlarged `factor` times, would exceed
    MAX_OUTPUT_PIXELS; read from its header (utils.image_header), before anything is decoded."""
    w, h, _ = image_header(path)
    pixels = w * h * factor ** 2
    if pixels > MAX_OUTPUT_PIXELS:
        raise ImageError('%s: %dx%d pixels, %dx would make %.0f megapixels (at most %.0f)'
                         % (printable(path), w, h, factor, pixels / 1e6, MAX_OUTPUT_PIXELS / 1e6))


def output_name(path, has_alpha):
    """The input's name, sanitised, with its extension; PNG when its format cannot hold the alpha."""
    stem, ext = os.path.splitext(os.path.basename(path))
    ext = ext.lower()
    if ext not in IMAGE_EXTENSIONS or (has_alpha and ext not in ALPHA_EXTENSIONS):
        ext = '.png'
    return safe_name(stem) + ext


def run_upscale(config):
    """The upscale phase. Returns the process exit status: 0, or 2 when an input was skipped."""
    photo = config.photo
    if photo.upscale is None:  # not given: 2x, denoised as --upscale_noise says (none by default)
        photo = dataclasses.replace(photo, upscale=2)
    if photo.upscale == 'auto':
        raise UserError('--upscale auto needs a face in a photo to size it; --phase upscale takes 1, 2 or 4')
    files = expand_inputs(photo.input)
    if not files:
        raise UserError('--input %s matched no file (give an image, a folder or a quoted glob '
                        'such as "results/*.png")' % photo.input)
    refuse_result_dir_holding_inputs(config.paths.result_dir, files)
    out_dir = ensure_writable_folder(config.paths.result_dir, '--result_dir')
    failed = 0
    for path in tqdm(files, desc='upscaling %dx (%s)' % (photo.upscale, photo.upscaler), unit='img'):
        try:
            check_output_size(path, photo.upscale)
            img = read_image(path)
        except ImageError as exc:
            tqdm.write(' [!] skipped: %s' % exc)
            failed += 1
            continue
        big = upscale(img, photo.upscale, photo.upscaler,
                      noise=WAIFU2X_NOISE if photo.upscale_noise is None else photo.upscale_noise)
        name = output_name(path, img.shape[2] == 4)
        written = write_unique(out_dir, name, encode_image(name, big))
        if os.path.basename(written) != name:
            tqdm.write(' [*] %s exists: %s written as %s' % (os.path.join(out_dir, name), printable(path), written))
    print(' [*] %d of %d image(s) upscaled %dx into %s' % (len(files) - failed, len(files), photo.upscale, out_dir))
    return 2 if failed else 0
