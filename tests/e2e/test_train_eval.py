"""--eval_freq: scores during a tiny training run (TensorBoard scalars, the history, the curve)."""

import glob
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

import main
from tests.support import TINY_MODEL, tiny_config
from tests.support.inception import small_graph_def
from ugatit.train import train as train_module
from ugatit.errors import UserError
from ugatit.train.eval_curve import plot_history
from ugatit.infer.testing import l1_and_psnr
from ugatit.train.eval_curve import COLUMNS, History
from ugatit.infer.translator import Translator
from utils import preprocess, read_image_rgb, to_uint8

MODEL_DIR = 'UGATIT_light_tiny_lsgan_4resblock_3dis_1_1_10_10_1000_sn_smoothing'


def make_dataset(root, n_test=10, truth=True):
    rng = np.random.RandomState(0)
    splits = [('trainA', 3), ('trainB', 3), ('testA', n_test), ('testB', n_test)]
    if truth:
        splits += [('testA_truth', n_test), ('testB_truth', n_test)]
    for split, n in splits:
        folder = os.path.join(root, 'tiny', split)
        os.makedirs(folder)
        for i in range(n):
            cv2.imwrite(os.path.join(folder, '%02d.png' % i), rng.randint(0, 255, (32, 32, 3)).astype(np.uint8))


def train(tmp_path, *extra):
    """A 4-step tiny training run in tmp_path; returns the names of the training graph's ops."""
    names = []
    original = train_module.TrainingLoop.run

    def run(loop):
        names.extend(op.name for op in loop.sess.graph.get_operations())
        return original(loop)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module.TrainingLoop, 'run', run)
        patch.setenv('UGATIT_CACHE', str(tmp_path / 'cache'))   # no Inception graph cached
        assert main.main(['--phase', 'train', '--dataset', 'tiny', '--dataset_dir', str(tmp_path / 'dataset'),
                          '--epoch', '1', '--iteration', '4', '--print_freq', '100', '--save_freq', '100',
                          '--checkpoint_dir', str(tmp_path / 'checkpoint'), '--log_dir', str(tmp_path / 'logs'),
                          '--sample_dir', str(tmp_path / 'samples'), '--seed', '1'] + TINY_MODEL + list(extra)) == 0
    return names


