"""KID and FID as the paper reports them, on Inception pool_3 features (see docs/evaluation.md).

KID follows TF-GAN's `kernel_classifier_distance_and_std_from_activations`, which the authors'
metrics code (GAN_Metrics-Tensorflow) calls with max_block_size=10:
  - kernel k(x, y) = (x.y / d + 1)^3, d the feature size;
  - n_blocks = ceil(max(n_real, n_fake) / max_block_size); each set is cut, in its order, into
    n_blocks consecutive blocks of n // n_blocks images, the last n % n_blocks blocks one image
    larger;
  - per block the unbiased MMD^2: mean of k(r, r') over pairs r != r', plus the same for the fakes,
    minus twice the mean of k(r, g) over all pairs;
  - KID = mean over blocks; its standard error = sqrt(var / n_blocks) with the variance of the
    block estimates taken with Bessel's correction (n_blocks - 1).
It is computed here in float64 (the authors fed float32 features, so TF-GAN summed in float32).

FID = |m_r - m_f|^2 + tr(S_r) + tr(S_f) - 2 tr(sqrt(S_r S_f)), with the unbiased (n - 1)
covariances as TF-GAN. The trace of the square root is taken without SciPy's general sqrtm
(which can return complex parts from rounding on singular matrices such as the 2048 x 2048
covariances of 100 images): with fewer images than features, as the sum of the singular values of
the n x m matrix X_r X_f' of the centred features (exact: S_r S_f and that matrix times its
transpose share their non-zero eigenvalues); otherwise, as TF-GAN's trace_sqrt_product, from
tr(sqrt(S_r S_f)) = tr(sqrt(A S_f A)) with A = sqrt(S_r), by symmetric eigen-decompositions.
"""

import json
import math
import os

import numpy as np
from tqdm import tqdm

from ugatit.errors import UserError
from ugatit.eval.inception import FEATURE_DIM, load_inception
from utils import ImageError, escape, list_images, read_image_rgb, write_atomic

KID_BLOCK_SIZE = 10


def kid_blocks(n_real, n_fake, max_block_size=KID_BLOCK_SIZE):
    """Block boundaries as TF-GAN draws them: a list of ((r_start, r_end), (f_start, f_end)).

    Raises UserError when a set has fewer than max_block_size images or a block would hold fewer
    than two images of a set (the unbiased estimate needs pairs).
    """
    if min(n_real, n_fake) < max_block_size:
        raise UserError('KID needs at least one block of %d images per set; got %d real and %d translated'
                        % (max_block_size, n_real, n_fake))
    n_blocks = int(math.ceil(max(n_real, n_fake) / float(max_block_size)))
    bounds = []
    for n in (n_real, n_fake):
        small, n_larger = n // n_blocks, n % n_blocks
        if small < 2:
            raise UserError('KID in %d blocks needs at least %d images per set (two per block); got %d real and '
                            '%d translated' % (n_blocks, 2 * n_blocks, n_real, n_fake))
        sizes = [small] * (n_blocks - n_larger) + [small + 1] * n_larger
        ends = [int(e) for e in np.cumsum(sizes)]
        bounds.append([(end - size, end) for size, end in zip(sizes, ends)])
    return list(zip(*bounds))


def _unbiased_mmd2(r, f):
    """Unbiased MMD^2 of two feature blocks [m, d], [n, d] with the cubic polynomial kernel."""
    d = r.shape[1]
    k_rr = (r @ r.T / d + 1.0) ** 3
    k_ff = (f @ f.T / d + 1.0) ** 3
    k_rf = (r @ f.T / d + 1.0) ** 3
    m, n = len(r), len(f)
    return ((k_rr.sum() - np.trace(k_rr)) / (m * (m - 1)) + (k_ff.sum() - np.trace(k_ff)) / (n * (n - 1))
            - 2.0 * k_rf.mean())


