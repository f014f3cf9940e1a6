"""The test phase: translate a dataset's testA -> B and testB -> A and write an HTML report.

Output, in `<result_dir>/<model_dir>/`:
    a2b/<name>.png                 testA translated to B
    a2b/input/<name>.png           the model's input (resized)
    a2b/attention/<name>.png       the generator's CAM attention map
    a2b/truth/<name>.png           the paired ground truth, when the dataset has one
    b2a/...                        testB translated to A
    index.html                     input | output | attention (| truth) per image
    metrics.json                   counts and ground-truth metrics
Inputs go to separate folders per direction: the official code wrote both into one folder, so a
testB file overwrote the testA result of the same name (selfie2anime has 0000.jpg in both).
Every kind of image has its own folder and names are made unique within a direction before
anything is written, so no two inputs can write the same file. The folder is the test phase's
own: a second run writes over the first's files of the same names (said on the console); other
files there are left alone.

When the dataset has paired ground truth (`testA_truth/`, `testB_truth/`: each test image
rendered in the other domain, as the built-in demo dataset has), the report adds the mean L1
and PSNR of the translation against it, next to the untranslated input as a baseline.
"""

import dataclasses
import json
import os

import numpy as np
from tqdm import tqdm

from ugatit.config import DIRECTIONS, domain_folder
from ugatit.errors import UserError
from ugatit.infer.report import Section, shareable_checkpoint_name, write_index
from ugatit.infer.translator import Translator
from ugatit.infer.upscale import enlarge
from utils import (ImageError, check_folder, ensure_writable_folder, heatmap_to_rgb, imwrite_rgb, list_images, preprocess,
                   printable, read_image_rgb, to_uint8, unique_stem, write_atomic)

# Sub-folder of each image kind written next to the translations.
KINDS = ('input', 'attention', 'truth')


def l1_and_psnr(images, truth):
    """Mean absolute error and PSNR (dB) of uint8 images against uint8 truth, in [0, 1] units.

    images, truth: [N, H, W, 3] uint8. Returns (mean L1, mean PSNR over images).
    """
    a = images.astype(np.float64) / 255.0
    b = truth.astype(np.float64) / 255.0
    l1 = float(np.mean(np.abs(a - b)))
    mse = np.mean((a - b) ** 2, axis=(1, 2, 3))
    psnr = 10.0 * np.log10(1.0 / np.maximum(mse, 1e-10))
    return l1, float(np.mean(psnr))


def load_batch(files, size):
    """Read files as [-1, 1] float images; unreadable ones are returned as (file, reason)."""
    images, names, skipped = [], [], []
    for path in files:
        try:
            images.append(preprocess(read_image_rgb(path), size))
            names.append(path)
        except ImageError as exc:
            skipped.append((path, str(exc)))
    return images, names, skipped


def run_test(config):
    """Test phase on <dataset_dir>/<dataset>/test{A,B}; returns the report dict per direction."""
    paths = config.paths
    folders = {d: domain_folder(paths.dataset_dir, paths.dataset, DIRECTIONS[d].source_split) for d in DIRECTIONS}
    files = {d: list_images(f) for d, f in folders.items()}
    directions = [d for d in DIRECTIONS if files[d]]
    if not directions:
        raise UserError('no test images: %s and %s are missing or hold no image files '
                        '(expected layout <dataset_dir>/<dataset>/{testA,testB}/)'
                        % (folders['a2b'], folders['b2a']))
    out_dir = ensure_writable_folder(config.run_folder('result'), '--result_dir')
    if os.path.exists(os.path.join(out_dir, 'index.html')):
        print(' [*] %s holds the results of an earlier test run: they are replaced (copy the folder '
              'first to keep them)' % printable(out_dir))
    with Translator(config, directions) as translator:
        print(' [*] Restored %s (step %d)' % (translator.checkpoint, translator.step))
        report = {d: translate_folder(translator, config, d, files[d], out_dir) for d in directions}
        checkpoint = shareable_checkpoint_name(translator.checkpoint)
    index = write_test_index(out_dir, report, config.model_dir, checkpoint)
    summary = {d: {'translated': len(r['rows']), 'skipped': len(r['skipped']), 'metrics': r.get('metrics')}
               for d, r in report.items()}
    summary['checkpoint'] = checkpoint
    write_atomic(os.path.join(out_dir, 'metrics.json'), json.dumps(summary, indent=1))
    print(' [*] Results: %s' % index)
    return report


