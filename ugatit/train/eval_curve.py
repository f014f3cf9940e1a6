"""The --eval_freq history (<log_dir>/<model_dir>/eval_history.csv, written by ugatit/train/train_eval.py) and
its plot to a PNG (without TensorFlow):

    python -m ugatit.train.eval_curve logs/<model_dir>/eval_history.csv curve.png

One panel per metric that the history holds (KID x100 with its standard error as a band, FID, L1, PSNR),
one line per direction, the training step on the x axis.
"""

import argparse
import csv
import io
import math
import os
import sys

import numpy as np

from ugatit.config import DIRECTIONS
from ugatit.errors import UserError
from utils import write_atomic

METRICS = ('kid_x100', 'kid_std_x100', 'fid', 'l1', 'psnr')
COLUMNS = ['step'] + ['%s_%s' % (d, m) for d in DIRECTIONS for m in METRICS]
PANELS = (('kid_x100', 'KID×100 (lower is better)'), ('fid', 'FID (lower is better)'),
          ('l1', 'L1 vs ground truth (lower is better)'), ('psnr', 'PSNR vs ground truth, dB (higher is better)'))
LABELS = {'a2b': 'A → B', 'b2a': 'B → A'}


def plot_history(csv_path, png_path, title=None):
    """Write the curves of the history at csv_path to png_path (atomically); returns the panels drawn."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = History(csv_path).rows()
    if not rows:
        raise UserError('%s: no evaluation history (train with --eval_freq N first)' % csv_path)
    steps = np.array([r['step'] for r in rows])
    column = lambda name: np.array([np.nan if r.get(name) is None else r[name] for r in rows], float)  # noqa: E731
    panels = [(key, label) for key, label in PANELS if any(np.isfinite(column('%s_%s' % (d, key))).any() for d in DIRECTIONS)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        for direction in DIRECTIONS:
            values = column('%s_%s' % (direction, key))
            line, = ax.plot(steps, values, marker='o', markersize=3, label=LABELS[direction])
            if key == 'kid_x100':
                std = np.nan_to_num(column('%s_kid_std_x100' % direction))
                ax.fill_between(steps, values - std, values + std, color=line.get_color(), alpha=0.2)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel('training step')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = _png_bytes(fig)
    plt.close(fig)
    write_atomic(png_path, buffer)
    return [key for key, _ in panels]


def _png_bytes(fig):
    out = io.BytesIO()
    fig.savefig(out, format='png', dpi=80)
    return out.getvalue()


class History(object):
    """The CSV of evaluations (COLUMNS; empty cells for what was not scored), rewritten atomically."""

    def __init__(self, path):
        self.path = path

    def rows(self):
        """The rows so far: a list of {column: float or None} with an int 'step'."""
        if not os.path.isfile(self.path):
            return []
        with open(self.path, newline='') as f:
            return [{k: (int(v) if k == 'step' else float(v)) if v not in ('', None) else None for k, v in r.items()}
                    for r in csv.DictReader(f)]

    def last_step(self):
        rows = self.rows()
        return rows[-1]['step'] if rows else None

    def append(self, row):
        """Add `row`; rows of this step or later (left by a run that resumed from an older checkpoint) go."""
        rows = [r for r in self.rows() if r['step'] < row['step']] + [row]
        out = io.StringIO()
        writer = csv.DictWriter(out, COLUMNS, extrasaction='ignore', lineterminator='\n')
        writer.writeheader()
        for r in rows:
            writer.writerow({k: '' if r.get(k) is None or (isinstance(r[k], float) and math.isnan(r[k]))
                             else r[k] for k in COLUMNS})
        write_atomic(self.path, out.getvalue())


def main(argv=None):
    parser = argparse.ArgumentParser(description='Plot an --eval_freq history (eval_history.csv) to a PNG.')
    parser.add_argument('history', help='eval_history.csv in <log_dir>/<model_dir>/')
    parser.add_argument('png', help='the PNG to write')
    parser.add_argument('--title', default=None)
    args = parser.parse_args(argv)
    try:
        panels = plot_history(args.history, args.png, args.title)
    except UserError as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 2
    print(' [*] Wrote %s (%s)' % (args.png, ', '.join(panels)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
