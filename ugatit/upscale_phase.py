"""`python main.py --phase upscale --input PATH --upscale 2 --result_dir OUT`: enlarge existing
images (results of an earlier run or of any other tool) with no model involved.

PATH is an image, a folder or a glob. Each result keeps its input's name (sanitised, made
unique) and format; images with an alpha channel keep it (written as PNG when the format has
none). Unreadable files are named and skipped. The result folder must not hold any input, so
nothing of the user's is overwritten; each file is written to a temporary name first.
"""

import os

import cv2
import numpy as np
from tqdm import tqdm

from ugatit.errors import UserError
from ugatit.upscale import upscale
from utils import (IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS, ImageError, check_folder, expand_inputs, imwrite_rgb,
                   read_image_rgb, refuse_result_dir_holding_inputs, unique_stem)

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


def output_name(path, stem, has_alpha):
    """`stem` with the input's extension; PNG when the input's format cannot hold the alpha."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_EXTENSIONS or (has_alpha and ext not in ALPHA_EXTENSIONS):
        ext = '.png'
    return stem + ext


def run_upscale(config):
    """The upscale phase. Returns the process exit status: 0, or 2 when an input was skipped."""
    photo = config.photo
    if photo.upscale == 'auto':
        raise UserError('--upscale auto needs a face in a photo to size it; --phase upscale takes 1, 2 or 4')
    files = expand_inputs(photo.input)
    if not files:
        raise UserError('--input %s matched no file (give an image, a folder or a quoted glob '
                        'such as "results/*.png")' % photo.input)
    refuse_result_dir_holding_inputs(config.paths.result_dir, files)
    out_dir = check_folder(config.paths.result_dir)
    used, failed = set(), 0
    for path in tqdm(files, desc='upscaling %dx (%s)' % (photo.upscale, photo.upscaler), unit='img'):
        try:
            img = read_image(path)
            pixels = img.shape[0] * img.shape[1] * photo.upscale ** 2
            if pixels > MAX_OUTPUT_PIXELS:
                raise ImageError('%s: %dx%d pixels, %dx would make %.0f megapixels (at most %.0f)' % (
                    path, img.shape[1], img.shape[0], photo.upscale, pixels / 1e6, MAX_OUTPUT_PIXELS / 1e6))
        except ImageError as exc:
            tqdm.write(' [!] skipped: %s' % exc)
            failed += 1
            continue
        big = upscale(img, photo.upscale, photo.upscaler)
        name = output_name(path, unique_stem(path, used), img.shape[2] == 4)
        imwrite_rgb(os.path.join(out_dir, name), big)
    print(' [*] %d of %d image(s) upscaled %dx into %s' % (len(files) - failed, len(files), photo.upscale, out_dir))
    return 2 if failed else 0
