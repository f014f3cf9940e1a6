"""The relative KID curve of the selfie2anime CPU runs, docs/cpu_model_kid.png, from the scores
recorded in docs/cpu_model_kid.csv (one row per run, step and direction):

    python -m ugatit.benchmarks.kid_curve

Each run is a line per direction, with the standard deviation over the 10 blocks as error bars
where it was recorded; grey: the untranslated images; dotted black: the target of the model card.
"""

import argparse
import csv
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCORES = os.path.join(ROOT, 'docs', 'cpu_model_kid.csv')
FIGURE = os.path.join(ROOT, 'docs', 'cpu_model_kid.png')
TARGET = 15.0  # relative KID x100, both directions (docs/cpu_model.md)
TITLES = {'a2b': 'A -> B (selfie -> anime)', 'b2a': 'B -> A (anime -> selfie)'}
UNTRANSLATED = 'untranslated'
COLUMNS = ['run', 'step', 'direction', 'kid', 'std']


def read_scores(path):
    """{run: {direction: [(step, kid, std or None)]}} from the CSV at path (lines starting '#' skipped),
    runs in the order of their first row."""
    with open(path, newline='') as f:
        reader = csv.DictReader(line for line in f if not line.startswith('#'))
        if reader.fieldnames != COLUMNS:
            raise ValueError('%s: its first line (after the comments) must be %s' % (path, ','.join(COLUMNS)))
        rows = list(reader)
    runs = {}
    for row in rows:
        points = runs.setdefault(row['run'], {}).setdefault(row['direction'], [])
        points.append((int(row['step']), float(row['kid']), float(row['std']) if row['std'] else None))
    return runs


def draw(runs, out):
    """Write the two-panel figure of `runs` (read_scores) to the PNG `out`."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.0), sharey=True)
    for ax, direction in zip(axes, TITLES):
        for run, directions in runs.items():
            points = sorted(directions.get(direction, []))
            if run == UNTRANSLATED:
                for _, kid, _ in points:
                    ax.axhline(kid, color='grey', linestyle='--', label='untranslated')
                continue
            steps, kids, stds = zip(*points)
            errors = [s or 0.0 for s in stds] if any(stds) else None
            ax.errorbar([s / 1000 for s in steps], kids, yerr=errors, marker='o', capsize=3, label=run)
        ax.axhline(TARGET, color='black', linestyle=':', label='target (%g)' % TARGET)
        ax.set_title(TITLES[direction])
        ax.set_xlabel('training step (thousands)')
        ax.grid(alpha=0.3)
    axes[0].set_ylabel('relative KID x100 (lower is better)')
    # Below both panels: inside one, it would hide the newest points.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc='lower center', ncol=2)
    fig.tight_layout(rect=(0, 0.15, 1, 1))
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--scores', default=SCORES, help='the CSV of scores (default: docs/cpu_model_kid.csv)')
    parser.add_argument('--out', default=FIGURE, help='the PNG to write (default: docs/cpu_model_kid.png)')
    args = parser.parse_args(argv)
    draw(read_scores(args.scores), args.out)
    print('wrote %s' % args.out)


if __name__ == '__main__':
    main()
