"""`main.py --phase test --input PATH`: photos, faces, paste-back, and every bad input."""

import os
import shutil

import cv2
import matplotlib.cbook
import numpy as np
import pytest

import main
from ugatit import cli
from tests.support import TINY_MODEL, shared_path
from ugatit.infer.translator import save_random_generators

TINY = TINY_MODEL + ['--dataset', 'photo']


def grace_hopper_path(tmp_path):
    src = matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False)
    dst = tmp_path / 'grace_hopper.jpg'
    shutil.copy(src, dst)
    return dst


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory):
    """A random-weight checkpoint of a tiny light model (no training needed to test plumbing)."""
    folder = str(tmp_path_factory.mktemp('ckpt'))
    save_random_generators(cli.parse_config(['--phase', 'test', '--checkpoint_dir', folder] + TINY), 7)
    return folder


def run(capsys, tiny_checkpoint, out, *argv):
    rc = main.main(['--phase', 'test', '--checkpoint_dir', tiny_checkpoint, '--result_dir', str(out)] + TINY + list(argv))
    o, e = capsys.readouterr()
    return rc, o + e


def test_folder_with_faces_and_bad_files(tmp_path, capsys, tiny_checkpoint):
    photos = tmp_path / 'in'
    os.makedirs(photos)
    shutil.copy(grace_hopper_path(tmp_path), photos / 'grace <hopper>.jpg')
    (photos / 'empty.jpg').write_bytes(b'')
    (photos / 'notes.txt').write_text('not an image')
    cv2.imwrite(str(photos / 'tiny.png'), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(photos / 'blank.png'), np.full((120, 120, 3), 200, np.uint8))  # no face
    out = tmp_path / 'out'
    rc, text = run(capsys, tiny_checkpoint, out, '--input', str(photos), '--align_face', '--paste_back',
                   '--no_face', 'skip', '--batch_size', '2')
    assert rc == 2, text  # unreadable files make the exit status non-zero; the rest is done
    stem = 'grace_hopper'
    for kind in ('', 'chip', 'attention'):
        img = cv2.imread(str(out / kind / (stem + '.png')))
        assert img is not None and img.shape == (32, 32, 3), kind
    figure = cv2.imread(str(out / 'figure' / (stem + '.png')))
    assert figure is not None and figure.shape[1] > 3 * figure.shape[0]
    original = cv2.imread(str(photos / 'grace <hopper>.jpg'))
    pasted = cv2.imread(str(out / 'pasted' / (stem + '.png')))
    assert pasted.shape == original.shape
    changed = np.any(np.abs(pasted.astype(int) - original.astype(int)) > 3, axis=2)
    assert 0.01 < changed.mean() < 0.5  # only the face region changed
    # Every bad file is named in the summary, and nothing escapes the result folder.
    for name, reason in (('empty.jpg', 'empty'), ('notes.txt', 'not an image'), ('tiny.png', 'too small'),
                         ('blank.png', 'no face found')):
        assert any(name in line and reason in line for line in text.splitlines()), name
    html = open(out / 'index.html', encoding='utf-8').read()
    assert 'grace &lt;hopper&gt;.jpg' in html and '<hopper>' not in html
    assert sorted(os.listdir(out)) == sorted(['index.html', stem + '.png', 'chip', 'attention', 'figure', 'pasted'])
    for kind in ('chip', 'attention', 'figure', 'pasted'):
        assert os.listdir(out / kind) == [stem + '.png'], kind


def test_no_face_error_policy_fails_with_the_file_name(tmp_path, capsys, tiny_checkpoint):
    photo = tmp_path / 'wall.png'
    cv2.imwrite(str(photo), np.full((100, 100, 3), 90, np.uint8))
    rc, text = run(capsys, tiny_checkpoint, tmp_path / 'out', '--input', str(photo), '--align_face')
    assert rc == 2
    assert '%s: no face found (use --no_face skip or --no_face center' % photo in text


def test_no_face_center_and_no_alignment_use_the_centre_crop(tmp_path, capsys, tiny_checkpoint):
    photo = tmp_path / 'wall.png'
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 255, (90, 150, 3), dtype=np.uint8))
    rc, text = run(capsys, tiny_checkpoint, tmp_path / 'a', '--input', str(photo), '--align_face', '--no_face', 'center')
    assert rc == 0 and 'centre crop' in text
    rc, text = run(capsys, tiny_checkpoint, tmp_path / 'b', '--input', str(tmp_path / '*.png'), '--direction', 'b2a')
    assert rc == 0
    assert cv2.imread(str(tmp_path / 'b' / 'wall.png')).shape == (32, 32, 3)


