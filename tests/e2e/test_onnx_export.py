"""--phase export --format onnx / web: the ONNX models against the TensorFlow graph (reference
checkpoints and the shipped model, onnxruntime on the CPU), the folders they refuse to overwrite,
and the message when onnxruntime-web is not installed."""

import json
import os

import cv2
import numpy as np
import pytest

import main
from tests.support import ROOT, TINY_MODEL, shared_path, tiny_config
from ugatit import cli
from ugatit.cli.phases import model_run_set_up
from ugatit.infer.onnx_export import convert, float16_weights
from ugatit.infer.translator import Translator, save_random_generators
from utils import to_uint8

# Largest |difference| in grey levels against the graph (max, mean): float32 differs by rounding
# only; float16 weights, measured max 1 and mean 0.07 on the reference checkpoints (the shipped
# model, whose checkpoint is float16 already: max 1, mean 0.016). The bounds of the TFLite export.
TOLERANCE = {'float32': (1, 0.01), 'float16': (2, 0.2)}


def assert_parity(config, directions, images):
    """The ONNX models (float32, float16 weights) that --format onnx writes against the graph they
    are converted from, one restore for both."""
    import onnxruntime
    with Translator(config, directions, io='uint8') as translator:
        for direction in directions:
            expected, attention = translator.translate(direction, images)
            model = convert(translator.session, translator.graph, translator.signature(direction))
            models = {'float32': model.SerializeToString(), 'float16': float16_weights(model).SerializeToString()}
            for variant, (max_diff, mean_diff) in TOLERANCE.items():
                session = onnxruntime.InferenceSession(models[variant], providers=['CPUExecutionProvider'])
                out, att = session.run(['translated', 'attention'], {'image': images})
                assert out.dtype == np.uint8 and out.shape == images.shape and att.shape == attention.shape
                diff = np.abs(out.astype(int) - expected.astype(int))
                assert diff.max() <= max_diff and diff.mean() <= mean_diff, (direction, variant, diff.max(), diff.mean())


# One direction each (both directions between them): the conversion is most of the time.
@pytest.mark.parametrize('cfg,light,directions', [('a', 'true', ('a2b',)), ('b', 'false', ('b2a',))])
def test_onnx_matches_the_graph_on_the_reference_checkpoints(cfg, light, directions):
    cfg_dir = shared_path('reference', cfg)
    config = cli.parse_config(['--phase', 'export', '--format', 'onnx', '--dataset', 'tiny', '--light', light,
                               '--ch', '8', '--img_size', '64', '--checkpoint_dir', os.path.join(cfg_dir, 'checkpoint')])
    noise = np.random.RandomState(0).randint(0, 256, (2, 64, 64, 3)).astype(np.uint8)
    assert_parity(config, directions, np.concatenate([to_uint8(np.load(os.path.join(cfg_dir, 'inputs.npy'))), noise]))


def test_onnx_of_the_shipped_model_matches_the_graph():
    config = model_run_set_up(cli.parse_config(['--phase', 'export', '--format', 'onnx', '--direction', 'a2b']))
    assert os.path.samefile(config.paths.checkpoint, os.path.join(ROOT, 'models', 'selfie2anime_cpu'))
    photo = cv2.imread(os.path.join(ROOT, 'docs', 'photos', 'eileen_collins.jpg'))[:, :, ::-1]
    side = min(photo.shape[:2])
    top, left = (photo.shape[0] - side) // 2, (photo.shape[1] - side) // 2
    size = config.model.img_size
    face = cv2.resize(photo[top:top + side, left:left + side], (size, size), interpolation=cv2.INTER_AREA)
    noise = np.random.RandomState(1).randint(0, 256, (1, size, size, 3)).astype(np.uint8)
    assert_parity(config, ('a2b',), np.concatenate([face[None], noise]))


@pytest.fixture
def tiny_checkpoint(tmp_path):
    folder = tmp_path / 'ckpt'
    save_random_generators(tiny_config('--checkpoint_dir', str(folder)), 3)
    return folder


def run(capsys, argv):
    rc = main.main(argv)
    out, err = capsys.readouterr()
    assert 'Traceback' not in out + err
    return rc, out, err


def test_the_onnx_export_writes_its_folder_and_refuses_to_overwrite_it(tmp_path, tiny_checkpoint, capsys):
    argv = ['--phase', 'export', '--format', 'onnx'] + TINY_MODEL + [
            '--checkpoint_dir', str(tiny_checkpoint), '--export_dir', str(tmp_path / 'exported'), '--direction', 'b2a']
    rc, out, _ = run(capsys, argv)
    folder = tmp_path / 'exported' / tiny_config().model_dir / 'onnx'
    assert rc == 0 and str(folder) in out
    assert sorted(os.listdir(folder)) == ['b2a.float16.onnx', 'b2a.onnx', 'model.json']
    info = json.loads((folder / 'model.json').read_text())
    assert info['directions'] == ['b2a'] and info['img_size'] == 32 and info['step'] == 3
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)}
    rc, _, err = run(capsys, argv)
    assert rc == 2 and '%s already holds files' % folder in err and 'nothing was overwritten' in err
    assert {name: (folder / name).read_bytes() for name in os.listdir(folder)} == before
    assert sorted(os.listdir(folder.parent)) == ['onnx']  # no hidden partial folder left


def test_the_web_export_without_onnxruntime_web_says_how_to_install_it(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    import ugatit.infer.web_export as web_export
    monkeypatch.setattr(web_export, 'RUNTIME_PACKAGE', str(tmp_path / 'node_modules' / 'onnxruntime-web'))
    argv = ['--phase', 'export', '--format', 'web'] + TINY_MODEL + [
            '--checkpoint_dir', str(tiny_checkpoint), '--export_dir', str(tmp_path / 'exported')]
    rc, _, err = run(capsys, argv)
    assert rc == 2 and 'onnxruntime-web is not installed' in err and 'npm ci' in err and 'Nothing was written' in err
    assert not (tmp_path / 'exported').exists()


def test_make_web_without_npm_says_what_to_do():
    """The set-up's step for onnxruntime-web, on a machine without npm: a message, exit status 0
    (the rest of the project works without it), nothing written."""
    import shutil
    import subprocess
    make = shutil.which('make')
    if make is None:
        pytest.skip('make is not installed')
    proc = subprocess.run([make, '-B', '--no-print-directory', 'web'], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PATH='/nonexistent'))
    assert proc.returncode == 0, proc.stderr
    assert 'npm not found' in proc.stdout and 'apt-get install npm' in proc.stdout and 'then run make web' in proc.stdout