def kid(real, fake, max_block_size=KID_BLOCK_SIZE):
    """KID of features real [N, d] and fake [M, d] (any float; computed in float64).

    Returns (mean over blocks, standard error or None for a single block, number of blocks).
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    _check_features(real, fake)
    estimates = np.array([_unbiased_mmd2(real[r0:r1], fake[f0:f1])
                          for (r0, r1), (f0, f1) in kid_blocks(len(real), len(fake), max_block_size)])
    mean = float(estimates.mean())
    if len(estimates) < 2:
        return mean, None, 1
    return mean, float(math.sqrt(estimates.var(ddof=1) / len(estimates))), len(estimates)


def _check_features(real, fake):
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError('features must be [N, d] and [M, d] with one d; got %s and %s' % (real.shape, fake.shape))


def _sqrt_psd(matrix):
    """Square root of a symmetric positive semi-definite matrix (rounding negatives clipped to 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _trace_sqrt_product(centred_r, centred_f):
    """tr(sqrt(S_r S_f)) of the unbiased covariances of two centred feature sets [n, d], [m, d]."""
    n, m, d = len(centred_r), len(centred_f), centred_r.shape[1]
    if min(n, m) <= d:
        # S_r S_f = X_r' X_r X_f' X_f / c shares its non-zero eigenvalues with K K' (K = X_r X_f'),
        # so the trace of its square root is the sum of the singular values of K / sqrt(c): an
        # n x m problem instead of a d x d one (100 x 100 instead of 2048 x 2048).
        singular = np.linalg.svd(centred_r @ centred_f.T, compute_uv=False)
        return float(singular.sum() / math.sqrt((n - 1) * (m - 1)))
    cov_r, cov_f = centred_r.T @ centred_r / (n - 1), centred_f.T @ centred_f / (m - 1)
    root = _sqrt_psd(cov_r)
    middle = root @ cov_f @ root
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None)).sum())


