"""`python main.py --phase eval --dataset X`: the model mode, with a tiny random model and the stand-in graph."""

import json
import os

import cv2
import numpy as np
import pytest

import main
from tests.support import TINY_MODEL, tiny_config
from ugatit.infer.translator import save_random_generators
from tests.support.inception import small_graph_def
from tests.support.runs import MODEL_DIR
from ugatit.eval.inception import load_inception
from ugatit.eval.metrics import score_features
from ugatit.infer.report import Section, put_block, write_index
from ugatit.infer.translator import Translator
from utils import preprocess, read_image_rgb, to_uint8



@pytest.fixture(scope='module')
def checkpoint_dir(tmp_path_factory):
    """A random checkpoint of the tiny model (step 7), shared by the tests: none changes it."""
    folder = tmp_path_factory.mktemp('eval_model') / 'checkpoint'
    save_random_generators(tiny_config('--dataset', 'tiny', '--checkpoint_dir', str(folder)), 7)
    return str(folder)


@pytest.fixture
def setup(tmp_path, checkpoint_dir):
    """A 'tiny' dataset (12 testA, 10 testB images of 40 px, one unreadable testA file) and the stand-in
    Inception graph; returns (flags, tmp_path)."""
    rng = np.random.RandomState(0)
    for split, n, level in (('testA', 12, 60), ('testB', 10, 160)):
        folder = tmp_path / 'dataset' / 'tiny' / split
        folder.mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(folder / ('%02d.png' % i)), np.clip(rng.normal(level, 40, (40, 40, 3)), 0, 255).astype(np.uint8))
    (tmp_path / 'dataset' / 'tiny' / 'testA' / 'broken.png').write_bytes(b'not a png')
    (tmp_path / 'standin.pb').write_bytes(small_graph_def().SerializeToString())
    flags = TINY_MODEL + ['--dataset', 'tiny', '--dataset_dir', str(tmp_path / 'dataset'), '--checkpoint_dir',
                          checkpoint_dir, '--result_dir', str(tmp_path / 'results'),
                          '--inception', str(tmp_path / 'standin.pb'), '--batch_size', '3']
    return flags, tmp_path


def read_split(folder, size=32):
    files = sorted(f for f in os.listdir(folder) if f != 'broken.png')
    return np.stack([preprocess(read_image_rgb(os.path.join(folder, f)), size) for f in files])


@pytest.mark.slow
def test_model_mode_scores_translations_and_the_untranslated_baseline(setup, capsys):
    flags, tmp = setup
    assert main.main(['--phase', 'eval'] + flags) == 0
    out, err = capsys.readouterr()
    assert 'broken.png' in out + err and 'KID×100' in out and 'step 7' in out
    report = json.load(open(tmp / 'results' / MODEL_DIR / 'eval.json'))
    assert report['checkpoint'] == '%s/UGATIT_light.model-7' % MODEL_DIR and report['step'] == 7
    assert [os.path.basename(s['file']) for s in report['skipped']] == ['broken.png']
    results = report['results']
    assert list(results) == ['testA → B vs testB', 'testA untranslated vs testB',
                             'testB → A vs testA', 'testB untranslated vs testA']
    a2b, b2a = results['testA → B vs testB'], results['testB → A vs testA']
    assert (a2b['n_real'], a2b['n_fake'], b2a['n_real'], b2a['n_fake']) == (10, 12, 12, 10)

    # The same numbers from the library, computed independently of the phase's code path.
    test_a, test_b = read_split(tmp / 'dataset' / 'tiny' / 'testA'), read_split(tmp / 'dataset' / 'tiny' / 'testB')
    config = tiny_config(*flags)
    with Translator(config) as translator, load_inception(str(tmp / 'standin.pb')) as inception:
        feats = lambda x: inception.features(to_uint8(x))  # noqa: E731
        fake_b, fake_a = feats(translator.translate('a2b', test_a)[0]), feats(translator.translate('b2a', test_b)[0])
        real_a, real_b = feats(test_a), feats(test_b)
    expected = {'testA → B vs testB': score_features(real_b, fake_b), 'testA untranslated vs testB': score_features(real_b, real_a),
                'testB → A vs testA': score_features(real_a, fake_a), 'testB untranslated vs testA': score_features(real_a, real_b)}
    # Same graph, same inputs, same batch boundaries would give identical floats; batches of 3 in the
    # phase and of 1 here may differ in the last bits of float32 convolutions: 1e-4 relative.
    for name, want in expected.items():
        for key in ('kid_x100', 'kid_std_x100', 'fid'):
            assert results[name][key] == pytest.approx(want[key], rel=1e-4, abs=1e-9), (name, key)
    assert a2b['source']['fid'] == pytest.approx(score_features(real_a, fake_b)['fid'], rel=1e-4)
    # Negative control: a random generator's translations are not scored like the untranslated inputs.
    assert abs(a2b['fid'] - results['testA untranslated vs testB']['fid']) > 1e-3 * a2b['fid']

    html = open(tmp / 'results' / MODEL_DIR / 'index.html', encoding='utf-8').read()
    assert html.count('<h2>KID and FID</h2>') == 1 and 'testA → B vs testB' in html
    assert sorted(os.listdir(tmp / 'results' / MODEL_DIR)) == ['eval.json', 'index.html']  # no temporary file


