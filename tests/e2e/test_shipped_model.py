"""--preset cpu, and the rule that photo, video, camera and serve runs with nothing to restore use
the model the project ships (ugatit.config.SHIPPED_MODELS), said in one line."""

import os
import shutil

import numpy as np
import pytest

import main
from ugatit import cli
from ugatit.cli import phases
from tests.support.checkpoints import reference_a_folder
from ugatit import config as config_module
from ugatit.config import Config, write_flags_file
from utils import imwrite_rgb

A_PREFIX = 'UGATIT_light.model-1000'


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A stand-in shipped model for --dataset selfie2anime: reference checkpoint a (light, ch 8,
    64 px) with its flags file, in a folder of its own."""
    folder = tmp_path / 'models' / 'stand_in'
    folder.mkdir(parents=True)
    for suffix in ('.index', '.data-00000-of-00001'):
        shutil.copy(os.path.join(reference_a_folder(), A_PREFIX + suffix), str(folder))
    trained = Config.from_flags({'light': True, 'ch': 8, 'img_size': 64, 'dataset': 'selfie2anime'})
    write_flags_file(str(folder), trained)
    monkeypatch.setitem(config_module.SHIPPED_MODELS, 'selfie2anime', str(folder))
    return str(folder)


def _config(tmp_path, *flags):
    return cli.parse_config(['--checkpoint_dir', str(tmp_path / 'checkpoint')] + list(flags))


def test_preset_cpu_is_the_recipe_and_given_flags_win():
    config = cli.parse_config(['--preset', 'cpu'])
    assert (config.model.light, config.model.ch, config.model.img_size, config.model.n_dis) == (True, 16, 128, 4)
    assert (config.train.epoch, config.train.iteration, config.train.decay_epoch) == (40, 1000, 20)
    assert config.model_dir == 'UGATIT_light_selfie2anime_lsgan_4resblock_4dis_1_1_10_10_1000_sn_smoothing'
    assert cli.parse_config(['--preset', 'cpu', '--ch', '32']).model.ch == 32
    assert cli.parse_config([]).model.ch == 64  # no preset: the official defaults
    # The shipped model's recipe keeps a preset of its own.
    config = cli.parse_config(['--preset', 'cpu64'])
    assert (config.model.light, config.model.ch, config.model.img_size, config.model.n_dis) == (True, 32, 64, 4)
    assert (config.train.epoch, config.train.iteration, config.train.decay_epoch) == (40, 1000, 20)


def test_a_run_of_the_former_preset_cpu_resumes_at_its_own_size(tmp_path, capsys):
    """--preset cpu meant 64 px at ch 32 before it became 128 px at ch 16: a run started then and
    resumed with --preset cpu keeps the size its flags file records, and says so."""
    config = _config(tmp_path, '--preset', 'cpu')
    folder = tmp_path / 'checkpoint' / config.model_dir
    folder.mkdir(parents=True)
    write_flags_file(str(folder), cli.parse_config(['--preset', 'cpu64']))
    resumed = phases.with_saved_flags(config)
    assert (resumed.model.ch, resumed.model.img_size) == (32, 64)
    assert '--ch 32' in capsys.readouterr().out
    # Negative control: without the flags file the preset's size is taken.
    os.remove(str(folder / config_module.FLAGS_FILE))
    assert phases.with_saved_flags(config).model.img_size == 128


def test_shipped_model_is_used_only_when_nothing_else_is_given(tmp_path, shipped):
    photo = ('--phase', 'test', '--input', 'x.jpg')
    assert phases.uses_shipped_model(_config(tmp_path, *photo))
    assert phases.uses_shipped_model(_config(tmp_path, '--phase', 'serve'))
    assert phases.uses_shipped_model(_config(tmp_path, '--phase', 'test', '--input', 'clip.mp4'))
    assert phases.uses_shipped_model(_config(tmp_path, '--phase', 'test', '--input', 'camera:0'))
    # Never over a given --checkpoint, another dataset, or phases that need the flags' own model.
    assert not phases.uses_shipped_model(_config(tmp_path, *photo, '--checkpoint', 'mine'))
    assert not phases.uses_shipped_model(_config(tmp_path, *photo, '--dataset', 'other'))
    for phase in ('train', 'test', 'export', 'eval'):
        assert not phases.uses_shipped_model(_config(tmp_path, '--phase', phase))
    # Never over a checkpoint of the flags' own model_dir.
    config = _config(tmp_path, *photo)
    own = tmp_path / 'checkpoint' / config.model_dir
    own.mkdir(parents=True)
    for suffix in ('.index', '.data-00000-of-00001'):
        shutil.copy(os.path.join(reference_a_folder(), A_PREFIX + suffix), str(own))
    assert not phases.uses_shipped_model(config)


def test_no_shipped_model_folder_means_the_usual_error(tmp_path, monkeypatch):
    monkeypatch.setitem(config_module.SHIPPED_MODELS, 'selfie2anime', str(tmp_path / 'missing'))
    assert not phases.uses_shipped_model(_config(tmp_path, '--phase', 'test', '--input', 'x.jpg'))


@pytest.mark.slow
def test_photo_mode_translates_with_the_shipped_model_and_says_so(tmp_path, shipped, capsys):
    photo = tmp_path / 'face.png'
    imwrite_rgb(str(photo), (np.random.RandomState(0).rand(80, 80, 3) * 255).astype(np.uint8))
    status = main.main(['--phase', 'test', '--input', str(photo), '--result_dir', str(tmp_path / 'out'),
                        '--checkpoint_dir', str(tmp_path / 'checkpoint')])
    out = capsys.readouterr().out
    assert status == 0
    assert 'using the model this project ships, %s' % shipped in out
    assert ' --light True --ch 8' in out  # its architecture comes from its flags file
    assert os.path.isfile(str(tmp_path / 'out' / 'face.png'))


def _shipped_config(tmp_path):
    argv = ['--phase', 'test', '--input', 'face.jpg', '--checkpoint_dir', str(tmp_path / 'none')]
    return phases.with_saved_flags(phases.with_shipped_model(cli.parse_config(argv)))


def test_the_shipped_checkpoint_is_float16_generators_of_its_flags(tmp_path):
    """models/selfie2anime_cpu: the generators (both directions) of the architecture its flags file
    names, every tensor float16 with the graph's shape; no discriminator, no Adam slot."""
    import tensorflow as tf
    from ugatit.model.checkpoint import latest_in_folder
    from ugatit.infer.translator import build_generators
    config = _shipped_config(tmp_path)
    assert config.paths.checkpoint == config_module.SHIPPED_MODELS['selfie2anime']
    assert (config.model.light, config.model.ch, config.model.img_size, config.model.n_dis) == (True, 16, 128, 4)
    reader = tf.train.load_checkpoint(latest_in_folder(config.paths.checkpoint))
    stored = {name: shape for name, shape in reader.get_variable_to_shape_map().items() if name != 'global_step'}
    with tf.Graph().as_default():
        build_generators(config.model)
        graph = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    assert stored == graph
    assert {reader.get_variable_to_dtype_map()[name] for name in stored} == {tf.float16}
    assert os.path.getsize(latest_in_folder(config.paths.checkpoint) + '.data-00000-of-00001') <= 15 * 2 ** 20


