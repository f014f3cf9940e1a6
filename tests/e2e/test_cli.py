"""Flags, model_dir, lr schedule, checkpoint discovery and every bad-input path of main.py."""

import os
import re
import shutil

import cv2
import numpy as np
import pytest
import tensorflow as tf

import main
from ugatit import cli
from tests.support import shared_path, tiny_config
from ugatit.infer.translator import save_random_generators
from ugatit.config import cpu_has_amx_bfloat16, cpu_has_native_bfloat16, learning_rate, min_img_size
from utils import claim_unique_path, release_unwritten, safe_name, str2bool, unique_stem

OFFICIAL_DIR = 'UGATIT_selfie2anime_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing'


def run_main(capsys, *argv):
    rc = main.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_defaults_are_the_official_ones():
    a = cli.parse_args([])
    assert (a.phase, a.light, a.dataset, a.epoch, a.iteration, a.batch_size) == ('train', False, 'selfie2anime', 100, 10000, 1)
    assert (a.print_freq, a.save_freq, a.decay_flag, a.decay_epoch, a.lr, a.GP_ld) == (1000, 1000, True, 50, 0.0001, 10)
    assert (a.adv_weight, a.cycle_weight, a.identity_weight, a.cam_weight, a.gan_type) == (1, 10, 10, 1000, 'lsgan')
    assert (a.smoothing, a.ch, a.n_res, a.n_dis, a.n_critic, a.sn) == (True, 64, 4, 6, 1, True)
    assert (a.img_size, a.img_ch, a.augment_flag) == (256, 3, True)
    assert (a.checkpoint_dir, a.result_dir, a.log_dir, a.sample_dir) == ('checkpoint', 'results', 'logs', 'samples')


def test_model_dir_official_naming():
    assert cli.parse_config([]).model_dir == OFFICIAL_DIR
    assert cli.parse_config(['--light', 'true', '--dataset', 'x', '--sn', 'no', '--smoothing', '0']).model_dir == \
        'UGATIT_light_x_lsgan_4resblock_6dis_1_1_10_10_1000'


def test_learning_rate_schedule():
    assert learning_rate(10, 1e-4, True, 50, 100) == 1e-4
    assert learning_rate(50, 1e-4, True, 50, 100) == pytest.approx(1e-4)
    assert learning_rate(75, 1e-4, True, 50, 100) == pytest.approx(5e-5)
    assert learning_rate(99, 1e-4, True, 50, 100) == pytest.approx(2e-6)
    assert learning_rate(99, 1e-4, False, 50, 100) == 1e-4


@pytest.mark.parametrize('text,value', [('true', True), ('True', True), ('1', True), ('yes', True),
                                        ('false', False), ('FALSE', False), ('0', False), ('no', False)])
def test_str2bool_accepts(text, value):
    assert str2bool(text) is value


