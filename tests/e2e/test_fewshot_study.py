"""The few-drawings study's plumbing (ugatit/benchmarks/fewshot_study.py): the subset dataset, the flags of
a run, and the table's arithmetic. The study itself trains for an hour; it is not run here."""

import json
import os

import numpy as np
import pytest

from ugatit import cli
from ugatit.benchmarks.fewshot_study import SPLITS, main as study_main, make_subset, markdown_table, run_flags, summarise


def _source(root, n=5):
    for split in SPLITS:
        os.makedirs(os.path.join(root, split))
        for i in range(n):
            with open(os.path.join(root, split, '%04d.png' % (n - 1 - i)), 'w') as f:
                f.write(split)
    return str(root)


def test_subset_links_the_first_images_of_trainB_and_leaves_the_source_alone(tmp_path):
    source = _source(tmp_path / 'demo')
    before = {s: sorted(os.listdir(os.path.join(source, s))) for s in SPLITS}
    target = make_subset(source, str(tmp_path / 'few' / 'demo3'), 3)
    assert sorted(os.listdir(os.path.join(target, 'trainB'))) == ['0000.png', '0001.png', '0002.png']
    assert os.path.realpath(os.path.join(target, 'trainB', '0001.png')) == os.path.realpath(
        os.path.join(source, 'trainB', '0001.png'))
    for split in SPLITS:
        if split != 'trainB':
            assert sorted(os.listdir(os.path.join(target, split))) == before[split]
    assert make_subset(source, target, 3) == target  # a second call keeps what is there
    assert {s: sorted(os.listdir(os.path.join(source, s))) for s in SPLITS} == before
    full = make_subset(source, str(tmp_path / 'few' / 'demo5'), None)
    assert len(os.listdir(os.path.join(full, 'trainB'))) == 5


def test_subset_larger_than_trainB_is_refused(tmp_path):
    with pytest.raises(ValueError, match='fewer than 9'):
        make_subset(_source(tmp_path / 'demo'), str(tmp_path / 'demo9'), 9)


def test_run_flags_are_the_demo_preset_with_a_shorter_schedule(tmp_path):
    flags = run_flags(str(tmp_path), 'demo40', str(tmp_path / 'run'), 2, 'color,cutout', 2)
    config = cli.parse_config(['--phase', 'train'] + flags)
    assert config.train.epoch == 2 and config.train.iteration == 250 and config.train.seed == 2
    assert config.train.diff_augment == 'color,cutout'
    assert (config.model.light, config.model.ch, config.model.img_size, config.model.n_dis) == (True, 16, 64, 4)
    assert config.paths.dataset == 'demo40' and config.paths.checkpoint_dir == str(tmp_path / 'run' / 'checkpoint_dir')


def _result(train_b, policy, seed, l1):
    m = {'translation_l1': l1, 'translation_psnr': 20 + l1, 'input_l1': 0.4, 'input_psnr': 10.0}
    return {'train_b': train_b, 'diff_augment': policy, 'seed': seed, 'a2b': m, 'b2a': dict(m, translation_l1=2 * l1)}


def test_summary_is_mean_and_sample_std_over_the_seeds():
    results = [_result(400, '', 1, 0.1), _result(40, 'color', 1, 0.5), _result(400, '', 2, 0.2),
               _result(400, '', 3, 0.6)]
    rows = summarise(results)
    assert [(r['train_b'], r['diff_augment'], r['seeds']) for r in rows] == [(400, '', [1, 2, 3]), (40, 'color', [1])]
    mean, std = rows[0]['a2b']['translation_l1']
    assert mean == pytest.approx(0.3) and std == pytest.approx(np.sqrt(((0.2 ** 2) + 0.1 ** 2 + 0.3 ** 2) / 2))
    assert rows[0]['b2a']['translation_l1'][0] == pytest.approx(0.6)
    assert rows[1]['a2b']['translation_l1'] == (0.5, 0.0)
    table = markdown_table(rows)
    assert '| 400 | off | 1 2 3 | 0.3000 ± 0.2646 | 20.30 ± 0.26 | 0.6000 ± 0.5292 |' in table
    assert '| 40 | color | 1 |' in table and '| untranslated input | | | 0.4000 | 10.00 | 0.4000 | 10.00 |' in table


def test_report_only_tables_the_finished_runs_and_trains_nothing(tmp_path, capsys):
    source = _source(tmp_path / 'demo', n=50)
    out = tmp_path / 'study'
    finished = out / 'runs' / 'demo40_da_seed2'
    os.makedirs(finished)
    m = {'translation_l1': 0.2, 'translation_psnr': 15.0, 'input_l1': 0.4, 'input_psnr': 10.0}
    (finished / 'metrics.json').write_text(json.dumps({'a2b': {'metrics': m}, 'b2a': {'metrics': m}}))
    assert study_main(['--out', str(out), '--demo', source, '--seeds', '1', '2', '--few', '40', '--report_only']) == 0
    results = json.loads((out / 'results.json').read_text())
    assert results == [{'train_b': 40, 'diff_augment': 'color,translation,cutout', 'seed': 2, 'a2b': m, 'b2a': m}]
    assert '| 40 | color,translation,cutout | 2 | 0.2000 ± 0.0000 |' in (out / 'table.md').read_text()
    assert not (out / 'runs' / 'demo50_plain_seed1').exists()


def test_a_demo_folder_that_is_not_the_demo_dataset_is_refused(tmp_path, capsys):
    source = _source(tmp_path / 'mine')
    assert study_main(['--out', str(tmp_path / 'study'), '--demo', source]) == 2
    assert 'error: --demo' in capsys.readouterr().err
    assert sorted(os.listdir(os.path.join(source, 'trainA'))) == ['%04d.png' % i for i in range(5)]
    assert not (tmp_path / 'study' / 'runs').exists()