def fid(real, fake):
    """Frechet distance of features real [N, d] and fake [M, d] (N, M >= 2), in float64."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    _check_features(real, fake)
    n, m = len(real), len(fake)
    if min(n, m) < 2:
        raise UserError('FID needs at least 2 images per set; got %d real and %d translated' % (n, m))
    centred_r, centred_f = real - real.mean(0), fake - fake.mean(0)
    traces = np.sum(centred_r ** 2) / (n - 1) + np.sum(centred_f ** 2) / (m - 1)
    mean_term = float(np.sum((real.mean(0) - fake.mean(0)) ** 2))
    return mean_term + float(traces) - 2.0 * _trace_sqrt_product(centred_r, centred_f)


def score_features(real, fake, max_block_size=KID_BLOCK_SIZE):
    """KID x100 (with its standard error x100, as the paper's table) and FID of two feature sets."""
    kid_mean, kid_std, n_blocks = kid(real, fake, max_block_size)
    return {'n_real': len(real), 'n_fake': len(fake), 'kid_x100': 100.0 * kid_mean,
            'kid_std_x100': None if kid_std is None else 100.0 * kid_std, 'kid_blocks': n_blocks,
            'kid_block_size': max_block_size, 'fid': fid(real, fake), 'feature_dim': int(real.shape[1])}


def mean_kid(target, source, source_weight=0.98):
    """The "mean KID" of the authors' GAN_Metrics-Tensorflow (its latest form, August 2019).

    (target_weight * KID(target) + source_weight * KID(source)) / 2 with target_weight =
    1 - source_weight, for the mean and (the same way) for the standard error; target and source
    are score_features() dicts of the translations against real target-domain and real
    source-domain images. It mostly measures how far translations stay from their source domain.
    Returns (mean x100, std x100 or None).
    """
    weights = (1.0 - source_weight, source_weight)
    mean = (weights[0] * target['kid_x100'] + weights[1] * source['kid_x100']) / 2.0
    if target['kid_std_x100'] is None or source['kid_std_x100'] is None:
        return mean, None
    return mean, (weights[0] * target['kid_std_x100'] + weights[1] * source['kid_std_x100']) / 2.0


def score(real_images, fake_images, inception, max_block_size=KID_BLOCK_SIZE, source_images=None):
    """Score translations against real images of the target domain.

    real_images, fake_images: uint8 RGB [N, H, W, 3] and [M, H', W', 3] (or lists of [H, W, 3]);
    inception: an ugatit.eval.inception.InceptionFeatures. Images are used in the given order (TF-GAN's
    blocks assume it is random). Returns the dict of score_features(); with source_images (real
    images of the source domain) also 'source' (the same scores against them) and the authors'
    'mean_kid_x100', 'mean_kid_std_x100' (see mean_kid).
    """
    fake = inception.features(fake_images, desc='features (translated)')
    result = score_features(inception.features(real_images, desc='features (real)'), fake, max_block_size)
    if source_images is not None:
        source = score_features(inception.features(source_images, desc='features (source)'), fake, max_block_size)
        result['source'] = source
        result['mean_kid_x100'], result['mean_kid_std_x100'] = mean_kid(result, source)
    return result


def format_kid(result):
    std = result['kid_std_x100']
    return '%.2f ± %s' % (result['kid_x100'], 'n/a' if std is None else '%.2f' % std)


def format_table(results):
    """Console table of {name: score dict}: KID x100 ± std x100, FID, image counts."""
    rows = [('', 'KID×100 ± std×100', 'FID', 'real', 'translated')]
    rows += [(name, format_kid(r), '%.2f' % r['fid'], str(r['n_real']), str(r['n_fake'])) for name, r in results.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ['  '.join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, '-' * len(lines[0]))
    return '\n'.join(lines)


def print_results(results):
    """Console report of {row name: score dict}: the table, the authors' mean KID of the rows that
    have one (scored against their source domain too), and a warning when the features are not the
    2048 of TF-GAN's Inception pool_3."""
    print(format_table(results))
    for name, result in results.items():
        if 'mean_kid_x100' in result:
            print(' %s: mean KID×100 of the authors\' metrics code (0.02 target + 0.98 source, halved): %s'
                  % (name, format_kid({'kid_x100': result['mean_kid_x100'], 'kid_std_x100': result['mean_kid_std_x100']})))
    dims = sorted({result['feature_dim'] for result in results.values()} - {FEATURE_DIM})
    if dims:
        print(' [!] the graph gives %d features, not the %d of TF-GAN\'s Inception pool_3: these numbers are not '
              'comparable to the paper\'s' % (dims[0], FEATURE_DIM))


def html_section(results, inception_source=None):
    """An HTML fragment (<h2> and a table) of {name: score dict}, for a results index.html."""
    parts = ['<h2>KID and FID</h2>',
             '<p>Inception pool_3 features; KID×100 ± standard error×100 (blocks of at most %d images), FID. '
             'Lower is better.%s</p>' % (KID_BLOCK_SIZE, '' if inception_source is None else
                                         ' Graph: %s.' % escape(inception_source)),
             '<table><tr><th></th><th>KID×100 ± std×100</th><th>FID</th><th>real</th><th>translated</th></tr>']
    for name, r in results.items():
        parts.append('<tr><td>%s</td><td>%s</td><td>%.2f</td><td>%d</td><td>%d</td></tr>'
                     % (escape(name), escape(format_kid(r)), r['fid'], r['n_real'], r['n_fake']))
    parts.append('</table>')
    return '\n'.join(parts)


def write_json_atomically(path, data):
    """Write JSON to `path` through a temporary file in the same folder, so no half file remains."""
    write_atomic(path, json.dumps(data, indent=1, ensure_ascii=False))


def read_folder(folder, flag):
    """Readable images of a folder as uint8 RGB; unreadable ones named on the console and skipped.

    Returns (images, used files, skipped [(file, reason)]).
    """
    files = list_images(folder)
    if not files:
        raise UserError('%s %s: %s' % (flag, folder, 'holds no image files' if os.path.isdir(folder) else 'no such folder'))
    images, used, skipped = [], [], []
    for path in tqdm(files, desc='reading %s' % folder, unit='img', disable=len(files) < 2):
        try:
            images.append(read_image_rgb(path))
            used.append(path)
        except ImageError as exc:
            skipped.append((path, str(exc)))
            tqdm.write(' [!] skipped %s' % exc)
    if not images:
        raise UserError('%s %s: none of its %d image files could be read' % (flag, folder, len(files)))
    return images, used, skipped


def run_eval_folders(config):
    """--phase eval --eval_real DIR --eval_fake DIR [--eval_source DIR]: score folders, no model.

    Prints a table, writes <result_dir>/eval.json; returns the exit status (0).
    """
    flags = config.eval
    real, _, skipped = read_folder(flags.eval_real, '--eval_real')
    fake, _, more = read_folder(flags.eval_fake, '--eval_fake')
    skipped += more
    source = None
    if flags.eval_source:
        source, _, more = read_folder(flags.eval_source, '--eval_source')
        skipped += more
    with load_inception(flags.inception) as inception:
        result = score(real, fake, inception, source_images=source)
        graph = inception.source
    result.update(real=flags.eval_real, fake=flags.eval_fake, skipped=[{'file': f, 'reason': r} for f, r in skipped])
    name = lambda folder: os.path.basename(os.path.normpath(folder))  # noqa: E731 (full paths are in the JSON)
    results = {'%s vs %s' % (name(flags.eval_fake), name(flags.eval_real)): result}
    if source is not None:
        result['source_folder'] = flags.eval_source
        results['%s vs %s (source)' % (name(flags.eval_fake), name(flags.eval_source))] = result['source']
    print_results(results)
    os.makedirs(config.paths.result_dir, exist_ok=True)
    path = os.path.join(config.paths.result_dir, 'eval.json')
    write_json_atomically(path, {'inception': graph, 'results': results})
    print(' [*] Wrote %s' % path)
    return 0


