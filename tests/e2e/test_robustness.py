"""Nothing of the user's lost, never a traceback: the faults and bad inputs of a fault-injection
run through the real CLI, each a test (a tiny model; generated data; the reference checkpoints)."""

import errno
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import zlib
import struct

import cv2
import numpy as np
import pytest
import tensorflow as tf

import main
from ugatit import cli
from tests.support import TINY_MODEL, shared_path, tiny_config
from ugatit.infer.translator import save_random_generators

TRAIN = ['--phase', 'train', '--dataset', 'tiny', '--epoch', '1', '--iteration', '3', '--print_freq', '1',
         '--save_freq', '2'] + TINY_MODEL
MODEL_DIR = 'UGATIT_light_tiny_lsgan_4resblock_3dis_1_1_10_10_1000_sn_smoothing'


def run(capsys, *argv):
    rc = main.main(list(argv))
    out, err = capsys.readouterr()
    assert 'Traceback' not in out + err
    return rc, out, err


def make_dataset(root, n=2):
    rng = np.random.default_rng(0)
    for split in ('trainA', 'trainB', 'testA', 'testB'):
        os.makedirs(os.path.join(root, 'tiny', split), exist_ok=True)
        for i in range(n):
            cv2.imwrite(os.path.join(root, 'tiny', split, '%d.png' % i), rng.integers(0, 256, (36, 36, 3), dtype=np.uint8))


