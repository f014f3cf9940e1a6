"""`python main.py --phase eval --eval_real DIR --eval_fake DIR`: the folder mode, with a stand-in graph."""

import json
import os

import cv2
import numpy as np
import pytest

import main
from tests.support.inception import small_graph_def
from ugatit.eval.inception import load_inception
from ugatit.eval.metrics import score


@pytest.fixture
def inception_pb(tmp_path):
    path = tmp_path / 'standin.pb'
    path.write_bytes(small_graph_def().SerializeToString())
    return str(path)


def write_images(folder, n, seed, brightness=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    images = []
    for i in range(n):
        image = np.clip(rng.randint(0, 200, (32, 32, 3)) + brightness, 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / ('%03d.png' % i)), image[:, :, ::-1])
        images.append(image)
    return images


def run(argv):
    return main.main(['--phase', 'eval'] + argv)


def test_folders_are_scored_with_unreadable_images_named_and_skipped(tmp_path, inception_pb, capsys):
    real = write_images(tmp_path / 'real', 20, seed=0)
    fake = write_images(tmp_path / 'fake', 20, seed=1, brightness=40)
    (tmp_path / 'fake' / 'broken.png').write_bytes(b'not an image')
    out = tmp_path / 'out'
    assert run(['--eval_real', str(tmp_path / 'real'), '--eval_fake', str(tmp_path / 'fake'),
                '--inception', inception_pb, '--result_dir', str(out)]) == 0
    printed = capsys.readouterr()
    assert 'broken.png' in printed.out + printed.err and 'KID×100' in printed.out
    assert 'not comparable' in printed.out              # the stand-in has 8 features, not 2048
    report = json.load(open(out / 'eval.json'))
    assert report['inception'] == inception_pb
    (result,) = report['results'].values()
    assert result['n_real'] == 20 and result['n_fake'] == 20 and result['kid_blocks'] == 2
    assert [s['file'] for s in result['skipped']] == [str(tmp_path / 'fake' / 'broken.png')]
    # The same numbers as the library function on the same (readable) images.
    with load_inception(inception_pb) as inception:
        direct = score(np.stack(real), np.stack(fake), inception)
    for key in ('kid_x100', 'kid_std_x100', 'fid'):
        assert result[key] == pytest.approx(direct[key], rel=1e-9, abs=1e-12)
    assert [f for f in os.listdir(out)] == ['eval.json']   # no temporary file left


def test_source_folder_adds_the_authors_mean_kid(tmp_path, inception_pb, capsys):
    real = write_images(tmp_path / 'real', 10, seed=0)
    fake = write_images(tmp_path / 'fake', 10, seed=1, brightness=40)
    source = write_images(tmp_path / 'source', 10, seed=2, brightness=20)
    assert run(['--eval_real', str(tmp_path / 'real'), '--eval_fake', str(tmp_path / 'fake'), '--eval_source',
                str(tmp_path / 'source'), '--inception', inception_pb, '--result_dir', str(tmp_path / 'out')]) == 0
    assert 'mean KID' in capsys.readouterr().out
    report = json.load(open(tmp_path / 'out' / 'eval.json'))
    result = report['results']['fake vs real']
    with load_inception(inception_pb) as inception:
        against_source = score(np.stack(source), np.stack(fake), inception)
        against_real = score(np.stack(real), np.stack(fake), inception)
    assert result['source']['kid_x100'] == pytest.approx(against_source['kid_x100'], rel=1e-9)
    assert result['mean_kid_x100'] == pytest.approx(
        (0.02 * against_real['kid_x100'] + 0.98 * against_source['kid_x100']) / 2, rel=1e-9)
    assert result['mean_kid_std_x100'] is None            # 10 images: one block, no standard error


def test_too_few_images_is_a_clear_error(tmp_path, inception_pb, capsys):
    write_images(tmp_path / 'real', 20, seed=0)
    write_images(tmp_path / 'fake', 6, seed=1)
    assert run(['--eval_real', str(tmp_path / 'real'), '--eval_fake', str(tmp_path / 'fake'),
                '--inception', inception_pb, '--result_dir', str(tmp_path / 'out')]) == 2
    assert 'KID needs at least one block of 10' in capsys.readouterr().err
    assert not (tmp_path / 'out' / 'eval.json').exists()


def test_missing_folder_and_missing_inception_file(tmp_path, inception_pb, capsys):
    write_images(tmp_path / 'real', 10, seed=0)
    assert run(['--eval_real', str(tmp_path / 'real'), '--eval_fake', str(tmp_path / 'nothing'),
                '--inception', inception_pb]) == 2
    assert '--eval_fake' in capsys.readouterr().err
    assert run(['--eval_real', str(tmp_path / 'real'), '--eval_fake', str(tmp_path / 'real'),
                '--inception', str(tmp_path / 'absent.pb')]) == 2
    assert '--inception' in capsys.readouterr().err
    (tmp_path / 'broken').mkdir()
    (tmp_path / 'broken' / 'a.png').write_bytes(b'')
    assert run(['--eval_real', str(tmp_path / 'real'), '--eval_fake', str(tmp_path / 'broken'),
                '--inception', inception_pb]) == 2
    assert 'none of its 1 image files could be read' in capsys.readouterr().err


# Without --eval_real/--eval_fake, --phase eval scores the model (tests/e2e/test_eval_model.py).
@pytest.mark.parametrize('argv', [['--eval_real', 'a'], ['--eval_fake', 'b'], ['--eval_source', 'c'],
                                  ['--eval_freq', '-1'], ['--eval_images', '0']])
def test_flag_combinations(argv):
    with pytest.raises(SystemExit) as info:
        run(argv)
    assert info.value.code == 2


def test_eval_flags_need_the_eval_phase():
    with pytest.raises(SystemExit):
        main.main(['--phase', 'test', '--eval_real', 'a', '--eval_fake', 'b'])