@pytest.mark.parametrize('text', ['t', '', 'ture', 'Flase', 'maybe', '2'])
def test_str2bool_rejects_what_the_official_version_accepted(text, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(['--light', text])
    assert exc.value.code == 2
    assert '--light' in capsys.readouterr().err


@pytest.mark.parametrize('argv,message', [
    (['--img_size', '64'], '--img_size 64 is too small for --n_dis 6: the global discriminator needs at least 96'),
    (['--img_size', '66'], '--img_size must be a multiple of 4'),
    (['--batch_size', '0'], '--batch_size must be >= 1'),
    (['--epoch', '0'], '--epoch must be >= 1'),
    (['--lr', '0'], '--lr must be > 0'),
    (['--img_ch', '1'], '--img_ch must be 3'),
    (['--n_dis', '2'], '--n_dis must be >= 3'),
    (['--dataset', '../x'], '--dataset must be a folder name'),
    (['--gan_type', 'lsgann'], "invalid choice: 'lsgann'"),
    (['--phase', 'tset'], "invalid choice: 'tset'"),
    (['--phase', 'export', '--bfloat16', 'true'], '--bfloat16 applies to train and test'),
    (['--phase', 'train', '--winograd', 'true'], '--winograd applies to --phase test'),
    (['--phase', 'export', '--winograd', 'true'], 'not to --phase export'),
    (['--phase', 'train', '--flip_average', 'true'], '--flip_average applies to --phase test'),
    (['--phase', 'export', '--flip_average', 'true'], 'not to --phase export'),
])
def test_invalid_flags_are_refused_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_small_image_is_fine_for_test_phase_which_has_no_discriminator():
    cli.parse_args(['--phase', 'test', '--img_size', '64'])
    assert min_img_size(6) == 96 and min_img_size(4) == 24


def test_output_names_stay_in_their_folder_and_are_unique():
    assert safe_name('../../etc/passwd') == 'passwd'
    assert safe_name('..') == 'image'
    assert safe_name('a\\b/c') == 'c'
    used = set()
    stems = [unique_stem(p, used) for p in ('x/face.jpg', 'y/face.png', 'face.JPG', 'z/../a b.jpg')]
    assert stems == ['face', 'face_2', 'face_3', 'a_b']


def test_claim_unique_path_never_takes_an_existing_file(tmp_path, monkeypatch):
    folder, sub = tmp_path, tmp_path / 'sub'
    sub.mkdir()
    (folder / 'x.png').write_text('mine')
    (sub / 'x_2.png').write_text('mine too')
    path = claim_unique_path(str(folder), 'x.png', [str(sub)])  # free in both folders: x_3
    assert path == str(folder / 'x_3.png') and os.path.getsize(path) == 0 and (sub / 'x_3.png').exists()
    assert not (folder / 'x_2.png').exists()  # claimed in folder, taken in sub: released
    assert (folder / 'x.png').read_text() == 'mine' and (sub / 'x_2.png').read_text() == 'mine too'
    # Atomic: a check that finds a name free (another run creates it just after) changes nothing.
    monkeypatch.setattr(os.path, 'exists', lambda p: False)
    monkeypatch.setattr(os.path, 'isfile', lambda p: False)
    assert claim_unique_path(str(folder), 'x.png') == str(folder / 'x_2.png')
    monkeypatch.undo()
    assert (folder / 'x.png').read_text() == 'mine'
    release_unwritten([str(folder / n) for n in ('x.png', 'x_2.png', 'x_3.png')] + [str(sub / 'x_3.png')])
    assert sorted(os.listdir(folder)) == ['sub', 'x.png'] and os.listdir(sub) == ['x_2.png']


def test_test_phase_without_checkpoint_exits_with_paths_tried(tmp_path, capsys):
    for split in ('testA', 'testB'):
        os.makedirs(tmp_path / 'data' / 'tiny' / split)
        cv2.imwrite(str(tmp_path / 'data' / 'tiny' / split / 'x.png'), np.zeros((8, 8, 3), np.uint8))
    rc, out, err = run_main(capsys, '--phase', 'test', '--dataset', 'tiny', '--dataset_dir', str(tmp_path / 'data'),
                            '--checkpoint_dir', str(tmp_path / 'ckpt'), '--result_dir', str(tmp_path / 'res'),
                            '--light', 'true', '--ch', '4', '--img_size', '32')
    assert rc == 2
    assert 'no checkpoint found' in err
    assert os.path.join(str(tmp_path / 'ckpt'), 'UGATIT_light_tiny_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing') in err
    assert 'There is no checkpoint in %s' % (tmp_path / 'ckpt') in err
    assert '`make demo`' in err and '`python main.py --phase download`' in err
    assert not os.path.exists(tmp_path / 'res' / 'UGATIT_light_tiny_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing' / 'a2b')


def test_no_checkpoint_message_names_the_checkpoints_that_exist(tmp_path):
    from ugatit.model.checkpoint import no_checkpoint_message
    demo = 'UGATIT_light_demo_lsgan_4resblock_4dis_1_1_10_10_1000_sn_smoothing'
    os.makedirs(tmp_path / demo)
    (tmp_path / demo / 'UGATIT_light.model-1500.index').write_bytes(b'')
    os.makedirs(tmp_path / 'UGATIT_light_empty_lsgan_4resblock_4dis_1_1_10_10_1000_sn_smoothing')  # no checkpoint
    os.makedirs(tmp_path / 'notes')
    config = cli.parse_config(['--phase', 'test', '--checkpoint_dir', str(tmp_path)])
    message = no_checkpoint_message(config, [str(tmp_path / OFFICIAL_DIR)])
    assert message.startswith('no checkpoint found. Tried: %s' % (tmp_path / OFFICIAL_DIR))
    assert 'Checkpoints in %s: %s (--dataset demo).' % (tmp_path, demo) in message
    assert '--checkpoint %s' % (tmp_path / demo) in message
    assert 'empty' not in message and 'notes' not in message
    assert '`make demo`' in message and '`python main.py --phase download`' in message


def _bfloat16_test_run(capsys, tmp_path):
    return run_main(capsys, '--phase', 'test', '--dataset', 'tiny', '--dataset_dir', str(tmp_path / 'data'),
                    '--checkpoint_dir', str(tmp_path / 'ckpt'), '--light', 'true', '--ch', '4', '--img_size', '32',
                    '--bfloat16', 'true')


def test_bfloat16_without_native_support_is_refused_before_anything_is_built(tmp_path, capsys, monkeypatch):
    import ugatit.config
    monkeypatch.setattr(ugatit.config, 'cpu_has_native_bfloat16', lambda: False)
    rc, out, err = _bfloat16_test_run(capsys, tmp_path)
    assert rc == 2
    assert '--bfloat16 needs a CPU that computes bfloat16 natively' in err and 'Run without --bfloat16' in err


def test_preset_cpu_asks_for_bfloat16_in_training_only_and_a_given_flag_wins():
    assert cli.parse_config(['--preset', 'cpu']).runtime.bfloat16 is True
    assert cli.parse_config(['--preset', 'cpu', '--bfloat16', 'false']).runtime.bfloat16 is False
    for phase in ('test', 'export', 'serve'):
        assert cli.parse_config(['--preset', 'cpu', '--phase', phase]).runtime.bfloat16 is False, phase
    assert cli.parse_config(['--preset', 'cpu64']).runtime.bfloat16 is False


@pytest.mark.parametrize('native,device,conv_error,why', [
    (False, 'CPU', 0.001, 'this CPU does not'), (True, 'GPU', 0.001, 'TensorFlow uses a GPU here'),
    (True, 'CPU', 0.2, 'fails its self-check')])
def test_the_presets_bfloat16_gives_way_to_float32_where_a_given_one_is_refused(
        capsys, monkeypatch, native, device, conv_error, why):
    import ops
    import ugatit.config
    from ugatit.cli import phases
    from ugatit.errors import UserError
    monkeypatch.setattr(ugatit.config, 'cpu_has_native_bfloat16', lambda: native)
    monkeypatch.setattr(ugatit.config, 'cpu_has_amx_bfloat16', lambda: native)
    monkeypatch.setattr(ops, 'bfloat16_convolution_error', lambda: {'forward': conv_error, 'input gradient': 0.0})
    from_preset = phases.check_bfloat16(cli.parse_config(['--preset', 'cpu']), device)
    out = capsys.readouterr().out
    assert from_preset.runtime.bfloat16 is False
    assert 'Training in float32' in out and why in out, out
    with pytest.raises(UserError, match=why):
        phases.check_bfloat16(cli.parse_config(['--preset', 'cpu', '--bfloat16', 'true']), device)
    # Negative control: a CPU with AMX that passes the self-check keeps the preset's bfloat16.
    monkeypatch.setattr(ugatit.config, 'cpu_has_native_bfloat16', lambda: True)
    monkeypatch.setattr(ugatit.config, 'cpu_has_amx_bfloat16', lambda: True)
    monkeypatch.setattr(ops, 'bfloat16_convolution_error', lambda: {'forward': 0.001})
    assert phases.check_bfloat16(cli.parse_config(['--preset', 'cpu']), 'CPU').runtime.bfloat16 is True
    assert 'bfloat16 self-check' in capsys.readouterr().out


def test_the_presets_bfloat16_gives_way_on_a_cpu_without_amx_but_a_given_one_runs(capsys, monkeypatch):
    """AVX512-BF16 without AMX: the preset's bfloat16 measured slower than float32 there, so it
    gives way (before the self-check); a --bfloat16 true the user gives still runs."""
    import ops
    import ugatit.config
    from ugatit.cli import phases
    monkeypatch.setattr(ugatit.config, 'cpu_has_native_bfloat16', lambda: True)
    monkeypatch.setattr(ugatit.config, 'cpu_has_amx_bfloat16', lambda: False)
    checks = []
    monkeypatch.setattr(ops, 'bfloat16_convolution_error', lambda: checks.append(1) or {'forward': 0.001})
    from_preset = phases.check_bfloat16(cli.parse_config(['--preset', 'cpu']), 'CPU')
    out = capsys.readouterr().out
    assert from_preset.runtime.bfloat16 is False and checks == []
    assert 'Training in float32' in out and 'pays only on a CPU with AMX' in out, out
    given = phases.check_bfloat16(cli.parse_config(['--preset', 'cpu', '--bfloat16', 'true']), 'CPU')
    assert given.runtime.bfloat16 is True and checks == [1]
    out = capsys.readouterr().out
    assert 'bfloat16 self-check' in out and 'measured slower than float32' in out, out
    # Negative control: with AMX, no such note.
    monkeypatch.setattr(ugatit.config, 'cpu_has_amx_bfloat16', lambda: True)
    phases.check_bfloat16(cli.parse_config(['--bfloat16', 'true']), 'CPU')
    assert 'measured slower' not in capsys.readouterr().out


@pytest.mark.parametrize('flags,native', [('fpu avx2 avx512f avx512_bf16 sse', True), ('fpu amx_tile amx_bf16', True),
                                          ('fpu avx2 avx512f avx512_vnni', False)])
def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text('processor\t: 0\nmodel name\t: x\nflags\t\t: %s\n' % flags)
    assert cpu_has_native_bfloat16(str(cpuinfo)) is native
    assert cpu_has_native_bfloat16(str(tmp_path / 'missing')) is False
    assert cpu_has_amx_bfloat16(str(cpuinfo)) is ('amx_bf16' in flags)
    assert cpu_has_amx_bfloat16(str(tmp_path / 'missing')) is False


def test_export_without_checkpoint_exits_with_paths_tried(tmp_path, capsys):
    rc, out, err = run_main(capsys, '--phase', 'export', '--dataset', 'tiny', '--checkpoint_dir', str(tmp_path / 'ckpt'),
                            '--export_dir', str(tmp_path / 'export'), '--light', 'true', '--ch', '4', '--img_size', '32')
    assert rc == 2
    assert 'no checkpoint found' in err and str(tmp_path / 'ckpt') in err
    assert not any(files for _, _, files in os.walk(tmp_path / 'export'))


def test_test_phase_without_test_images_names_the_folders(tmp_path, capsys):
    rc, out, err = run_main(capsys, '--phase', 'test', '--dataset', 'none', '--dataset_dir', str(tmp_path))
    assert rc == 2
    assert os.path.join(str(tmp_path), 'none', 'testA') in err and 'testB' in err


def test_train_without_dataset_names_the_folder(tmp_path, capsys):
    rc, out, err = run_main(capsys, '--phase', 'train', '--dataset', 'none', '--dataset_dir', str(tmp_path),
                            '--checkpoint_dir', str(tmp_path / 'c'), '--log_dir', str(tmp_path / 'l'),
                            '--sample_dir', str(tmp_path / 's'))
    assert rc == 2
    assert 'trainA folder not found: %s' % os.path.join(str(tmp_path), 'none', 'trainA') in err


def test_train_with_only_unreadable_images_names_them(tmp_path, capsys):
    for split in ('trainA', 'trainB'):
        os.makedirs(tmp_path / 'd' / split)
        (tmp_path / 'd' / split / 'broken.jpg').write_bytes(b'not a jpeg')
        (tmp_path / 'd' / split / 'empty.png').write_bytes(b'')
    rc, out, err = run_main(capsys, '--phase', 'train', '--dataset', 'd', '--dataset_dir', str(tmp_path),
                            '--checkpoint_dir', str(tmp_path / 'c'), '--log_dir', str(tmp_path / 'l'),
                            '--sample_dir', str(tmp_path / 's'))
    assert rc == 2
    assert 'has no usable image' in err and 'broken.jpg' in err


def _reference_a_flags(*extra):
    return ['--phase', 'test', '--dataset', 'tiny', '--img_size', '64'] + list(extra)


@pytest.mark.parametrize('wrong,hint', [
    (['--light', 'false', '--ch', '8'], '--light True (the flags say False)'),
    (['--light', 'true', '--ch', '16'], '--ch 8 (the flags say 16)'),
    (['--light', 'true', '--ch', '8', '--n_res', '3'], '--n_res 4 (the flags say 3)'),
])
def test_checkpoint_flag_mismatch_names_the_flag(tmp_path, capsys, wrong, hint):
    ckpt = shared_path('reference', 'a', 'checkpoint', 'UGATIT_light_tiny_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing')
    os.makedirs(tmp_path / 'tiny' / 'testA')
    cv2.imwrite(str(tmp_path / 'tiny' / 'testA' / 'x.png'), np.zeros((8, 8, 3), np.uint8))
    rc, out, err = run_main(capsys, *_reference_a_flags('--checkpoint', ckpt, '--dataset_dir', str(tmp_path),
                                                        '--result_dir', str(tmp_path / 'r'), *wrong))
    assert rc == 2
    assert 'does not match the model built from the flags' in err
    assert hint in err
    assert 'Traceback' not in err


def test_checkpoint_folder_without_state_file_and_stale_state_file(tmp_path):
    from ugatit.config import Config
    from ugatit.model.checkpoint import find_checkpoint, latest_in_folder
    src = shared_path('reference', 'a', 'checkpoint', 'UGATIT_light_tiny_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing')
    folder = tmp_path / 'ckpt'
    os.makedirs(folder)
    for name in os.listdir(src):
        if name != 'checkpoint':
            shutil.copy(os.path.join(src, name), folder)
    assert latest_in_folder(str(folder)) == str(folder / 'UGATIT_light.model-1000')
    # A state file from another machine (absolute path that does not exist here).
    (folder / 'checkpoint').write_text('model_checkpoint_path: "/other/machine/UGATIT_light.model-1000"\n')
    assert latest_in_folder(str(folder)) == str(folder / 'UGATIT_light.model-1000')
    prefix, tried = find_checkpoint(Config.from_flags({'checkpoint': str(folder / 'UGATIT_light.model-1000.index')}))
    assert prefix == str(folder / 'UGATIT_light.model-1000')
    prefix, tried = find_checkpoint(Config.from_flags({'checkpoint': str(tmp_path / 'nothing')}))
    assert prefix is None and tried == [str(tmp_path / 'nothing') + '.index']


def test_test_phase_with_batches_larger_than_one_matches_batch_one(graph):
    """The official MLP reshape used --batch_size and crashed at test time with more than 1."""
    from ugatit.infer.translator import Translator
    cfg = shared_path('reference', 'a')
    config = cli.parse_config(_reference_a_flags('--light', 'true', '--ch', '8', '--batch_size', '2',
                                                  '--checkpoint_dir', os.path.join(cfg, 'checkpoint')))
    inputs = np.load(os.path.join(cfg, 'inputs.npy'))
    with Translator(config, ('a2b',)) as translator:
        batched, _ = translator.translate('a2b', inputs)
    np.testing.assert_allclose(batched, np.load(os.path.join(cfg, 'test_fake_B.npy')), atol=1e-5)


@pytest.mark.parametrize('light', ['true', 'false'])
def test_n_res_other_than_4_builds_and_runs(graph, light):
    """The official MLP width ch*n_res only matched the bottleneck (4*ch) for n_res = 4."""
    import tensorflow as tf
    from ugatit.infer.translator import build_generators
    config = cli.parse_config(['--phase', 'test', '--light', light, '--ch', '4', '--img_size', '16', '--n_res', '2'])
    placeholder, output, heatmap = build_generators(config.model, ('a2b',))['a2b']
    graph.run(tf.compat.v1.global_variables_initializer())
    out, heat = graph.run([output, heatmap], {placeholder: np.zeros((3, 16, 16, 3), np.float32)})
    assert out.shape == (3, 16, 16, 3) and heat.shape == (3, 4, 4)


def _photo_and_tiny_checkpoint(tmp_path):
    """A photo, and a tiny random checkpoint (with its flags file) under tmp_path/ckpt."""
    photo = tmp_path / 'in' / 'p.png'
    os.makedirs(photo.parent)
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
    prefix = save_random_generators(tiny_config('--checkpoint_dir', str(tmp_path / 'ckpt'), '--dataset', 'x'), 3)
    return str(photo), os.path.dirname(prefix)


def test_architecture_flags_come_from_the_flags_file_beside_the_checkpoint(tmp_path, capsys):
    from ugatit.config import FLAGS_FILE
    photo, folder = _photo_and_tiny_checkpoint(tmp_path)
    assert os.path.isfile(os.path.join(folder, FLAGS_FILE))
    # No architecture flag given: the defaults (full model, ch 64, 256 px) would not fit.
    rc, out, err = run_main(capsys, '--phase', 'test', '--input', photo, '--checkpoint', folder,
                            '--result_dir', str(tmp_path / 'out'))
    assert rc == 0, err
    assert 'Architecture flags from %s: ' % os.path.join(folder, FLAGS_FILE) in out
    assert '--light True' in out and '--ch 4' in out and '--img_size 32' in out
    # A 32 px translation, enlarged 4x by default (a model below 256 px; 256 px would stay 256).
    assert cv2.imread(str(tmp_path / 'out' / 'p.png')).shape == (128, 128, 3)
    assert cv2.imread(str(tmp_path / 'out' / 'chip' / 'p.png')).shape == (32, 32, 3)


def test_a_given_flag_that_disagrees_with_the_flags_file_is_an_error_naming_both(tmp_path, capsys):
    photo, folder = _photo_and_tiny_checkpoint(tmp_path)
    rc, out, err = run_main(capsys, '--phase', 'test', '--input', photo, '--checkpoint', folder, '--ch', '8',
                            '--result_dir', str(tmp_path / 'out'))
    assert rc == 2
    assert '--ch 8 was given, but the checkpoint was trained with --ch 4' in err and 'Traceback' not in err
    assert not os.path.exists(tmp_path / 'out')


def test_a_broken_flags_file_is_named(tmp_path, capsys):
    from ugatit.config import FLAGS_FILE
    photo, folder = _photo_and_tiny_checkpoint(tmp_path)
    with open(os.path.join(folder, FLAGS_FILE), 'w') as f:
        f.write('{"model": ')
    rc, out, err = run_main(capsys, '--phase', 'test', '--input', photo, '--checkpoint', folder,
                            '--result_dir', str(tmp_path / 'out'))
    assert rc == 2 and '%s is not a valid flags file' % os.path.join(folder, FLAGS_FILE) in err


def test_demo_preset_fills_only_the_flags_not_given():
    config = cli.parse_config(['--dataset', 'demo', '--ch', '8'])
    assert (config.model.light, config.model.ch, config.model.img_size, config.train.epoch) == (True, 8, 64, 6)
    assert cli.parse_config(['--dataset', 'demo', '--ch=8']).model.ch == 8
    assert cli.parse_config(['--dataset', 'demo']).model.ch == 16


@pytest.mark.skipif(not cpu_has_native_bfloat16(), reason='this CPU has no native bfloat16')
def test_bfloat16_self_check_passes_here_and_refuses_a_wrong_convolution(tmp_path, capsys, monkeypatch):
    import ops
    from ugatit.cli.phases import BFLOAT16_TOLERANCE
    errors = ops.bfloat16_convolution_error()
    assert 0 < max(errors.values()) < BFLOAT16_TOLERANCE, errors   # rounded, but close
    rc, out, err = _bfloat16_test_run(capsys, tmp_path)             # passes the check, then finds no images
    assert 'bfloat16 self-check: the bfloat16 convolutions of this CPU are within' in out
    assert 'no test images' in err and '--bfloat16' not in err

    # Negative control: a bfloat16 convolution 10 % off (its kernel scaled) is refused before anything is built.
    conv2d = ops._conv2d
    monkeypatch.setattr(ops, '_conv2d', lambda x, w, strides: conv2d(
        x, w * 1.1 if ops._compute_dtype() == tf.bfloat16 else w, strides))
    assert ops.bfloat16_convolution_error()['forward'] > BFLOAT16_TOLERANCE
    rc, out, err = _bfloat16_test_run(capsys, tmp_path)
    assert rc == 2
    assert re.search(r'differs from float32 by (9|10)\.\d %', err) and 'Run without --bfloat16' in err and 'no test images' not in err
