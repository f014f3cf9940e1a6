"""--preset cpu, and the rule that photo, video, camera and serve runs with nothing to restore use
the model the project ships (ugatit.config.SHIPPED_MODELS), said in one line."""

import os
import shutil

import numpy as np
import pytest

import main
from ckpt_helpers import reference_a_folder
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
    return main.parse_config(['--checkpoint_dir', str(tmp_path / 'checkpoint')] + list(flags))


def test_preset_cpu_is_the_recipe_and_given_flags_win():
    config = main.parse_config(['--preset', 'cpu'])
    assert (config.model.light, config.model.ch, config.model.img_size, config.model.n_dis) == (True, 32, 64, 4)
    assert (config.train.epoch, config.train.iteration, config.train.decay_epoch) == (40, 1000, 20)
    assert config.model_dir == 'UGATIT_light_selfie2anime_lsgan_4resblock_4dis_1_1_10_10_1000_sn_smoothing'
    assert main.parse_config(['--preset', 'cpu', '--ch', '16']).model.ch == 16
    assert main.parse_config([]).model.ch == 64  # no preset: the official defaults


def test_shipped_model_is_used_only_when_nothing_else_is_given(tmp_path, shipped):
    photo = ('--phase', 'test', '--input', 'x.jpg')
    assert main.uses_shipped_model(_config(tmp_path, *photo))
    assert main.uses_shipped_model(_config(tmp_path, '--phase', 'serve'))
    assert main.uses_shipped_model(_config(tmp_path, '--phase', 'test', '--input', 'clip.mp4'))
    assert main.uses_shipped_model(_config(tmp_path, '--phase', 'test', '--input', 'camera:0'))
    # Never over a given --checkpoint, another dataset, or phases that need the flags' own model.
    assert not main.uses_shipped_model(_config(tmp_path, *photo, '--checkpoint', 'mine'))
    assert not main.uses_shipped_model(_config(tmp_path, *photo, '--dataset', 'other'))
    for phase in ('train', 'test', 'export', 'eval'):
        assert not main.uses_shipped_model(_config(tmp_path, '--phase', phase))
    # Never over a checkpoint of the flags' own model_dir.
    config = _config(tmp_path, *photo)
    own = tmp_path / 'checkpoint' / config.model_dir
    own.mkdir(parents=True)
    for suffix in ('.index', '.data-00000-of-00001'):
        shutil.copy(os.path.join(reference_a_folder(), A_PREFIX + suffix), str(own))
    assert not main.uses_shipped_model(config)


def test_no_shipped_model_folder_means_the_usual_error(tmp_path, monkeypatch):
    monkeypatch.setitem(config_module.SHIPPED_MODELS, 'selfie2anime', str(tmp_path / 'missing'))
    assert not main.uses_shipped_model(_config(tmp_path, '--phase', 'test', '--input', 'x.jpg'))


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