def png_header(path, width, height):
    """A valid PNG claiming width x height pixels in a few bytes (a decompression bomb's header)."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(b'\x00' * 64)) + chunk(b'IEND', b''))


def steps_saved(folder):
    return sorted(int(p.rsplit('-', 1)[1][:-len('.index')]) for p in glob.glob(os.path.join(folder, '*.index')))


@pytest.fixture
def photo_checkpoint(tmp_path):
    """A tiny random checkpoint; returns the flags that restore it."""
    folder = str(tmp_path / 'ckpt')
    save_random_generators(tiny_config('--checkpoint_dir', folder, '--dataset', 'photo'), 1)
    return ['--phase', 'test', '--checkpoint_dir', folder, '--dataset', 'photo'] + TINY_MODEL


def noise_photo(path, size=(48, 40)):
    cv2.imwrite(str(path), np.random.default_rng(1).integers(0, 255, size + (3,), dtype=np.uint8))


# ---------------------------------------------------------------------------------------------
# Data loss
# ---------------------------------------------------------------------------------------------

def test_result_dir_equal_to_the_input_folder_is_refused(tmp_path, capsys, photo_checkpoint):
    folder = tmp_path / 'photos'
    folder.mkdir()
    noise_photo(folder / 'me.png')
    before = (folder / 'me.png').read_bytes()
    rc, out, err = run(capsys, *photo_checkpoint, '--input', str(folder), '--result_dir', str(folder))
    assert rc == 2 and 'holds the input' in err and '--result_dir' in err
    assert (folder / 'me.png').read_bytes() == before and os.listdir(folder) == ['me.png']


def test_output_names_cannot_collide(tmp_path, capsys, photo_checkpoint):
    folder = tmp_path / 'in'
    folder.mkdir()
    noise_photo(folder / 'x.png', (40, 40))
    noise_photo(folder / 'x_chip.png', (50, 50))
    rc, out, err = run(capsys, *photo_checkpoint, '--input', str(folder), '--result_dir', str(tmp_path / 'out'))
    assert rc == 0, err
    out_dir = tmp_path / 'out'
    assert sorted(os.listdir(out_dir / 'chip')) == ['x.png', 'x_chip.png']
    assert {'x.png', 'x_chip.png'} <= set(os.listdir(out_dir))
    # x's chip is the centre crop of x, not a translation of x_chip.png.
    chip = cv2.imread(str(out_dir / 'chip' / 'x.png'))
    assert np.abs(chip.astype(int) - cv2.resize(cv2.imread(str(folder / 'x.png')), (32, 32),
                                                 interpolation=cv2.INTER_AREA).astype(int)).max() <= 2


def test_faces_of_one_photo_do_not_collide_with_another_file(tmp_path, capsys, photo_checkpoint):
    folder = tmp_path / 'in'
    folder.mkdir()
    shutil.copy(shared_path('data', 'faces', 'two_people.jpg'), folder / 't.jpg')
    shutil.copy(shared_path('data', 'faces', 'obama.jpg'), folder / 't_face0.jpg')
    rc, out, err = run(capsys, *photo_checkpoint, '--input', str(folder), '--align_face', '--faces', 'all',
                       '--result_dir', str(tmp_path / 'out'))
    assert rc == 0, err
    assert sorted(os.listdir(tmp_path / 'out' / 'chip')) == ['t_face0.png', 't_face0_2.png', 't_face1.png']


def test_dataset_test_phase_names_cannot_collide(tmp_path, capsys):
    make_dataset(str(tmp_path / 'data'), n=0)
    rng = np.random.default_rng(2)
    for name in ('x.jpg', 'x_input.jpg'):
        cv2.imwrite(str(tmp_path / 'data' / 'tiny' / 'testA' / name), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    config = tiny_config('--checkpoint_dir', str(tmp_path / 'ckpt'), '--dataset', 'tiny')
    save_random_generators(config, 1)
    rc, out, err = run(capsys, '--phase', 'test', '--dataset', 'tiny', '--dataset_dir', str(tmp_path / 'data'),
                       '--checkpoint_dir', str(tmp_path / 'ckpt'), '--result_dir', str(tmp_path / 'res'), *TINY_MODEL)
    assert rc == 0, err
    a2b = tmp_path / 'res' / MODEL_DIR / 'a2b'
    assert sorted(os.listdir(a2b / 'input')) == ['x.png', 'x_input.png']
    assert {'x.png', 'x_input.png'} <= set(os.listdir(a2b))
    # A results folder gets shared: no path of this machine in it.
    for name in ('index.html', 'metrics.json'):
        assert str(tmp_path) not in (tmp_path / 'res' / MODEL_DIR / name).read_text(), name
    assert 'earlier test run' not in out
    # A second run rewrites the test phase's own results there, and says so.
    rc, out, err = run(capsys, '--phase', 'test', '--dataset', 'tiny', '--dataset_dir', str(tmp_path / 'data'),
                       '--checkpoint_dir', str(tmp_path / 'ckpt'), '--result_dir', str(tmp_path / 'res'), *TINY_MODEL)
    assert rc == 0, err
    assert '%s holds the results of an earlier test run: they are replaced' % (tmp_path / 'res' / MODEL_DIR) in out


def test_photo_mode_never_writes_over_files_in_the_result_dir(tmp_path, capsys, photo_checkpoint):
    """The user's files and an earlier run's are kept: each output name is claimed free in its
    folder (a translation's stem in the folder, chip/, attention/ and figure/ at once)."""
    noise_photo(tmp_path / 'obama.png')
    out = tmp_path / 'out'
    mine = {'obama.png': 'mine', 'index.html': 'my page', 'figure/obama_2.png': 'my figure',
            'pasted/obama_3.png': 'my paste'}
    for name, text in mine.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    for _ in range(2):
        rc, _, err = run(capsys, *photo_checkpoint, '--input', str(tmp_path / 'obama.png'), '--paste_back',
                         '--result_dir', str(out))
        assert rc == 0, err
    for name, text in mine.items():
        assert (out / name).read_text() == text, name
    first, second = (out / 'index_2.html').read_text(), (out / 'index_3.html').read_text()
    assert 'chip/obama_3.png' in first and 'pasted/obama_3_2.png' in first
    assert 'chip/obama_4.png' in second and 'pasted/obama_4.png' in second
    for kind in ('', 'chip', 'attention', 'figure'):
        assert cv2.imread(str(out / kind / 'obama_3.png')) is not None, kind
        assert cv2.imread(str(out / kind / 'obama_4.png')) is not None, kind
    written = [os.path.join(d, f) for d, _, files in os.walk(out) for f in files]
    assert len(written) == len(mine) + 2 * 6 and all(os.path.getsize(f) for f in written)  # no claim left empty


def test_ctrl_c_in_photo_mode_still_writes_the_index(tmp_path, capsys, photo_checkpoint, monkeypatch):
    import ugatit.infer.photo
    real = ugatit.infer.photo._translate_items
    calls = []

    def interrupted_second_batch(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)
    monkeypatch.setattr(ugatit.infer.photo, '_translate_items', interrupted_second_batch)
    folder = tmp_path / 'in'
    folder.mkdir()
    for name in ('a.png', 'b.png', 'c.png'):
        noise_photo(folder / name)
    rc, out, err = run(capsys, *photo_checkpoint, '--input', str(folder), '--result_dir', str(tmp_path / 'out'))
    assert rc == 130
    html = (tmp_path / 'out' / 'index.html').read_text()
    assert 'chip/a.png' in html and 'chip/b.png' not in html
    # b's names were claimed before the interrupt; no empty placeholder is left.
    assert not os.path.exists(tmp_path / 'out' / 'chip' / 'b.png')


@pytest.mark.slow
def test_a_second_training_on_one_folder_is_refused_and_a_stale_lock_can_be_taken_over(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_dataset('dataset')
    folder = os.path.join('checkpoint', MODEL_DIR)
    os.makedirs(folder)
    live = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        with open(os.path.join(folder, '.ugatit.lock'), 'w') as f:
            json.dump({'pid': live.pid, 'host': os.uname().nodename, 'started': 'now'}, f)
        rc, out, err = run(capsys, *TRAIN)
        assert rc == 2 and 'in use by another training (pid %d' % live.pid in err
    finally:
        live.kill()
        live.wait()
    rc, out, err = run(capsys, *TRAIN)  # the owner is dead now: a stale lock
    assert rc == 2 and 'stale lock' in err and '--take_over_lock true' in err
    assert steps_saved(folder) == []
    rc, out, err = run(capsys, *TRAIN, '--take_over_lock', 'true')
    assert rc == 0, err
    assert steps_saved(folder) == [2, 3] and not os.path.exists(os.path.join(folder, '.ugatit.lock'))
    # Shareable outputs: a relative state file, no .meta graph, no file paths in the event file.
    state = open(os.path.join(folder, 'checkpoint')).read()
    assert 'UGATIT_light.model-3' in state and os.sep not in state.replace('"', '')
    assert not glob.glob(os.path.join(folder, '*.meta'))
    events = open(glob.glob(os.path.join('logs', MODEL_DIR, 'events.*'))[0], 'rb').read()
    assert b'0.png' not in events and str(tmp_path).encode() not in events


@pytest.mark.slow
def test_step_numbers_agree_across_a_resume_with_the_optimizer(tmp_path, capsys, monkeypatch):
    """Train 3 iterations, resume with --iteration 6: samples 1..6, checkpoints named after the
    steps done, the G optimizer's own count agreeing, and no more than 5 checkpoints kept."""
    monkeypatch.chdir(tmp_path)
    make_dataset('dataset')
    folder = os.path.join('checkpoint', MODEL_DIR)
    assert run(capsys, *TRAIN, '--save_freq', '1')[0] == 0
    assert steps_saved(folder) == [1, 2, 3]
    argv = list(TRAIN) + ['--save_freq', '1']
    argv[argv.index('--iteration') + 1] = '6'
    rc, out, err = run(capsys, *argv)
    assert rc == 0 and 'Resumed from %s' % os.path.join(folder, 'UGATIT_light.model-3') in out
    assert 'Training finished at step 6' in out
    samples = sorted(os.listdir(os.path.join('samples', MODEL_DIR)))
    assert samples == ['sample_000_%05d.png' % i for i in range(1, 7)]
    assert steps_saved(folder) == [2, 3, 4, 5, 6]  # max_to_keep counts the first run's too
    reader = tf.train.load_checkpoint(os.path.join(folder, 'UGATIT_light.model-6'))
    # Adam's beta1_power starts at beta1 and is multiplied by it at every G step: beta1^(steps + 1).
    assert reader.get_tensor('beta1_power') == pytest.approx(0.5 ** (6 + 1))


@pytest.mark.slow
def test_divergence_keeps_the_last_finite_checkpoint(tmp_path, capsys, monkeypatch):
    import ugatit.train.train
    real_step = ugatit.train.train.TrainingLoop._step

    def nan_at_step_3(self, lr):
        d_loss, g_loss, sample = real_step(self, lr)
        return (float('nan') if self.done == 3 else d_loss), g_loss, sample
    monkeypatch.setattr(ugatit.train.train.TrainingLoop, '_step', nan_at_step_3)
    monkeypatch.chdir(tmp_path)
    make_dataset('dataset')
    rc, out, err = run(capsys, *TRAIN)
    assert rc == 2 and 'diverged at step 3' in err and 'of step 2, is the last finite one' in err
    assert steps_saved(os.path.join('checkpoint', MODEL_DIR)) == [2]


@pytest.mark.slow
def test_sigterm_saves_and_exits_143(tmp_path, capsys, monkeypatch):
    import ugatit.train.train
    real_step = ugatit.train.train.TrainingLoop._step

    def terminated_at_step_2(self, lr):
        result = real_step(self, lr)
        if self.done == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return result
    monkeypatch.setattr(ugatit.train.train.TrainingLoop, '_step', terminated_at_step_2)
    monkeypatch.chdir(tmp_path)
    make_dataset('dataset')
    argv = list(TRAIN)
    argv[argv.index('--save_freq') + 1] = '100'
    rc, out, err = run(capsys, *argv)
    assert rc == 143 and 'Interrupted: checkpoint saved at step 2' in out
    assert steps_saved(os.path.join('checkpoint', MODEL_DIR)) == [2]


def test_output_folders_are_checked_before_any_work(tmp_path, capsys, photo_checkpoint):
    (tmp_path / 'a_file').write_text('mine')
    make_dataset(str(tmp_path / 'data'))
    rc, out, err = run(capsys, *TRAIN, '--dataset_dir', str(tmp_path / 'data'), '--checkpoint_dir', str(tmp_path / 'a_file'))
    assert rc == 2 and '--checkpoint_dir' in err and 'is not a writable folder' in err
    noise_photo(tmp_path / 'p.png')
    rc, out, err = run(capsys, *photo_checkpoint, '--input', str(tmp_path / 'p.png'), '--result_dir', str(tmp_path / 'a_file'))
    assert rc == 2 and '--result_dir' in err and 'is not a writable folder' in err and 'Restored' not in out
    assert (tmp_path / 'a_file').read_text() == 'mine'


def test_refused_runs_leave_no_empty_output_folder(tmp_path, capsys):
    """A photo run with no checkpoint and a training without its dataset: refused after the
    output folders were checked (made); those they made are removed, the user's own kept."""
    noise_photo(tmp_path / 'p.png')
    rc, out, err = run(capsys, '--phase', 'test', '--input', str(tmp_path / 'p.png'), '--dataset', 'none',
                       '--checkpoint_dir', str(tmp_path / 'ckpt'), '--result_dir', str(tmp_path / 'new' / 'out'),
                       *TINY_MODEL)
    assert rc == 2 and 'no checkpoint found' in err
    (tmp_path / 'mine').mkdir()
    rc, out, err = run(capsys, *TRAIN, '--dataset_dir', str(tmp_path / 'nothing'), '--checkpoint_dir',
                       str(tmp_path / 'mine'), '--log_dir', str(tmp_path / 'logs'),
                       '--sample_dir', str(tmp_path / 'samples'))
    assert rc == 2 and 'trainA folder not found' in err
    assert sorted(os.listdir(tmp_path)) == ['mine', 'p.png'] and os.listdir(tmp_path / 'mine') == []


def test_a_batch_larger_than_the_training_set_is_refused(tmp_path, capsys, monkeypatch):
    """--batch_size 100000 on 8 images: no output and no step in minutes before."""
    monkeypatch.chdir(tmp_path)
    make_dataset('dataset', n=2)
    rc, out, err = run(capsys, *TRAIN, '--batch_size', '3')
    assert rc == 2 and err.splitlines() == ['error: --batch_size 3 is larger than the training set: trainA has 2 '
                                            'usable images, trainB 2. Use --batch_size 2 or less, or add images']
    assert sorted(os.listdir(tmp_path)) == ['dataset']


def test_a_full_disk_is_reported_and_leaves_no_partial_file(tmp_path, capsys, photo_checkpoint, monkeypatch):
    import utils
    noise_photo(tmp_path / 'p.png')
    real_fdopen = os.fdopen

    class Full(object):
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, 'No space left on device')  # as a real write: no file name
    monkeypatch.setattr(utils.os, 'fdopen', lambda fd, mode: Full(real_fdopen(fd, mode)))
    rc, out, err = run(capsys, *photo_checkpoint, '--input', str(tmp_path / 'p.png'), '--result_dir', str(tmp_path / 'out'))
    assert rc == 2 and 'No space left on device' in err
    # The message names the file it could not write (in --result_dir) and what to do.
    assert 'cannot write %s%s' % (tmp_path / 'out', os.sep) in err and 'Free some space' in err
    leftovers = [f for _, _, files in os.walk(tmp_path / 'out') for f in files]
    assert leftovers == [], leftovers


def test_a_failed_checkpoint_save_names_the_folder_and_keeps_the_others(tmp_path):
    from ugatit.model.checkpoint import Checkpoint
    from ugatit.errors import UserError
    config = tiny_config('--checkpoint_dir', str(tmp_path))
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        v = tf.compat.v1.get_variable('v', [3])
        sess.run(v.initializer)
        checkpoint = Checkpoint(config, [v])
        first = checkpoint.save(sess, 1)

        def full(*args, **kwargs):
            raise tf.errors.ResourceExhaustedError(None, None, 'No space left on device')
        checkpoint.saver.save = full
        with pytest.raises(UserError, match='could not save the checkpoint of step 2 in .*No space left'):
            checkpoint.save(sess, 2)
    assert os.path.isfile(first + '.index')


# ---------------------------------------------------------------------------------------------
# Tracebacks on bad input
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('damage', ['truncated', 'missing', 'bit_flipped'])
def test_a_damaged_checkpoint_is_named(tmp_path, capsys, damage):
    src = shared_path('reference', 'a', 'checkpoint', 'UGATIT_light_tiny_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing')
    folder = tmp_path / 'ckpt'
    shutil.copytree(src, folder)
    data = folder / 'UGATIT_light.model-1000.data-00000-of-00001'
    if damage == 'truncated':
        data.write_bytes(data.read_bytes()[:1000])
    elif damage == 'missing':
        data.unlink()
    else:
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        data.write_bytes(bytes(raw))
    noise_photo(tmp_path / 'p.png', (64, 64))
    rc, out, err = run(capsys, '--phase', 'test', '--light', 'true', '--ch', '8', '--img_size', '64', '--dataset', 'tiny',
                       '--checkpoint', str(folder), '--input', str(tmp_path / 'p.png'), '--result_dir', str(tmp_path / 'o'))
    assert rc == 2 and 'UGATIT_light.model-1000' in err
    assert 'is damaged' in err or 'cannot read checkpoint' in err


def test_bad_files_in_a_folder_are_named_and_skipped(tmp_path, capsys, photo_checkpoint, monkeypatch):
    folder = tmp_path / 'in'
    folder.mkdir()
    noise_photo(folder / 'good.png')
    png_header(str(folder / 'bomb.png'), 40000, 40000)     # 1.6 gigapixels in 100 bytes
    (folder / 'clip.mp4').write_bytes(b'\x00\x00\x00\x18ftypmp42' + b'\x00' * 100)
    with open(folder / 'sparse.jpg', 'wb') as f:               # larger than any image file
        f.truncate(3 << 30)
    (folder / 'esc\x1b[31m.png').write_bytes(b'not an image')
    noise_photo(folder / 'locked.png')
    import PIL.Image
    real_open = PIL.Image.open

    def denied(path, *args, **kwargs):
        if str(path).endswith('locked.png'):
            raise PermissionError(errno.EACCES, 'Permission denied', str(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(PIL.Image, 'open', denied)
    rc, out, err = run(capsys, *photo_checkpoint, '--input', str(folder), '--result_dir', str(tmp_path / 'out'))
    text = out + err
    assert rc == 2 and os.path.isfile(tmp_path / 'out' / 'good.png')
    for name, reason in (('bomb.png', 'image too large (40000x40000'), ('clip.mp4', 'not an image'),
                         ('sparse.jpg', 'too large for an image file'), ('locked.png', 'permission denied'),
                         ('esc\\x1b[31m.png', 'not an image')):
        assert any(name in line and reason in line for line in text.splitlines()), name
    assert '\x1b' not in text


def test_a_corrupt_ground_truth_file_is_reported_not_fatal(tmp_path, capsys):
    make_dataset(str(tmp_path / 'data'))
    truth = tmp_path / 'data' / 'tiny' / 'testA_truth'
    truth.mkdir()
    (truth / '0.png').write_bytes(b'broken')
    save_random_generators(tiny_config('--checkpoint_dir', str(tmp_path / 'ckpt'), '--dataset', 'tiny'), 1)
    rc, out, err = run(capsys, '--phase', 'test', '--dataset', 'tiny', '--dataset_dir', str(tmp_path / 'data'),
                       '--checkpoint_dir', str(tmp_path / 'ckpt'), '--result_dir', str(tmp_path / 'res'), *TINY_MODEL)
    assert rc == 0 and 'ground truth not used' in out and '0.png' in out


@pytest.mark.parametrize('argv,message', [
    (['--lr', 'nan'], '--lr must be a finite number'),
    (['--lr', 'inf'], '--lr must be a finite number'),
    (['--phase', 'test', '--face_padding', 'nan'], '--face_padding must be a finite number'),
    (['--phase', 'test', '--face_padding', 'inf'], '--face_padding must be a finite number'),
    (['--phase', 'test', '--brightness', 'nan'], '--brightness must be a finite number'),
    (['--phase', 'test', '--brightness', 'inf'], '--brightness must be a finite number'),
    (['--phase', 'test', '--img_size', '4'], '--img_size must be at least 8'),
    # Sizes no machine holds: refused before a graph is built (building one was deaf to Ctrl-C).
    (['--preset', 'cpu64', '--ch', '100000'], 'this run needs more than 273600.6 GB of memory for its '
                                              '68,400,161,000,016 weights and one batch of images alone'),
    (['--phase', 'test', '--ch', '100000'], 'Use a smaller --ch, --img_size or --batch_size'),
    (['--img_size', '256', '--batch_size', '10000000'], '--batch_size 10000000: this run needs more than'),
])
def test_non_finite_and_unbuildable_values_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_the_smallest_size_allowed_builds_and_runs(graph):
    from ugatit.infer.translator import build_generators
    placeholder, output, _ = build_generators(tiny_config('--img_size', '8').model, ('a2b',))['a2b']
    graph.run(tf.compat.v1.global_variables_initializer())
    assert graph.run(output, {placeholder: np.zeros((1, 8, 8, 3), np.float32)}).shape == (1, 8, 8, 3)


def test_every_file_skipped_for_no_face_exits_0(tmp_path, capsys, photo_checkpoint):
    noise_photo(tmp_path / 'wall.png', (100, 100))
    rc, out, err = run(capsys, *photo_checkpoint, '--input', str(tmp_path / 'wall.png'), '--align_face',
                       '--no_face', 'skip', '--result_dir', str(tmp_path / 'out'))
    assert rc == 0 and '0 translation(s) from 1 file(s)' in out and 'no face found' in out


@pytest.mark.slow
def test_a_training_file_unreadable_after_the_scan_is_skipped(tmp_path, capsys, monkeypatch):
    import ugatit.train.train
    real_scan = ugatit.train.train.scan_training_sets

    def scan_then_lose_a_file(paths):
        files_A, files_B, skipped = real_scan(paths)
        os.remove(files_A[0])  # e.g. a network drive dropping a file mid-run
        return files_A, files_B, skipped
    monkeypatch.setattr(ugatit.train.train, 'scan_training_sets', scan_then_lose_a_file)
    monkeypatch.chdir(tmp_path)
    make_dataset('dataset', n=3)
    rc, out, err = run(capsys, *TRAIN)
    assert rc == 0 and "Training finished at step 3" in out and "became unreadable" in out + err