def test_a_block_is_replaced_and_kept_when_the_page_is_rewritten(tmp_path):
    def section(heading):
        return Section(heading=heading, columns=[('output', 'output')], rows=[{'name': 'x', 'output': 'x.png'}])
    put_block(str(tmp_path), 'title', 'eval', '<h2>KID and FID</h2><p>first</p>')   # no page yet: one is made
    put_block(str(tmp_path), 'title', 'eval', '<h2>KID and FID</h2><p>second</p>')  # replaced, not added
    html = (tmp_path / 'index.html').read_text(encoding='utf-8')
    assert html.count('KID and FID') == 1 and 'second' in html and 'first' not in html
    write_index(str(tmp_path), 'title', [], [section('testA')])    # the test phase rewrites the page
    html = (tmp_path / 'index.html').read_text(encoding='utf-8')
    assert 'testA</h2>' in html and html.count('KID and FID') == 1 and 'second' in html
    assert html.index('testA</h2>') < html.index('KID and FID') and html.endswith('</body></html>')
    write_index(str(tmp_path), 'title', [], [section('testB')])
    assert (tmp_path / 'index.html').read_text(encoding='utf-8').count('KID and FID') == 1
    os.remove(tmp_path / 'index.html')
    write_index(str(tmp_path), 'title', [], [section('testA')])    # nothing to keep: no block
    assert 'KID' not in (tmp_path / 'index.html').read_text(encoding='utf-8')
    assert sorted(os.listdir(tmp_path)) == ['index.html']


@pytest.mark.slow
def test_eval_section_and_test_page_coexist(setup, capsys):
    flags, tmp = setup
    page = tmp / 'results' / MODEL_DIR / 'index.html'
    assert main.main(['--phase', 'test'] + flags) == 0
    assert main.main(['--phase', 'eval'] + flags) == 0
    html = page.read_text(encoding='utf-8')
    assert 'testA \u2192 B</h2>' in html and html.count('<h2>KID and FID</h2>') == 1
    assert main.main(['--phase', 'test'] + flags) == 0      # the test phase rewrites its page, keeps the block
    html = page.read_text(encoding='utf-8')
    assert html.count('<h2>KID and FID</h2>') == 1 and html.count('testA \u2192 B</h2>') == 1
    assert html.rstrip().endswith('</body></html>')


def test_too_few_images_fails_before_translating(setup, capsys):
    flags, tmp = setup
    for name in ('00.png', '01.png'):
        os.remove(tmp / 'dataset' / 'tiny' / 'testB' / name)
    assert main.main(['--phase', 'eval'] + flags) == 2
    err = capsys.readouterr().err
    assert 'KID needs at least one block of 10' in err and 'testB has 8' in err
    assert not (tmp / 'results' / MODEL_DIR / 'eval.json').exists()


def test_missing_checkpoint_and_missing_test_folder(setup, capsys):
    flags, tmp = setup
    assert main.main(['--phase', 'eval'] + flags + ['--checkpoint_dir', str(tmp / 'nothing')]) == 2
    assert 'checkpoint' in capsys.readouterr().err
    assert not (tmp / 'results' / MODEL_DIR / 'eval.json').exists()
    for name in os.listdir(tmp / 'dataset' / 'tiny' / 'testA'):
        os.remove(tmp / 'dataset' / 'tiny' / 'testA' / name)
    assert main.main(['--phase', 'eval'] + flags) == 2
    assert 'testA: no image files' in capsys.readouterr().err


def test_missing_inception_file_fails_before_translating(setup, capsys):
    flags, tmp = setup
    assert main.main(['--phase', 'eval'] + flags + ['--inception', str(tmp / 'absent.pb')]) == 2
    assert '--inception' in capsys.readouterr().err
