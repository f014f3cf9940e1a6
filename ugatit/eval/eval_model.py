"""`python main.py --phase eval --dataset X` (no --eval_real/--eval_fake): KID and FID of a model.

The checkpoint the test phase would restore translates testA -> B and testB -> A (ugatit/infer/translator.py
Translator, in runs of --batch_size, with a progress bar). Per direction, the translations are scored
against the real images of the target domain (A -> B: translations of testA vs testB), and the
untranslated inputs likewise (testA vs testB) as a baseline; the translations are also scored against
their source domain, which gives the authors' "mean KID" (ugatit/eval/metrics.py mean_kid). Every image is
scored at the model's size (--img_size): inputs and real images are read and resized as the test phase
reads them.

Output, in <result_dir>/<model_dir>/: a console table, eval.json (atomic) and a "KID and FID" section in
index.html, kept there when the test phase rewrites the page (ugatit/infer/report.py put_block).
"""

import os

import numpy as np
from tqdm import tqdm

from ugatit.config import DIRECTIONS, domain_folder
from ugatit.errors import UserError
from ugatit.eval.inception import load_inception
from ugatit.eval.metrics import KID_BLOCK_SIZE, html_section, mean_kid, print_results, score_features, write_json_atomically
from ugatit.infer.report import put_block, shareable_checkpoint_name
from ugatit.infer.testing import load_batch
from ugatit.infer.translator import Translator
from utils import ensure_writable_folder, list_images, to_uint8


def read_split(config, split, limit=None):
    """The first `limit` (None: all) image files of <dataset_dir>/<dataset>/<split>, read and resized as the
    test phase does; unreadable ones are named on the console and skipped.

    Returns (files read, float32 [N, S, S, 3] in [-1, 1] with S = --img_size, [(file, reason)] skipped).
    """
    files = list_images(domain_folder(config.paths.dataset_dir, config.paths.dataset, split))[:limit]
    images, used, skipped = load_batch(files, config.model.img_size)
    for _, reason in skipped:
        tqdm.write(' [!] skipped %s' % reason)
    size = config.model.img_size
    return used, np.stack(images) if images else np.zeros((0, size, size, 3), np.float32), skipped


def translate_in_batches(run, images, batch_size, desc):
    """Translate float32 [N, S, S, 3] images with run(batch) -> [n, S, S, 3], batch_size at a time,
    with a progress bar. Returns float32 [N, S, S, 3]."""
    out = []
    with tqdm(total=len(images), desc=desc, unit='img', leave=False, disable=len(images) < 2) as bar:
        for start in range(0, len(images), batch_size):
            out.append(run(images[start:start + batch_size]))
            bar.update(len(out[-1]))
    return np.concatenate(out) if out else images[:0]


def check_enough(counts):
    """UserError unless every set in counts ({name: number of readable images}) fills one KID block."""
    few = ['%s has %d' % (name, n) for name, n in counts.items() if n < KID_BLOCK_SIZE]
    if few:
        raise UserError('KID needs at least one block of %d readable images per set: %s (add images to the '
                        'dataset\'s test folders)' % (KID_BLOCK_SIZE, ', '.join(few)))


def run_eval_model(config):
    """Score the model of `config` on its dataset's testA/testB (see the module docstring); returns 0."""
    inputs, skipped = {}, []
    for split in ('testA', 'testB'):
        files, images, bad = read_split(config, split)
        inputs[split] = images
        skipped += bad
        if not files and not bad:
            raise UserError('%s: no image files (expected layout <dataset_dir>/<dataset>/{testA,testB}/)'
                            % domain_folder(config.paths.dataset_dir, config.paths.dataset, split))
    check_enough({domain_folder(config.paths.dataset_dir, config.paths.dataset, s): len(x) for s, x in inputs.items()})
    out_dir = ensure_writable_folder(config.run_folder('result'), '--result_dir')
    with load_inception(config.eval.inception) as inception:  # first: a missing graph fails before translating
        with Translator(config, tuple(DIRECTIONS)) as translator:
            print(' [*] Restored %s (step %d)' % (translator.checkpoint, translator.step))
            fakes = {d: translate_in_batches(lambda batch, d=d: translator.translate(d, batch)[0],
                                             inputs[DIRECTIONS[d].source_split], config.runtime.batch_size,
                                             '%s -> %s' % (DIRECTIONS[d].source_split, DIRECTIONS[d].target))
                     for d in DIRECTIONS}
            checkpoint = shareable_checkpoint_name(translator.checkpoint)
        real = {s: inception.features(to_uint8(x), desc='features (%s)' % s) for s, x in inputs.items()}
        fake = {d: inception.features(to_uint8(x), desc='features (%s translated)' % d) for d, x in fakes.items()}
        graph = inception.source
    results = score_model(real, fake)
    report = {'inception': graph, 'checkpoint': checkpoint, 'step': translator.step, 'results': results,
              'skipped': [{'file': f, 'reason': r} for f, r in skipped]}
    print_results(results)
    path = os.path.join(out_dir, 'eval.json')
    write_json_atomically(path, report)
    section = html_section(results, os.path.basename(graph))
    section += '\n<p>Checkpoint: %s (step %d); images at %d px.</p>' % (checkpoint, translator.step, config.model.img_size)
    index = put_block(out_dir, config.model_dir, 'eval', section)
    print(' [*] Wrote %s and %s' % (path, index))
    return 0


def score_model(real, fake):
    """Score dicts (metrics.score_features) of the translations and of the untranslated baseline.

    real: {'testA': features [N, d], 'testB': ...}; fake: {'a2b': features of the translated testA, 'b2a': ...}.
    Returns {table row name: score dict}; a translation's dict also holds 'source' (its score against its
    source domain) and the authors' 'mean_kid_x100', 'mean_kid_std_x100'.
    """
    results = {}
    for direction, way in DIRECTIONS.items():
        source, target, domain = way.source_split, way.target_split, way.target
        translated = score_features(real[target], fake[direction])
        translated['source'] = score_features(real[source], fake[direction])
        translated['mean_kid_x100'], translated['mean_kid_std_x100'] = mean_kid(translated, translated['source'])
        results['%s → %s vs %s' % (source, domain, target)] = translated
        results['%s untranslated vs %s' % (source, target)] = score_features(real[target], real[source])
    return results
