"""The built-in demo, run by `make demo`: train U-GAT-IT on the generated `demo` dataset, then test.

1. `dataset/demo/` is generated on first use, deterministically from a seed (see
   ugatit/assets/demo_data.py): "photographic" cartoon faces (domain A) and webtoon-style ones (B),
   with the test scenes also rendered in the other style as paired ground truth.
2. `python main.py --phase train --dataset demo` trains the demo-sized light model
   (ugatit.config.PRESETS: 64 px, ch 16, n_dis 4, 1500 steps; about 5 minutes on 2 CPU cores).
   Running it again resumes from the checkpoint, so a finished demo re-tests at once.
3. `python main.py --phase test --dataset demo` translates the test sets and reports, per
   direction, the mean L1 and PSNR against the ground truth next to the untranslated input.

Usage: python demo.py [extra main.py flags, e.g. --epoch 2 --result_dir elsewhere]
"""

import json
import os
import sys

from ugatit import cli


def run(extra=()):
    extra = list(extra)
    for phase in ('train', 'test'):
        rc = cli.main(['--phase', phase, '--dataset', 'demo'] + extra)
        if rc:
            return rc
    config = cli.parse_config(['--phase', 'test', '--dataset', 'demo'] + extra)
    out_dir = config.run_folder('result')
    with open(os.path.join(out_dir, 'metrics.json')) as f:
        metrics = json.load(f)
    print()
    print('Demo results: %s' % os.path.join(out_dir, 'index.html'))
    print('%-8s %-26s %-26s' % ('', 'translation vs truth', 'untranslated input vs truth'))
    for direction, label in (('a2b', 'A -> B'), ('b2a', 'B -> A')):
        m = (metrics.get(direction) or {}).get('metrics')
        if m:
            print('%-8s L1 %.4f  PSNR %5.2f dB     L1 %.4f  PSNR %5.2f dB'
                  % (label, m['translation_l1'], m['translation_psnr'], m['input_l1'], m['input_psnr']))
    return 0


if __name__ == '__main__':
    sys.exit(run(sys.argv[1:]))
