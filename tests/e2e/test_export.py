"""--phase export: SavedModel and TFLite models give the graph's output (reference checkpoints)."""

import errno
import os
import re

import numpy as np
import pytest
import tensorflow as tf

import main
from ugatit import cli
from tests.support.checkpoints import A_FLAGS, A_FOLDER, reference_a_folder
from tests.support import shared_path
from ugatit.errors import UserError
from ugatit.infer.export import TFLITE_VARIANTS, export
from ugatit.infer.translator import Translator
from utils import to_uint8

tf1 = tf.compat.v1
# Largest allowed |difference| in grey levels (uint8) against the graph, per variant: float32 and
# the SavedModel differ only by rounding; float16 / int8 weights change the numbers a little.
TOLERANCE = {'saved_model': 1, 'float32': 1, 'float16': 2, 'dynamic_range': 30}
MEAN_TOLERANCE = {'saved_model': 0.01, 'float32': 0.01, 'float16': 0.2, 'dynamic_range': 5}


@pytest.mark.parametrize('cfg,light,direction', [('a', 'true', 'a2b'), ('b', 'false', 'b2a')])
def test_exported_models_match_the_graph(tmp_path, cfg, light, direction):
    cfg_dir = shared_path('reference', cfg)
    config = cli.parse_config(['--phase', 'export', '--dataset', 'tiny', '--light', light, '--ch', '8',
                                '--img_size', '64', '--direction', direction, '--export_dir', str(tmp_path),
                                '--checkpoint_dir', os.path.join(cfg_dir, 'checkpoint')])
    written = export(config)
    inputs = np.load(os.path.join(cfg_dir, 'inputs.npy'))
    images = to_uint8(inputs)  # what a deployed model receives
    expected = np.load(os.path.join(cfg_dir, 'test_fake_B.npy' if direction == 'a2b' else 'test_fake_A.npy'))

    # The graph itself on the uint8-quantised input (the reference was computed on float input).
    with Translator(config, (direction,)) as translator:
        graph_out, _ = translator.translate(direction, images.astype(np.float32) / 127.5 - 1.0)
    graph_u8 = to_uint8(graph_out)
    assert np.abs(graph_u8.astype(int) - to_uint8(expected).astype(int)).max() <= 40  # input quantisation only

    results = {}
    g = tf.Graph()
    with g.as_default(), tf1.Session(graph=g) as sess:
        meta = tf1.saved_model.loader.load(sess, [tf1.saved_model.tag_constants.SERVING], written['saved_model'])
        sig = meta.signature_def['serving_default']
        out, att = sess.run([sig.outputs['image'].name, sig.outputs['attention'].name], {sig.inputs['image'].name: images})
        assert out.dtype == np.uint8 and att.shape == (2, 16, 16) and att.min() >= 0 and att.max() <= 1
        results['saved_model'] = out
    for variant in TFLITE_VARIANTS:
        interpreter = tf.lite.Interpreter(model_path=written[variant])
        interpreter.allocate_tensors()
        inp = interpreter.get_input_details()[0]
        outputs = [d for d in interpreter.get_output_details() if d['dtype'] == np.uint8]
        assert len(outputs) == 1
        frames = []
        for image in images:
            interpreter.set_tensor(inp['index'], image[None])
            interpreter.invoke()
            frames.append(interpreter.get_tensor(outputs[0]['index'])[0])
        results[variant] = np.stack(frames)
    for name, out in results.items():
        diff = np.abs(out.astype(int) - graph_u8.astype(int))
        assert diff.max() <= TOLERANCE[name] and diff.mean() <= MEAN_TOLERANCE[name], (name, diff.max(), diff.mean())


def test_the_saved_model_refuses_inputs_of_another_size(tmp_path):
    """The serving signature declares [N, S, S, 3]; TensorFlow 2's loader does not check that, so
    the graph does: a 32 px image given to a 64 px model is an error, not a 32 px translation."""
    import subprocess
    import sys
    cfg_dir = shared_path('reference', 'a')
    config = cli.parse_config(['--phase', 'export', '--dataset', 'tiny', '--light', 'true', '--ch', '8',
                                '--img_size', '64', '--export_dir', str(tmp_path),
                                '--checkpoint_dir', os.path.join(cfg_dir, 'checkpoint')])
    written = export(config)
    code = '''import sys, numpy as np, tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']
print('64 px:', serve(image=tf.zeros([1, 64, 64, 3], tf.uint8))['image'].shape)
try:
    serve(image=tf.zeros([1, 32, 32, 3], tf.uint8))
    print('32 px: accepted')
except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
    print('32 px: refused', type(exc).__name__)
'''
    proc = subprocess.run([sys.executable, '-c', code, written['saved_model']], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
    assert '64 px: (1, 64, 64, 3)' in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert '32 px: refused' in proc.stdout, proc.stdout + proc.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# Nothing overwritten, no traceback, no half-written export (reference checkpoint a, tiny)
# ---------------------------------------------------------------------------------------------

def export_flags(export_dir, *extra):
    return ['--phase', 'export', '--direction', 'a2b', '--export_dir', str(export_dir),
            '--checkpoint', reference_a_folder()] + A_FLAGS + list(extra)


def run(capsys, argv):
    rc = main.main(argv)
    out, err = capsys.readouterr()
    assert 'Traceback' not in out + err
    return rc, err


def test_an_earlier_export_is_refused_not_replaced(tmp_path, capsys):
    out = tmp_path / A_FOLDER / 'a2b'
    os.makedirs(out / 'saved_model')
    mine = {out / 'saved_model' / 'notes.txt': b'mine', out / 'model_float32.tflite': b'an earlier export'}
    for path, data in mine.items():
        path.write_bytes(data)
    rc, err = run(capsys, export_flags(tmp_path))
    assert rc == 2 and '%s already holds files' % out in err and 'delete that folder first' in err
    assert {p: p.read_bytes() for p in mine} == mine
    assert sorted(os.listdir(tmp_path / A_FOLDER)) == ['a2b']  # no temporary folder left either


@pytest.mark.parametrize('export_format', ['savedmodel', 'checkpoint'])
def test_an_export_dir_that_is_a_file_is_named(tmp_path, capsys, export_format):
    path = tmp_path / 'exported'
    path.write_bytes(b'not a folder')
    rc, err = run(capsys, export_flags(path, '--format', export_format))
    assert rc == 2 and '--export_dir: %s is a file, not a folder' % path in err
    assert path.read_bytes() == b'not a folder'


def _full_disk(*args, **kwargs):
    raise tf.errors.ResourceExhaustedError(None, None, 'No space left on device')


def _full_disk_os(*args, **kwargs):
    raise OSError(errno.ENOSPC, 'No space left on device', args[0])


@pytest.mark.parametrize('failing', ['saved_model', 'tflite'])
def test_a_full_disk_is_named_and_leaves_no_partial_export(tmp_path, monkeypatch, failing):
    """The SavedModel failing, or the first TFLite file after a complete SavedModel: either way
    nothing is left that a later run would take for a complete export."""
    import ugatit.infer.export
    if failing == 'saved_model':
        monkeypatch.setattr(tf1.saved_model.Builder, 'save', _full_disk)
    else:
        monkeypatch.setattr(ugatit.infer.export, 'write_atomic', _full_disk_os)
    export_dir = tmp_path / 'exported'
    with pytest.raises(UserError, match='could not write the export %s .*No space left on device'
                       % re.escape(str(export_dir / A_FOLDER / 'a2b'))):
        export(cli.parse_config(export_flags(export_dir)))
    assert os.listdir(tmp_path) == []
