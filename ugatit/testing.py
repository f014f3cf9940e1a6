"""The test phase: translate a dataset's testA -> B and testB -> A and write an HTML report.

Output, in `<result_dir>/<model_dir>/`:
    a2b/<name>.png, a2b/<name>_input.png, a2b/<name>_attention.png    (testA translated to B)
    b2a/...                                                            (testB translated to A)
    index.html                                                         (input | output | attention)
    metrics.json                                                       (counts, ground-truth metrics)
Inputs go to separate folders per direction: the official code wrote both into one folder, so a
testB file overwrote the testA result of the same name (selfie2anime has 0000.jpg in both).

When the dataset has paired ground truth (`testA_truth/`, `testB_truth/`: each test image
rendered in the other domain, as the built-in demo dataset has), the report adds the mean L1
and PSNR of the translation against it, next to the untranslated input as a baseline.
"""

import json
import os

import numpy as np
from tqdm import tqdm

from ugatit.data import domain_folder
from ugatit.errors import UserError
from utils import (ImageError, check_folder, escape, heatmap_to_rgb, imwrite_rgb, list_images,
                   preprocess, read_image_rgb, to_uint8, unique_stem)

DIRECTIONS = {'a2b': ('testA', 'B'), 'b2a': ('testB', 'A')}


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


def run_test(gan):
    """Test phase on <dataset_dir>/<dataset>/test{A,B}; returns the report dict per direction."""
    args = gan.args
    folders = {d: domain_folder(args.dataset_dir, args.dataset, split) for d, (split, _) in DIRECTIONS.items()}
    files = {d: list_images(f) for d, f in folders.items()}
    directions = [d for d in DIRECTIONS if files[d]]
    if not directions:
        raise UserError('no test images: %s and %s are missing or hold no image files '
                        '(expected layout <dataset_dir>/<dataset>/{testA,testB}/)'
                        % (folders['a2b'], folders['b2a']))
    gan.build_model(directions=directions)
    loaded, step = gan.restore_generators()
    print(' [*] Restored %s (step %d)' % (gan.loaded_checkpoint, step))

    out_dir = check_folder(os.path.join(args.result_dir, gan.model_dir))
    report = {}
    for direction in directions:
        report[direction] = translate_folder(gan, direction, files[direction], out_dir)
    index = write_index(out_dir, report, gan.model_dir, gan.loaded_checkpoint)
    summary = {d: {'translated': len(r['rows']), 'skipped': len(r['skipped']), 'metrics': r.get('metrics')}
               for d, r in report.items()}
    summary['checkpoint'] = gan.loaded_checkpoint
    with open(os.path.join(out_dir, 'metrics.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    print(' [*] Results: %s' % index)
    return report


def translate_folder(gan, direction, files, out_dir):
    """Translate `files` with one generator; write images; compute truth metrics if possible."""
    args = gan.args
    split, target = DIRECTIONS[direction]
    sub = check_folder(os.path.join(out_dir, direction))
    truth_dir = domain_folder(args.dataset_dir, args.dataset, split + '_truth')
    rows, skipped, used = [], [], set()
    outputs, inputs, truths = [], [], []
    bar = tqdm(total=len(files), desc='%s -> %s' % (split, target), unit='img')
    for start in range(0, len(files), max(args.batch_size, 1) * 8):
        chunk = files[start:start + max(args.batch_size, 1) * 8]
        images, names, bad = load_batch(chunk, args.img_size)
        skipped.extend(bad)
        if images:
            batch = np.stack(images)
            fake, heat = gan.translate(direction, batch)
            for path, x, y, h in zip(names, batch, fake, heat):
                stem = unique_stem(path, used)
                row = {'source': path, 'stem': stem,
                       'input': '%s/%s_input.png' % (direction, stem),
                       'output': '%s/%s.png' % (direction, stem),
                       'attention': '%s/%s_attention.png' % (direction, stem)}
                x8, y8 = to_uint8(x), to_uint8(y)
                imwrite_rgb(os.path.join(out_dir, row['input']), x8)
                imwrite_rgb(os.path.join(out_dir, row['output']), y8)
                imwrite_rgb(os.path.join(out_dir, row['attention']), heatmap_to_rgb(h, args.img_size))
                truth_path = os.path.join(truth_dir, os.path.basename(path))
                if os.path.isfile(truth_path):
                    t8 = to_uint8(preprocess(read_image_rgb(truth_path), args.img_size))
                    row['truth'] = '%s/%s_truth.png' % (direction, stem)
                    imwrite_rgb(os.path.join(out_dir, row['truth']), t8)
                    outputs.append(y8)
                    inputs.append(x8)
                    truths.append(t8)
                rows.append(row)
        bar.update(len(chunk))
    bar.close()
    for path, reason in skipped:
        print(' [!] skipped %s' % reason)
    result = {'rows': rows, 'skipped': skipped, 'split': split, 'target': target}
    if truths and len(truths) == len(rows):
        out_l1, out_psnr = l1_and_psnr(np.stack(outputs), np.stack(truths))
        in_l1, in_psnr = l1_and_psnr(np.stack(inputs), np.stack(truths))
        result['metrics'] = {'n': len(truths), 'translation_l1': out_l1, 'translation_psnr': out_psnr,
                             'input_l1': in_l1, 'input_psnr': in_psnr}
        print(' [*] %s -> %s vs ground truth (%d images): translation L1 %.4f PSNR %.2f dB | '
              'untranslated input L1 %.4f PSNR %.2f dB'
              % (split, target, len(truths), out_l1, out_psnr, in_l1, in_psnr))
    return result


def write_index(out_dir, report, model_dir, checkpoint):
    """Write index.html (names HTML-escaped) and return its path."""
    parts = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>%s</title>'
             '<style>body{font-family:sans-serif} td{text-align:center;padding:4px} '
             'img{width:160px;height:160px;image-rendering:pixelated}</style></head><body>'
             % escape(model_dir),
             '<h1>%s</h1><p>checkpoint: %s</p>' % (escape(model_dir), escape(checkpoint))]
    for direction, result in report.items():
        parts.append('<h2>%s &rarr; %s</h2>' % (escape(result['split']), escape(result['target'])))
        metrics = result.get('metrics')
        if metrics:
            parts.append('<p>Against the paired ground truth (%d images): translation mean L1 %.4f, '
                         'PSNR %.2f dB; untranslated input mean L1 %.4f, PSNR %.2f dB.</p>'
                         % (metrics['n'], metrics['translation_l1'], metrics['translation_psnr'],
                            metrics['input_l1'], metrics['input_psnr']))
        has_truth = any('truth' in r for r in result['rows'])
        parts.append('<table><tr><th>name</th><th>input</th><th>output</th><th>attention</th>%s</tr>'
                     % ('<th>ground truth</th>' if has_truth else ''))
        for r in result['rows']:
            cells = ['<td>%s</td>' % escape(os.path.basename(r['source']))]
            for key in ('input', 'output', 'attention') + (('truth',) if has_truth else ()):
                cells.append('<td><img src="%s" alt="%s"></td>' % (escape(r[key]), key) if key in r else '<td></td>')
            parts.append('<tr>%s</tr>' % ''.join(cells))
        parts.append('</table>')
        if result['skipped']:
            parts.append('<p>Skipped:</p><ul>%s</ul>' % ''.join(
                '<li>%s</li>' % escape(reason) for _, reason in result['skipped']))
    parts.append('</body></html>')
    path = os.path.join(out_dir, 'index.html')
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(parts))
    return path