@pytest.mark.slow
def test_the_shipped_model_translates_a_face_the_same_way_each_time(tmp_path):
    """Grace Hopper's portrait (public domain, inside matplotlib), cut as photo mode cuts it, through
    two fresh restores of the shipped model: identical results, each a real change of the input."""
    import matplotlib.cbook
    from ugatit.infer.faces import FaceAligner
    from ugatit.infer.translator import Translator
    from utils import preprocess, read_image_rgb
    config = _shipped_config(tmp_path)
    image = read_image_rgb(matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))
    aligner = FaceAligner()
    side = config.model.img_size
    chip = aligner.chip(image, aligner.detect(image)[0], size=side, padding=0.65)[0]
    batch = preprocess(chip, side)[None]
    results = []
    for _ in range(2):
        with Translator(config) as translator:
            results.append([translator.translate(d, batch)[0] for d in ('a2b', 'b2a')])
    for first, second in zip(*results):
        assert np.array_equal(first, second)
    for translated in results[0]:
        assert translated.shape == (1, side, side, 3) and np.isfinite(translated).all()
        assert np.abs(translated - batch).mean() > 0.1  # not the input given back


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """A copy of the shipped model (models/selfie2anime_cpu) registered in its place, to damage."""
    folder = tmp_path / 'models' / 'selfie2anime_cpu'
    shutil.copytree(config_module.SHIPPED_MODELS['selfie2anime'], str(folder))
    monkeypatch.setitem(config_module.SHIPPED_MODELS, 'selfie2anime', str(folder))
    return folder