def test_winograd_photo_matches_the_default_one(tmp_path, capsys, tiny_checkpoint, monkeypatch):
    """--winograd true through main.py (on every 3x3 convolution of the tiny model, too small to
    use it by default): the self-check is said, and the translation is the default one within a
    grey level (float rounding; the golden tests bound the numbers)."""
    import ops
    from tests.support.winograd import winograd_library_or_skip
    winograd_library_or_skip()
    monkeypatch.setattr(ops, 'WINOGRAD_MIN_CHANNELS', 1)
    monkeypatch.setattr(ops, 'WINOGRAD_MIN_WORK', 0)
    photo = grace_hopper_path(tmp_path)
    rc, text = run(capsys, tiny_checkpoint, tmp_path / 'plain', '--input', str(photo))
    assert rc == 0, text
    rc, text = run(capsys, tiny_checkpoint, tmp_path / 'winograd', '--input', str(photo), '--winograd', 'true')
    assert rc == 0 and 'Winograd self-check' in text and 'large enough' not in text, text
    plain, winograd = (cv2.imread(str(tmp_path / kind / 'grace_hopper.png')).astype(int) for kind in ('plain', 'winograd'))
    assert np.abs(plain - winograd).max() <= 1
    # With the thresholds as shipped, the tiny model's convolutions are too small, and it says so.
    monkeypatch.undo()
    rc, text = run(capsys, tiny_checkpoint, tmp_path / 'small', '--input', str(photo), '--winograd', 'true')
    assert rc == 0 and 'no convolution of this model is large enough' in text, text


def test_flip_average_is_the_mean_of_the_image_and_its_mirror_image(tiny_checkpoint):
    """--flip_average: each translation and attention map is the mean of the plain model's result
    for the image and for its mirror image (mirrored back), both output kinds; the negative
    control: the random-weight model is not mirror-symmetric, so the plain result is far from it."""
    from ugatit.infer.translator import Translator
    rng = np.random.RandomState(3)
    images = rng.uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    argv = ['--phase', 'test', '--checkpoint_dir', tiny_checkpoint] + TINY
    averaging = cli.parse_config(argv + ['--flip_average', 'true'])
    with Translator(cli.parse_config(argv), ('a2b',)) as plain:
        fake, heat = plain.translate('a2b', images)
        fake_m, heat_m = plain.translate('a2b', images[:, :, ::-1])
    as_uint8 = np.round((images + 1) * 127.5).astype(np.uint8)
    with Translator(averaging, ('a2b',)) as averaged:
        fake_avg, heat_avg = averaged.translate('a2b', images)
        fake_of_uint8, _ = averaged.translate('a2b', as_uint8 / np.float32(127.5) - 1)
    expected_fake, expected_heat = (fake + fake_m[:, :, ::-1]) / 2, (heat + heat_m[:, :, ::-1]) / 2
    # Measured 6e-7 (images) and 5e-7 of the largest value (attention): one batch of 6 against two of 3.
    assert np.abs(fake_avg - expected_fake).max() < 1e-5
    assert np.abs(heat_avg - expected_heat).max() < 1e-5 * np.abs(expected_heat).max()
    # The negative control (measured 0.48, and 0.38 of the largest attention value).
    assert np.abs(fake_avg - fake).max() > 1e-2 and np.abs(heat_avg - heat).max() > 1e-3 * np.abs(heat).max()
    with Translator(averaging, ('a2b',), io='uint8') as served:
        out, attention = served.translate('a2b', as_uint8)
    assert out.dtype == np.uint8 and out.shape == images.shape and attention.shape == heat.shape
    assert np.abs(out / 127.5 - 1 - fake_of_uint8).max() <= 0.51 / 127.5  # the output's rounding


def test_two_people_with_all_faces(tmp_path, capsys, tiny_checkpoint):
    src = shared_path('data', 'faces', 'two_people.jpg')
    rc, text = run(capsys, tiny_checkpoint, tmp_path / 'out', '--input', src, '--align_face', '--faces', 'all', '--paste_back')
    assert rc == 0, text
    names = os.listdir(tmp_path / 'out')
    assert 'two_people_face0.png' in names and 'two_people_face1.png' in names
    assert os.listdir(tmp_path / 'out' / 'pasted') == ['two_people_face0.png']


@pytest.mark.parametrize('kind', ['grayscale', 'rgba', 'sixteen_bit', 'cmyk'])
def test_awkward_image_formats_are_converted(tmp_path, capsys, tiny_checkpoint, kind):
    rng = np.random.default_rng(1)
    path = tmp_path / ('x.jpg' if kind == 'cmyk' else 'x.png')
    if kind == 'grayscale':
        cv2.imwrite(str(path), rng.integers(0, 255, (80, 80), dtype=np.uint8))
    elif kind == 'rgba':
        cv2.imwrite(str(path), rng.integers(0, 255, (80, 80, 4), dtype=np.uint8))
    elif kind == 'sixteen_bit':
        cv2.imwrite(str(path), rng.integers(0, 65535, (80, 80, 3), dtype=np.uint16))
    else:
        from PIL import Image
        Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).convert('CMYK').save(path, 'JPEG')
    rc, text = run(capsys, tiny_checkpoint, tmp_path / 'out', '--input', str(path))
    assert rc == 0, text
    assert cv2.imread(str(tmp_path / 'out' / 'x.png')).shape == (32, 32, 3)


