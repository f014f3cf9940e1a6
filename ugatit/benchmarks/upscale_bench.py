"""`python -m ugatit.benchmarks.bench --what upscale`: how well and how fast each upscaler restores anime faces.

Each 256 px image of the shared selfie2anime sample (testB and trainB) is shrunk by 2 and by 4
with INTER_AREA and enlarged back by every method; PSNR and SSIM against the original, and the
median time per image, are reported per method and factor.
"""

import json
import os
import time

import cv2
import numpy as np
from tqdm import tqdm

from ugatit.infer import upscale as U
from ugatit.infer.upscale import psnr
from utils import list_images, read_image_rgb

SAMPLE = os.path.join('..', 'shared', 'data', 'selfie2anime-mini')


def ssim(ref, img, data_range=255.0):
    """SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, averaged
    over the windows that fit inside the image and over channels. ref, img: [H, W] or
    [H, W, C] arrays of one shape, H and W >= 11."""
    x = np.asarray(ref, np.float64)
    y = np.asarray(img, np.float64)
    if x.shape != y.shape or min(x.shape[:2]) < 11:
        raise ValueError('ssim needs two images of one shape, at least 11x11; got %s and %s' % (x.shape, y.shape))
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    g = cv2.getGaussianKernel(11, 1.5)
    kernel = g @ g.T

    def mean(a):
        # Window means at every position where the whole window fits ("valid").
        return cv2.filter2D(a, -1, kernel, borderType=cv2.BORDER_REFLECT)[5:-5, 5:-5]
    mx, my = mean(x), mean(y)
    vx, vy, cxy = mean(x * x) - mx * mx, mean(y * y) - my * my, mean(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def methods():
    """name -> function (uint8 small image, factor) -> uint8 enlarged image."""
    def resize(flag):
        return lambda img, f: cv2.resize(img, (img.shape[1] * f, img.shape[0] * f), interpolation=flag)

    def waifu2x(model, noise):
        passes = {}

        def run(img, f):
            if 'net' not in passes:
                passes["net"] = U.load_waifu2x(noise, model)
            for _ in range(f // 2):
                img = U.tiled(passes['net'], img)
            return img
        return run
    return {
        'bicubic': resize(cv2.INTER_CUBIC),
        'lanczos': lambda img, f: U.upscale(img, f, 'lanczos'),
        'anime4k acnet-gan': lambda img, f: U.upscale(img, f, 'anime4k'),
        'waifu2x upconv_7 anime, no denoise': waifu2x('models-upconv_7_anime_style_art_rgb', -1),
        'waifu2x upconv_7 anime, noise 0': waifu2x('models-upconv_7_anime_style_art_rgb', 0),
        'waifu2x cunet, no denoise': waifu2x('models-cunet', -1),
    }


def load_sample(root, folders=('testB', 'trainB'), limit=50):
    files = [f for folder in folders for f in list_images(os.path.join(root, folder))[:limit]]
    if not files:
        raise SystemExit('no images under %s/{%s}: give --sample' % (root, ','.join(folders)))
    return [read_image_rgb(f) for f in files]


def run(sample=SAMPLE, factors=(2, 4), limit=50, json_path=None, only=None):
    """Measure every method at every factor; print a Markdown table; return the rows."""
    images = load_sample(sample, limit=limit)
    rows = []
    for name, fn in methods().items():
        if only and not any(o in name for o in only):
            continue
        for f in factors:
            scores, times = [], []
            fn(cv2.resize(images[0], (64, 64), interpolation=cv2.INTER_AREA), f)  # load, warm up
            for img in tqdm(images, desc='%s %dx' % (name, f), unit='img', leave=False):
                h, w = img.shape[:2]
                small = cv2.resize(img, (w // f, h // f), interpolation=cv2.INTER_AREA)
                t0 = time.perf_counter()
                out = fn(small, f)
                times.append(time.perf_counter() - t0)
                scores.append((psnr(img, out), ssim(img, out)))
            s = np.array(scores)
            row = dict(method=name, factor=f, images=len(images), psnr_db=float(s[:, 0].mean()),
                       ssim=float(s[:, 1].mean()), median_s=float(np.median(times)))
            rows.append(row)
            print('| %s | %dx | %.2f | %.4f | %.3f |' % (name, f, row['psnr_db'], row['ssim'], row['median_s']),
                  flush=True)
    rows += time_chip(images[0], only=only)
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, 'w') as fh:
            json.dump(rows, fh, indent=1)
    return rows


def time_chip(image, factors=(2, 4), repeats=3, only=None):
    """Median seconds to enlarge one 256 px image (a generator output) by each method: the
    cost of --upscale on one face. Returns rows like run()'s, without scores."""
    rows = []
    for name, fn in methods().items():
        if only and not any(o in name for o in only):
            continue
        fn(image[:64, :64], 2)  # load, warm up
        for f in factors:
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn(image, f)
                times.append(time.perf_counter() - t0)
            rows.append(dict(method=name, factor=f, input_px=image.shape[0], median_s=float(np.median(times))))
            print('| %s | 256 px -> %d px | %.2f s |' % (name, image.shape[0] * f, rows[-1]['median_s']), flush=True)
    return rows


def paste_back_figure(photo_path, out_path, crop=256, label_height=28):
    """The README picture: a face chip of `photo_path` cut at 256 px (the generator's output
    size), enlarged 4x by Lanczos and by waifu2x, pasted back; the face region of each result
    side by side, with the 256 px chip pasted back as it is for comparison. Written as PNG."""
    from ugatit.infer import faces as F
    photo = read_image_rgb(photo_path)
    aligner = F.FaceAligner()
    found = aligner.detect(photo)
    if not found:
        raise SystemExit('%s: no face found' % photo_path)
    chip, transform = aligner.chip(photo, found[0], size=256)
    panels = [('256 px chip, no upscaling', F.paste_back(photo, chip, transform))]
    for name in ('lanczos', 'waifu2x'):
        big = U.upscale(chip, 4, name)
        panels.append(('4x %s' % name, F.paste_back(photo, big, transform, chip_size=256)))
    panels.append(('original photo', photo))
    l, t, r, b = found[0].box
    cx, cy = (l + r) // 2, (t + b) // 2
    y0 = int(np.clip(cy - crop // 2, 0, photo.shape[0] - crop))
    x0 = int(np.clip(cx - crop // 2, 0, photo.shape[1] - crop))
    tiles = []
    for title, img in panels:
        tile = np.full((crop + label_height, crop, 3), 255, np.uint8)
        tile[label_height:] = img[y0:y0 + crop, x0:x0 + crop]
        cv2.putText(tile, title, (6, label_height - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    sheet = np.concatenate([np.pad(t, ((0, 0), (0, 4), (0, 0)), constant_values=255) for t in tiles], axis=1)
    ok, buf = cv2.imencode('.png', cv2.cvtColor(sheet[:, :-4], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    buf.tofile(out_path)
    return out_path


if __name__ == '__main__':
    import argparse
    parser = argparse.ArgumentParser(description='The README picture of upscaled paste-back '
                                     '(the benchmark itself: python -m ugatit.benchmarks.bench --what upscale).')
    parser.add_argument('--photo', default=os.path.join('..', 'shared', 'data', 'faces', 'obama.jpg'))
    parser.add_argument('--out', default=os.path.join('docs', 'upscale_paste_back.png'))
    a = parser.parse_args()
    print('written: %s' % paste_back_figure(a.photo, a.out))