def test_the_shipped_flags_file_is_the_preset_it_was_trained_with():
    saved, _ = config_module.read_flags_file(config_module.SHIPPED_MODELS['selfie2anime'])
    assert config_module.shipped_model_flags('selfie2anime') == saved


def test_a_shipped_model_that_lost_its_flags_file_keeps_its_size(tmp_path, shipped_copy, capsys):
    """The flags file deleted, --ch 16 --light True given: once, a small shipped model ran at 256 px
    silently. Its preset's architecture is taken and said."""
    os.remove(str(shipped_copy / config_module.FLAGS_FILE))
    argv = ['--phase', 'test', '--input', 'face.jpg', '--checkpoint_dir', str(tmp_path / 'none'), '--ch', '16',
            '--light', 'True']
    config = phases.with_saved_flags(phases.with_shipped_model(cli.parse_config(argv)))
    assert (config.model.light, config.model.ch, config.model.img_size, config.model.n_dis) == (True, 16, 128, 4)
    out = capsys.readouterr().out
    assert '--img_size 128' in out and '--preset cpu;' in out and 'git checkout models/' in out, out


def test_a_light_checkpoint_without_flags_file_says_the_size_it_assumes(tmp_path, capsys):
    folder = tmp_path / 'mine'
    folder.mkdir()
    for suffix in ('.index', '.data-00000-of-00001'):  # reference checkpoint a: light, ch 8, 64 px
        shutil.copy(os.path.join(reference_a_folder(), A_PREFIX + suffix), str(folder))
    argv = ['--phase', 'test', '--input', 'face.jpg', '--checkpoint', str(folder), '--light', 'true', '--ch', '8']
    config = phases.with_saved_flags(phases.with_shipped_model(cli.parse_config(argv)))
    assert config.model.img_size == 256
    assert 'assuming --img_size 256; give --img_size' in capsys.readouterr().out
    phases.with_saved_flags(cli.parse_config(argv + ['--img_size', '64']))  # given: nothing to say
    assert capsys.readouterr().out == ''


@pytest.mark.parametrize('lost', ['.index', '.data-00000-of-00001'])
def test_an_incomplete_shipped_model_is_named_with_how_to_restore_it(tmp_path, shipped_copy, capsys, lost):
    from ugatit.model.checkpoint import latest_in_folder
    name = os.path.basename(latest_in_folder(str(shipped_copy)))
    os.remove(str(shipped_copy / (name + lost)))
    photo = tmp_path / 'face.png'
    imwrite_rgb(str(photo), np.zeros((64, 64, 3), np.uint8))
    status = main.main(['--phase', 'test', '--input', str(photo), '--result_dir', str(tmp_path / 'out'),
                        '--checkpoint_dir', str(tmp_path / 'checkpoint')])
    err = capsys.readouterr().err
    assert status == 2 and 'Traceback' not in err
    assert '%s holds an incomplete checkpoint: %s%s is missing' % (shipped_copy, name, lost) in err
    assert 'git checkout models/' in err
