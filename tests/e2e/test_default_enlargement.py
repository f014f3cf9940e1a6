"""The default enlargement of translations (--upscale not given): photo mode enlarges a small
model's output to at least 256 px with waifu2x denoising, a 256 px model's not at all; videos and
the camera use Lanczos unless --upscaler is given; the dataset's test grids stay at the model's size."""

import shutil

import cv2
import matplotlib.cbook
import pytest

import main
from ugatit import cli
from ugatit.apps.video import live_photo_flags
from ugatit.infer import upscale as U
from ugatit.infer.translator import save_random_generators

SMALL = ['--light', 'true', '--ch', '4', '--img_size', '64', '--n_dis', '3', '--grappler', 'false',
         '--dataset', 'photo']


@pytest.mark.parametrize('side, factor', [(32, 4), (64, 4), (96, 4), (128, 2), (256, 1), (512, 1)])
def test_default_factor_reaches_256_px(side, factor):
    assert U.default_factor(side) == factor


def test_the_flags_choose_the_factor_and_noise():
    photo = cli.parse_config(['--phase', 'test', '--input', 'x']).photo
    assert photo.upscale is None and photo.upscale_noise is None
    assert U.enlarge_factor(photo, 64) == 4 and U.enlarge_factor(photo, 256) == 1
    given = cli.parse_config(['--phase', 'test', '--input', 'x', '--upscale', '1']).photo
    assert U.enlarge_factor(given, 64) == 1
    auto = cli.parse_config(['--phase', 'test', '--input', 'x', '--upscale', 'auto']).photo
    assert U.enlarge_factor(auto, 64, footprint_px=200) == 4 and U.enlarge_factor(auto, 64) == 1


def test_videos_and_the_camera_enlarge_with_lanczos_unless_told():
    config = cli.parse_config(['--phase', 'test', '--input', 'clip.mp4'])
    assert live_photo_flags(config).upscaler == 'lanczos' and live_photo_flags(config).upscale is None
    told = cli.parse_config(['--phase', 'test', '--input', 'clip.mp4', '--upscaler', 'anime4k'])
    assert live_photo_flags(told).upscaler == 'anime4k'


def test_photo_mode_enlarges_a_64_px_model_to_256_by_default(tmp_path, capsys):
    folder = str(tmp_path / 'ckpt')
    save_random_generators(cli.parse_config(['--phase', 'test', '--checkpoint_dir', folder] + SMALL), 3)
    photo = tmp_path / 'face.jpg'
    shutil.copy(matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False), photo)
    out = tmp_path / 'out'
    assert main.main(['--phase', 'test', '--checkpoint_dir', folder, '--input', str(photo), '--result_dir', str(out),
                      '--upscaler', 'lanczos'] + SMALL) == 0
    assert cv2.imread(str(out / 'face.png')).shape == (256, 256, 3)
    assert cv2.imread(str(out / 'chip' / 'face.png')).shape == (64, 64, 3)
    # The waifu2x default runs too (whichever network passes its self-check here), at noise level 3.
    assert main.main(['--phase', 'test', '--checkpoint_dir', folder, '--input', str(photo),
                      '--result_dir', str(tmp_path / 'w2x')] + SMALL) == 0
    assert cv2.imread(str(tmp_path / 'w2x' / 'face.png')).shape == (256, 256, 3)
    assert any(noise == U.TRANSLATION_NOISE for _, noise in U._resolved)