def scalars(log_folder):
    """{tag: [(step, value)]} of the eval/ scalars in the event files of log_folder."""
    found = {}
    for path in glob.glob(os.path.join(log_folder, 'events.out.tfevents.*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag.startswith('eval/'):
                    found.setdefault(value.tag, []).append((event.step, value.simple_value))
    return found


@pytest.mark.slow
def test_eval_freq_writes_scalars_and_history(tmp_path, capsys):
    make_dataset(str(tmp_path / 'dataset'), n_test=21)   # 20 used: two KID blocks, a standard error
    pb = tmp_path / 'standin.pb'
    pb.write_bytes(small_graph_def().SerializeToString())
    names = train(tmp_path, '--eval_freq', '3', '--eval_images', '20', '--inception', str(pb))
    out = capsys.readouterr().out
    assert 'eval step 3: a2b KID×100' in out and 'eval step 4:' in out
    logs = str(tmp_path / 'logs' / MODEL_DIR)
    found = scalars(logs)
    metrics = ('kid_x100', 'kid_std_x100', 'fid', 'l1', 'psnr')
    assert sorted(found) == sorted('eval/%s_%s' % (d, m) for d in ('a2b', 'b2a') for m in metrics)
    assert all([s for s, _ in v] == [3, 4] for v in found.values())      # every 3 steps and at the end
    rows = History(os.path.join(logs, 'eval_history.csv')).rows()
    assert [r['step'] for r in rows] == [3, 4] and all(r[c] is not None for r in rows for c in COLUMNS)
    assert rows[1]['a2b_fid'] == pytest.approx(dict(found['eval/a2b_fid'])[4], rel=1e-6)  # float32 in the event
    # The step-4 L1 is that of the checkpoint saved at step 4, translated independently (the test
    # phase's resize and the same generator; 1e-6: float32 convolutions in batches of 1 both times).
    folder = tmp_path / 'dataset' / 'tiny'
    read = lambda split: np.stack([preprocess(read_image_rgb(str(p)), 32) for p in sorted((folder / split).iterdir())[:20]])  # noqa
    config = tiny_config('--dataset', 'tiny', '--checkpoint_dir', str(tmp_path / 'checkpoint'))
    with Translator(config) as translator:
        assert translator.step == 4
        fake = to_uint8(translator.translate('a2b', read('testA'))[0])
    l1, psnr = l1_and_psnr(fake, to_uint8(read('testA_truth')))
    assert rows[1]['a2b_l1'] == pytest.approx(l1, abs=1e-6) and rows[1]['a2b_psnr'] == pytest.approx(psnr, abs=1e-4)
    # Negative control: the step-3 weights translate differently.
    assert rows[0]['a2b_l1'] != pytest.approx(l1, abs=1e-6)
    # The eval path adds ops under its own scope only; the default graph (test below) has none of them.
    assert any(n.startswith('training_eval/') for n in names)

    # Resuming with nothing left to train scores nothing twice (the history alone could not
    # tell: it replaces a step's row; the console says whether a score was computed).
    capsys.readouterr()
    train(tmp_path, '--eval_freq', '3', '--eval_images', '20', '--inception', str(pb))
    assert 'eval step' not in capsys.readouterr().out
    assert [r['step'] for r in History(os.path.join(logs, 'eval_history.csv')).rows()] == [3, 4]


@pytest.mark.slow
def test_off_by_default_and_nothing_to_score(tmp_path, capsys):
    make_dataset(str(tmp_path / 'dataset'), truth=False)
    names_off = train(tmp_path)
    logs = str(tmp_path / 'logs' / MODEL_DIR)
    assert not any(n.startswith('training_eval/') for n in names_off)
    assert not scalars(logs) and not os.path.exists(os.path.join(logs, 'eval_history.csv'))
    # No Inception graph at hand (and none downloaded) and no ground truth: a warning, training goes on.
    for name in ('checkpoint', 'logs'):
        os.rename(tmp_path / name, tmp_path / (name + '_off'))
    capsys.readouterr()
    names_on = train(tmp_path, '--eval_freq', '2')
    out = capsys.readouterr().out
    assert out.count('nothing can be scored') == 1 and 'Training finished at step 4' in out
    assert names_on == names_off                     # nothing scorable: no op added either
    assert not scalars(logs) and not os.path.exists(os.path.join(logs, 'eval_history.csv'))
    assert not os.path.exists(tmp_path / 'cache' / 'frozen_inception_v1_2015_12_05.tar.gz')


@pytest.mark.slow
def test_a_bad_inception_file_stops_before_training(tmp_path, capsys):
    make_dataset(str(tmp_path / 'dataset'))
    (tmp_path / 'bad.pb').write_bytes(b'not a graph')
    with pytest.raises(AssertionError):
        train(tmp_path, '--eval_freq', '2', '--inception', str(tmp_path / 'bad.pb'))
    assert 'not a TensorFlow frozen graph' in capsys.readouterr().err
    assert not os.path.exists(tmp_path / 'checkpoint' / MODEL_DIR / 'checkpoint')


def test_history_rewrites_rows_of_a_resumed_run_and_plots(tmp_path):
    history = History(str(tmp_path / 'eval_history.csv'))
    for step, l1 in ((2, 0.4), (4, 0.3), (6, 0.25)):
        history.append({'step': step, 'a2b_l1': l1, 'a2b_psnr': 8.0, 'b2a_l1': l1 + 0.1, 'b2a_psnr': 7.0})
    history.append({'step': 4, 'a2b_l1': 0.31, 'a2b_psnr': 8.1, 'b2a_l1': 0.41, 'b2a_psnr': 7.1})  # resumed at 3
    rows = history.rows()
    assert [(r['step'], r['a2b_l1']) for r in rows] == [(2, 0.4), (4, 0.31)]
    assert rows[0]['a2b_kid_x100'] is None and history.last_step() == 4
    assert sorted(os.listdir(tmp_path)) == ['eval_history.csv']
    png = str(tmp_path / 'curve.png')
    assert plot_history(history.path, png) == ['l1', 'psnr']        # no KID/FID columns filled: no panel
    image = cv2.imread(png)
    assert image is not None and image.shape[1] > image.shape[0]
    with pytest.raises(UserError, match='no evaluation history'):
        plot_history(str(tmp_path / 'absent.csv'), png)