def test_huge_image_is_refused_by_name(tmp_path, capsys, tiny_checkpoint, monkeypatch):
    import utils
    monkeypatch.setattr(utils, 'MAX_IMAGE_PIXELS', 100 * 100)
    path = tmp_path / 'big.png'
    cv2.imwrite(str(path), np.zeros((200, 200, 3), np.uint8))
    rc, text = run(capsys, tiny_checkpoint, tmp_path / 'out', '--input', str(path))
    assert rc == 2
    assert '%s: image too large' % path in text and 'nothing to translate' in text


def test_input_matching_nothing_and_bad_landmarks(tmp_path, capsys, tiny_checkpoint):
    rc, text = run(capsys, tiny_checkpoint, tmp_path / 'out', '--input', str(tmp_path / 'nope*.jpg'))
    assert rc == 2 and 'matched no file' in text
    with pytest.raises(SystemExit):
        cli.parse_args(['--phase', 'test', '--input', 'x', '--landmarks', str(tmp_path / 'missing.dat')])
    assert 'missing.dat: no such file' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse_args(['--phase', 'train', '--input', 'x'])
    assert '--input translates photos and needs --phase test' in capsys.readouterr().err


def test_upscale_enlarges_the_translation_and_pastes_it_back_sharp(tmp_path, capsys, tiny_checkpoint):
    """--upscale 2 (lanczos: no system library needed) writes a 2x translation; --upscale auto
    sizes each face to its footprint in the photo; paste-back warps from the enlarged chip, so
    only the face region changes."""
    src = grace_hopper_path(tmp_path)
    rc, text = run(capsys, tiny_checkpoint, tmp_path / 'x2', '--input', str(src), '--align_face', '--paste_back',
                   '--upscale', '2', '--upscaler', 'lanczos')
    assert rc == 0, text
    assert cv2.imread(str(tmp_path / 'x2' / 'grace_hopper.png')).shape == (64, 64, 3)
    assert cv2.imread(str(tmp_path / 'x2' / 'chip' / 'grace_hopper.png')).shape == (32, 32, 3)
    original = cv2.imread(str(src))
    pasted = cv2.imread(str(tmp_path / 'x2' / 'pasted' / 'grace_hopper.png'))
    changed = np.any(np.abs(pasted.astype(int) - original.astype(int)) > 3, axis=2)
    assert pasted.shape == original.shape and 0.01 < changed.mean() < 0.5
    # The face in this 512 px photo is far larger than a 32 px chip: auto picks the largest factor.
    rc, text = run(capsys, tiny_checkpoint, tmp_path / 'auto', '--input', str(src), '--align_face',
                   '--upscale', 'auto', '--upscaler', 'lanczos')
    assert rc == 0, text
    assert cv2.imread(str(tmp_path / 'auto' / 'grace_hopper.png')).shape == (128, 128, 3)


def test_upscale_flag_needs_a_phase_that_writes_images(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(['--phase', 'train', '--upscale', '2'])
    assert '--upscale enlarges translations and images: it needs --phase test, upscale or serve' in capsys.readouterr().err
    assert cli.parse_args(['--phase', 'serve', '--upscale', '4']).upscale == 4
    with pytest.raises(SystemExit):
        cli.parse_args(['--phase', 'serve', '--upscale', 'auto'])
    assert '--phase serve takes --upscale 2 or 4' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse_args(['--phase', 'test', '--upscale', 'auto'])
    assert '--upscale auto enlarges each face to its size in the photo: it needs --input PATH' in capsys.readouterr().err


def test_control_characters_of_file_names_never_reach_the_console(tmp_path, capsys, tiny_checkpoint):
    """ESC and BEL in a photo's, a folder's or a pattern's name are printed escaped, in
    messages and in warnings (the figure's title once reached matplotlib's "Glyph missing"
    warning raw)."""
    import warnings
    rng = np.random.default_rng(3)
    folder = tmp_path / 'in'
    folder.mkdir()
    bad = 'a\x1b[31mred\x07'
    cv2.imwrite(str(folder / (bad + '.png')), rng.integers(0, 255, (60, 60, 3), dtype=np.uint8))
    runs = [('--input', str(folder), '--result_dir', str(tmp_path / ('out' + bad))),                # figure title
            ('--input', str(folder), '--align_face', '--no_face', 'center'),                      # no-face notice
            ('--input', str(folder), '--align_face'),                                             # no-face error
            ('--input', str(tmp_path / ('nothing' + bad + '*.png'))),                             # no match
            ('--input', str(folder), '--result_dir', str(folder))]                                # result_dir = input's
    for argv in runs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            rc, text = run(capsys, tiny_checkpoint, tmp_path / 'o', *argv)
        text += ''.join(str(w.message) for w in caught)
        assert '\x1b' not in text and '\x07' not in text, (argv, text)
        assert '\\x1b[31mred\\x07' in text or rc == 0, (argv, text)