def translate_folder(translator, config, direction, files, out_dir):
    """Translate `files` with one generator; write images; compute truth metrics if possible.

    translator: anything with translate(direction, [N, S, S, 3] floats) -> (images, heatmaps).
    """
    split, target = DIRECTIONS[direction].source_split, DIRECTIONS[direction].target
    size, chunk_size = config.model.img_size, max(config.runtime.batch_size, 1) * 8
    for kind in KINDS[:2]:
        check_folder(os.path.join(out_dir, direction, kind))
    truth_dir = domain_folder(config.paths.dataset_dir, config.paths.dataset, split + '_truth')
    rows, skipped, used, scored = [], [], set(), []
    bar = tqdm(total=len(files), desc='%s -> %s' % (split, target), unit='img')
    for start in range(0, len(files), chunk_size):
        chunk = files[start:start + chunk_size]
        images, names, bad = load_batch(chunk, size)
        skipped.extend(bad)
        if images:
            batch = np.stack(images)
            fake, heat = translator.translate(direction, batch)
            for path, x, y, h in zip(names, batch, fake, heat):
                row, truth = _write_one(out_dir, direction, unique_stem(path, used), path, x, y, h, truth_dir, size,
                                        config.photo)
                rows.append(row)
                if truth is not None:
                    scored.append((to_uint8(y), to_uint8(x), truth))
        bar.update(len(chunk))
    bar.close()
    for path, reason in skipped:
        print(' [!] skipped %s' % reason)
    result = {'rows': rows, 'skipped': skipped, 'split': split, 'target': target}
    if scored and len(scored) == len(rows):
        result['metrics'] = _truth_metrics(scored, split, target)
    return result


def _write_one(out_dir, direction, stem, source, x, y, heatmap, truth_dir, size, photo):
    """Write one input's images (the translation enlarged as photo.upscale asks); returns (its
    index row, its uint8 ground truth or None)."""
    row = {'source': source, 'name': os.path.basename(source), 'output': '%s/%s.png' % (direction, stem)}
    row['input'] = '%s/input/%s.png' % (direction, stem)
    row['attention'] = '%s/attention/%s.png' % (direction, stem)
    imwrite_rgb(os.path.join(out_dir, row['input']), to_uint8(x))
    # The dataset's test grids stay at the model's size unless --upscale is given.
    same_size = photo if photo.upscale is not None else dataclasses.replace(photo, upscale=1)
    imwrite_rgb(os.path.join(out_dir, row['output']), enlarge(to_uint8(y), same_size))
    imwrite_rgb(os.path.join(out_dir, row['attention']), heatmap_to_rgb(heatmap, size))
    truth_path = os.path.join(truth_dir, os.path.basename(source))
    if not os.path.isfile(truth_path):
        return row, None
    try:
        truth = to_uint8(preprocess(read_image_rgb(truth_path), size))
    except ImageError as exc:
        print(' [!] ground truth not used: %s' % exc)
        return row, None
    row['truth'] = '%s/truth/%s.png' % (direction, stem)
    check_folder(os.path.join(out_dir, direction, 'truth'))
    imwrite_rgb(os.path.join(out_dir, row['truth']), truth)
    return row, truth


def _truth_metrics(scored, split, target):
    """L1 / PSNR of translations and of the untranslated inputs against the truth."""
    outputs, inputs, truths = (np.stack(column) for column in zip(*scored))
    out_l1, out_psnr = l1_and_psnr(outputs, truths)
    in_l1, in_psnr = l1_and_psnr(inputs, truths)
    print(' [*] %s -> %s vs ground truth (%d images): translation L1 %.4f PSNR %.2f dB | '
          'untranslated input L1 %.4f PSNR %.2f dB' % (split, target, len(truths), out_l1, out_psnr, in_l1, in_psnr))
    return {'n': len(truths), 'translation_l1': out_l1, 'translation_psnr': out_psnr,
            'input_l1': in_l1, 'input_psnr': in_psnr}


def write_test_index(out_dir, report, model_dir, checkpoint):
    """index.html of the test phase; returns its path."""
    sections = []
    for result in report.values():
        metrics = result.get('metrics')
        notes = ['Against the paired ground truth (%d images): translation mean L1 %.4f, PSNR %.2f dB; '
                 'untranslated input mean L1 %.4f, PSNR %.2f dB.'
                 % (metrics['n'], metrics['translation_l1'], metrics['translation_psnr'],
                    metrics['input_l1'], metrics['input_psnr'])] if metrics else []
        columns = [('input', 'input'), ('output', 'output'), ('attention', 'attention')]
        if any('truth' in r for r in result['rows']):
            columns.append(('truth', 'ground truth'))
        sections.append(Section(heading='%s \u2192 %s' % (result['split'], result['target']), notes=notes,
                                columns=columns, rows=result['rows'],
                                skipped=[reason for _, reason in result['skipped']]))
    return write_index(out_dir, model_dir, ['checkpoint: %s' % checkpoint], sections)
