"""The few-drawings study of DiffAugment: python -m ugatit.benchmarks.fewshot_study [--out DIR] [--seeds 1 2 3]

Trains the demo's model (the `demo` preset of ugatit/config.py, on a shortened schedule: --epoch)
on the built-in demo dataset with all of trainB and with only its first --few images, each with
and without --diff_augment, once per seed, then tests every run against the demo's paired ground
truth (L1 and PSNR, ugatit/infer/testing.py). Writes, under --out:

    data/demo<N>/            the datasets: symlinks into dataset/demo (never modified); trainB of
                             the few-image one holds symlinks to the first --few files only
    runs/<run>/              each run's checkpoint, logs, samples, results and train/test logs
    results.json             per run: its settings and metrics.json's figures
    table.md                 mean ± std over the seeds per configuration, the untranslated baseline

Finished runs (runs/<run>/metrics.json present) are not repeated, so an interrupted study resumes;
studies of different --seeds may run at once with one --out (then --report_only tables them all).
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
from tqdm import tqdm

from ugatit.config import DIRECTIONS
from utils import write_atomic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPLITS = ('trainA', 'trainB', 'testA', 'testB', 'testA_truth', 'testB_truth')
POLICY = 'color,translation,cutout'
METRICS = ('translation_l1', 'translation_psnr', 'input_l1', 'input_psnr')


def make_subset(source, target, n_train_b):
    """target/<split> as symlinks to source/<split>, but trainB holding links to the first
    n_train_b files of source/trainB (sorted by name) only; None: all of them. Returns target."""
    for split in SPLITS:
        link = os.path.join(target, split)
        if os.path.lexists(link):
            continue
        os.makedirs(target, exist_ok=True)
        src = os.path.abspath(os.path.join(source, split))
        if split != 'trainB' or n_train_b is None:
            os.symlink(src, link)
            continue
        names = sorted(os.listdir(src))
        if len(names) < n_train_b:
            raise ValueError('%s holds %d images, fewer than %d' % (src, len(names), n_train_b))
        os.makedirs(link + '.tmp', exist_ok=True)
        for name in names[:n_train_b]:
            os.symlink(os.path.join(src, name), os.path.join(link + '.tmp', name))
        os.replace(link + '.tmp', link)
    return target


def run_flags(data_dir, dataset, run_dir, seed, policy, epoch):
    """main.py flags of one run: the demo preset's model and schedule but for --epoch."""
    from ugatit.config import PRESETS
    preset = dict(PRESETS['demo'], epoch=epoch)
    flags = ['--dataset_dir', data_dir, '--dataset', dataset, '--seed', str(seed), '--diff_augment', policy]
    for name, value in sorted(preset.items()):
        flags += ['--' + name, str(value)]
    for name in ('checkpoint_dir', 'result_dir', 'log_dir', 'sample_dir'):
        flags += ['--' + name, os.path.join(run_dir, name)]
    return flags


def run_one(flags, run_dir):
    """Train then test in fresh processes (logs in run_dir); returns the test's metrics.json."""
    from ugatit import cli
    for phase in ('train', 'test'):
        with open(os.path.join(run_dir, phase + '.log'), 'w') as log:
            rc = subprocess.call([sys.executable, os.path.join(ROOT, 'main.py'), '--phase', phase] + flags,
                                 stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        if rc:
            raise RuntimeError('%s failed (exit status %d); see %s' % (phase, rc, log.name))
    config = cli.parse_config(['--phase', 'test'] + flags)
    with open(os.path.join(config.paths.result_dir, config.model_dir, 'metrics.json')) as f:
        return json.load(f)


def summarise(results):
    """results: [{'train_b', 'diff_augment', 'seed', 'a2b': {metric: value}, 'b2a': ...}] ->
    rows [{'train_b', 'diff_augment', 'seeds', 'a2b': {metric: (mean, std)}, 'b2a': ...}], std
    the sample standard deviation (ddof 1; 0 for one run), in the order first seen."""
    groups = {}
    for r in results:
        groups.setdefault((r['train_b'], r['diff_augment']), []).append(r)
    rows = []
    for (train_b, policy), runs in groups.items():
        row = {'train_b': train_b, 'diff_augment': policy, 'seeds': sorted(r['seed'] for r in runs)}
        for direction in DIRECTIONS:
            values = {m: np.array([r[direction][m] for r in runs], dtype=np.float64) for m in METRICS}
            row[direction] = {m: (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0)
                              for m, v in values.items()}
        rows.append(row)
    return rows


def markdown_table(rows):
    """The study's table (markdown) from summarise()'s rows."""
    lines = ['| trainB | DiffAugment | seeds | A→B L1 | A→B PSNR (dB) | B→A L1 | B→A PSNR (dB) |',
             '|---|---|---|---|---|---|---|']
    for row in rows:
        cells = []
        for direction in DIRECTIONS:
            (l1, l1_sd), (psnr, psnr_sd) = row[direction]['translation_l1'], row[direction]['translation_psnr']
            cells += ['%.4f ± %.4f' % (l1, l1_sd), '%.2f ± %.2f' % (psnr, psnr_sd)]
        lines.append('| %d | %s | %s | %s |' % (row['train_b'], row['diff_augment'] or 'off',
                                                ' '.join(map(str, row['seeds'])), ' | '.join(cells)))
    if rows:
        base = [rows[0][d][m][0] for d in DIRECTIONS for m in ('input_l1', 'input_psnr')]
        lines.append('| untranslated input | | | %.4f | %.2f | %.4f | %.2f |' % tuple(base))
    return '\n'.join(lines) + '\n'


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='/tmp/fewshot_study', help='folder of everything the study writes')
    parser.add_argument('--demo', default=os.path.join(ROOT, 'dataset', 'demo'),
                        help='the demo dataset (generated there if missing; only read otherwise)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    parser.add_argument('--few', type=int, default=40, help='trainB images of the few-drawings dataset')
    parser.add_argument('--epoch', type=int, default=2, help='epochs of 250 steps (the demo preset has 6)')
    parser.add_argument('--policy', default=POLICY, help='the --diff_augment policy of the runs with it')
    parser.add_argument('--report_only', action='store_true',
                        help='train nothing: the table of the runs already finished under --out')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from ugatit.assets.demo_data import ensure_demo_dataset
    if not args.report_only:
        try:
            ensure_demo_dataset(args.demo)
        except ValueError as exc:  # a folder that is not the demo's: named, nothing written
            print('error: --demo: %s' % exc, file=sys.stderr)
            return 2
    data_dir = os.path.join(args.out, 'data')
    full = len(os.listdir(os.path.join(args.demo, 'trainB')))
    # Seed by seed, so that an interrupted study has every configuration for the first seeds.
    plan = [(n, policy, seed) for seed in args.seeds for n in (full, args.few) for policy in ('', args.policy)]
    results = []
    for n, policy, seed in tqdm(plan, desc='study runs'):
        dataset = 'demo%d' % n
        run_dir = os.path.join(args.out, 'runs', '%s_%s_seed%d' % (dataset, 'da' if policy else 'plain', seed))
        done = os.path.join(run_dir, 'metrics.json')
        if not os.path.isfile(done):
            if args.report_only:
                continue
            make_subset(args.demo, os.path.join(data_dir, dataset), None if n == full else n)
            os.makedirs(run_dir, exist_ok=True)
            try:
                metrics = run_one(run_flags(data_dir, dataset, run_dir, seed, policy, args.epoch), run_dir)
            except RuntimeError as exc:  # the other runs still count
                print('error: %s' % exc, file=sys.stderr)
                continue
            write_atomic(done, json.dumps(metrics, indent=1))
        with open(done) as f:
            metrics = json.load(f)
        results.append({'train_b': n, 'diff_augment': policy, 'seed': seed,
                        'a2b': metrics['a2b']['metrics'], 'b2a': metrics['b2a']['metrics']})
        _write_outputs(args.out, results)
    _write_outputs(args.out, results)
    print(markdown_table(summarise(results)))
    return 0


def _write_outputs(out, results):
    """results.json and table.md, each written whole (studies of other seeds may share --out)."""
    write_atomic(os.path.join(out, 'results.json'), json.dumps(results, indent=1))
    write_atomic(os.path.join(out, 'table.md'), markdown_table(summarise(results)))


if __name__ == '__main__':
    sys.exit(main())
