"""The Python API (ugatit.load, Model.translate; docs/python.md) and the `ugatit` command."""

import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading

import cv2
import matplotlib.cbook
import numpy as np
import pytest
from PIL import Image

import main
import ugatit
from tests.support import ROOT, TINY_MODEL, child_environment
from ugatit import cli
from ugatit.infer.translator import save_random_generators

PORTRAIT = os.path.join(ROOT, 'docs', 'photos', 'eileen_collins.jpg')


@pytest.fixture(scope='module')
def tiny_prefix(tmp_path_factory):
    """A random-weight checkpoint of the tiny light model (32 px), its flags file beside it."""
    folder = str(tmp_path_factory.mktemp('ckpt'))
    return save_random_generators(cli.parse_config(['--phase', 'test', '--checkpoint_dir', folder] + TINY_MODEL), 7)


@pytest.fixture(scope='module')
def model(tiny_prefix):
    """The tiny model, its translations not enlarged (upscale=1): 32 px."""
    with ugatit.load(tiny_prefix, grappler=False, upscale=1) as loaded:
        yield loaded


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    """PNG files (lossless, so a file and its pixels translate alike): a colour face, the same
    in grey and with an alpha channel, and a text file."""
    folder = tmp_path_factory.mktemp('photos')
    face = cv2.imread(matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))
    paths = {name: str(folder / (name + '.png')) for name in ('face', 'grey', 'rgba')}
    cv2.imwrite(paths['face'], face)
    cv2.imwrite(paths['grey'], cv2.cvtColor(face, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(paths['rgba'], np.dstack([face, np.linspace(0, 255, face.shape[1], dtype=np.uint8)[None, :].repeat(face.shape[0], 0)]))
    paths['text'] = str(folder / 'notes.jpg')
    with open(paths['text'], 'w') as f:
        f.write('not an image')
    return paths


def pixels(image):
    return np.asarray(image)


def read_png(path):
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_import_loads_no_tensorflow():
    code = "import sys, ugatit; print(sorted(m for m in ('tensorflow', 'cv2', 'numpy') if m in sys.modules))"
    done = subprocess.run([sys.executable, '-c', code], env=child_environment(), capture_output=True, text=True, check=True)
    assert done.stdout == '[]\n' and done.stderr == ''


def test_a_path_a_pil_image_and_an_array_translate_alike(model, photos):
    from_path = model.translate(photos['face'])
    assert isinstance(from_path, Image.Image) and from_path.mode == 'RGB' and from_path.size == (32, 32)
    with Image.open(photos['face']) as opened:
        from_pil = model.translate(opened)
    from_array = model.translate(read_png(photos['face']))
    assert np.array_equal(pixels(from_path), pixels(from_pil))
    assert np.array_equal(pixels(from_path), pixels(from_array))
    image, attention = model.translate(read_png(photos['face']), attention=True)
    assert np.array_equal(pixels(image), pixels(from_path)) and attention.size == (32, 32)


def test_grey_and_rgba_images(model, photos):
    face = read_png(photos['face'])
    grey = cv2.imread(photos['grey'], cv2.IMREAD_UNCHANGED)
    assert grey.ndim == 2
    expected_grey = pixels(model.translate(np.dstack([grey] * 3)))
    assert np.array_equal(pixels(model.translate(photos['grey'])), expected_grey)
    assert np.array_equal(pixels(model.translate(grey)), expected_grey)
    assert np.array_equal(pixels(model.translate(Image.fromarray(grey))), expected_grey)
    rgba = np.dstack([face, np.full(face.shape[:2], 7, np.uint8)])
    expected = pixels(model.translate(face))  # the alpha channel is dropped, as the photo phase does
    assert np.array_equal(pixels(model.translate(photos['rgba'])), expected)
    assert np.array_equal(pixels(model.translate(rgba)), expected)
    assert np.array_equal(pixels(model.translate(Image.fromarray(rgba, 'RGBA'))), expected)


def test_a_list_is_translated_in_batches(tiny_prefix, photos, model):
    images = [photos['face'], read_png(photos['grey']), Image.open(photos['rgba'])]
    singles = [pixels(model.translate(image)) for image in images]
    with ugatit.load(tiny_prefix, batch_size=2, grappler=False, upscale=1) as batched:
        results = batched.translate(images)
        calls = []
        translator = batched._translator('a2b')
        run = translator.translate
        translator.translate = lambda direction, chips: calls.append(len(chips)) or run(direction, chips)
        batched.translate(images)
    assert [r.size for r in results] == [(32, 32)] * 3
    assert calls == [2, 1]
    # oneDNN may pick other kernels for a batch of 2 on some CPUs: float round-off then turns a
    # pixel by a level (two allowed); a wrong pairing of photos and results differs far more.
    for result, single in zip(results, singles):
        assert levels_apart(pixels(result), single) <= 2
    assert levels_apart(pixels(results[0]), singles[1]) > 2
    assert levels_apart(pixels(results[1]), singles[0]) > 2


def levels_apart(image, other):
    """The largest difference of two uint8 images of one shape, in grey levels."""
    return int(np.abs(image.astype(np.int16) - other.astype(np.int16)).max())


def test_bad_inputs_raise_the_documented_error(model, photos, tmp_path):
    cases = [((photos['text'],), {}, 'not an image'),
             ((str(tmp_path / 'missing.jpg'),), {}, 'no such file'),
             ((np.zeros((16, 64, 3), np.uint8),), {}, 'too small'),
             ((np.zeros((64, 64, 2), np.uint8),), {}, 'shape'),
             ((np.zeros((64, 64), np.int64),), {}, 'pixel type'),
             ((3,), {}, 'cannot translate an object of type int'),
             (((k for k in range(3)),), {}, 'of type generator'),
             (([photos['face'], photos['text']],), {}, 'notes.jpg'),
             ((photos['face'],), {'direction': 'c2d'}, "invalid choice: 'c2d'"),
             ((photos['face'],), {'contrast': 900}, '--contrast must be in'),
             ((photos['face'],), {'result_dir': 'x'}, 'takes no option result_dir'),
             ((np.full((80, 80, 3), 90, np.uint8),), {'align_face': True}, 'no face found')]
    for args, options, text in cases:
        with pytest.raises(ugatit.UserError, match=re.escape(text)) as caught:
            model.translate(*args, **options)
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    wall = np.full((80, 80, 3), 90, np.uint8)
    assert model.translate([wall, photos['face']], align_face=True, no_face='skip')[0] is None
    assert model.translate(wall, align_face=True, no_face='center').size == (32, 32)


def test_load_errors(tiny_prefix, tmp_path):
    for args, flags, text in [(('no/such/folder',), {}, 'no such checkpoint folder or prefix'),
                              (('selfie2anime',), {'checkpoint_dir': str(tmp_path)}, 'no checkpoint found'),
                              ((tiny_prefix,), {'result_dir': 'out'}, 'load\\(\\) takes no result_dir'),
                              ((tiny_prefix,), {'batch_size': 0}, '--batch_size must be >= 1'),
                              ((tiny_prefix,), {'img_size': 64}, 'img_size')]:
        with pytest.raises(ugatit.UserError, match=text):
            ugatit.load(*args, **flags)


def test_options_equal_the_photo_phase_files(model, tiny_prefix, tmp_path, capsys):
    photo = tmp_path / 'grace_hopper.jpg'
    shutil.copy(matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False), photo)
    with ugatit.load(tiny_prefix, grappler=False) as defaults:  # enlarged as the photo phase does by default
        translated = defaults.translate(str(photo))
    assert main.main(['--phase', 'test', '--checkpoint', tiny_prefix, '--grappler', 'false', '--input', str(photo),
                      '--result_dir', str(tmp_path / 'defaults')]) == 0
    assert np.array_equal(pixels(translated), read_png(tmp_path / 'defaults' / 'grace_hopper.png'))
    assert translated.size == (128, 128)
    options = dict(align_face=True, contrast=20, upscale=2, upscaler='lanczos')
    for out, paste_back in (('faces', False), ('pasted', True)):
        assert main.main(['--phase', 'test', '--checkpoint', tiny_prefix, '--grappler', 'false', '--input', str(photo),
                          '--result_dir', str(tmp_path / out), '--paste_back', str(paste_back)] +
                         ['--%s=%s' % item for item in options.items()]) == 0
        image, attention = model.translate(str(photo), paste_back=paste_back, attention=True, **options)
        written = tmp_path / out / ('pasted' if paste_back else '') / 'grace_hopper.png'
        assert np.array_equal(pixels(image), read_png(written)), out
        assert np.array_equal(pixels(attention), read_png(tmp_path / out / 'attention' / 'grace_hopper.png'))
    assert image.size == Image.open(photo).size and model.translate(str(photo), **options).size == (64, 64)
    capsys.readouterr()


def test_flip_average_is_a_load_flag_equal_to_the_photo_phase(model, tiny_prefix, photos, tmp_path):
    """ugatit.load(..., flip_average=True) writes what main.py --flip_average true writes, not
    the plain translation; given to translate() it is refused with where it belongs."""
    with ugatit.load(tiny_prefix, grappler=False, upscale=1, flip_average=True) as averaged:
        translated = averaged.translate(photos['face'])
    assert main.main(['--phase', 'test', '--checkpoint', tiny_prefix, '--grappler', 'false', '--input', photos['face'],
                      '--upscale', '1', '--flip_average', 'true', '--result_dir', str(tmp_path)]) == 0
    assert np.array_equal(pixels(translated), read_png(tmp_path / 'face.png'))
    assert not np.array_equal(pixels(translated), pixels(model.translate(photos['face'])))
    with pytest.raises(ugatit.UserError, match=r'flip_average is fixed when the model is built: give it to ugatit.load'):
        model.translate(photos['face'], flip_average=True)


def test_two_threads_translate_at_once(model, photos):
    inputs = [photos['face'], read_png(photos['grey'])]
    expected = [pixels(model.translate(image, align_face=True, upscale=2, upscaler='lanczos')) for image in inputs]
    results, errors = {}, []

    def work(k):
        try:
            results[k] = [pixels(model.translate(inputs[k], align_face=True, upscale=2, upscaler='lanczos'))
                          for _ in range(4)]
        except Exception as exc:  # reported by the test thread
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for k in range(2):
        assert all(np.array_equal(r, expected[k]) for r in results[k])


def test_close_closes_the_tensorflow_sessions(tiny_prefix, photos):
    with ugatit.load(tiny_prefix, grappler=False) as model:
        model.translate(photos['face'], direction='b2a')
        sessions = [t.session for t in model._translators.values()]
    assert len(sessions) == 2 and all(s._closed for s in sessions)
    with pytest.raises(ugatit.UserError, match='closed'):
        model.translate(photos['face'])
    model.close()  # twice: harmless


# --- a fresh interpreter, a Jupyter kernel, the console script ---------------------------------------

THREE_LINES = textwrap.dedent('''\
    import ugatit
    model = ugatit.load()
    anime = model.translate('selfie.jpg', align_face=True, paste_back=True)
''')


def user_environment():
    """The environment of a user's Python: the project importable, no TensorFlow log setting."""
    env = child_environment()
    env.pop('TF_CPP_MIN_LOG_LEVEL', None)
    return env


def test_the_three_lines_print_nothing_and_equal_the_photo_phase(tmp_path):
    """In a fresh interpreter with no checkpoint of its own (so the shipped model), the API's
    result equals the file of `main.py --phase test --input` with the same options."""
    shutil.copy(PORTRAIT, tmp_path / 'selfie.jpg')
    code = THREE_LINES + "anime.save('api.png')\n"
    done = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=user_environment(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and done.stdout == '' and done.stderr == '', done.stdout + done.stderr
    subprocess.run([sys.executable, os.path.join(ROOT, 'main.py'), '--phase', 'test', '--input', 'selfie.jpg',
                    '--align_face', '--paste_back', '--result_dir', 'out'], cwd=tmp_path, env=user_environment(),
                   capture_output=True, check=True, timeout=600)
    assert np.array_equal(read_png(tmp_path / 'api.png'), read_png(tmp_path / 'out' / 'pasted' / 'selfie.png'))


def test_the_three_lines_in_a_jupyter_kernel(tmp_path):
    if os.environ.get('CI') != 'true':
        pytest.importorskip('jupyter_client', reason='ipykernel (requirements.txt) is not installed')
    from jupyter_client.manager import start_new_kernel
    shutil.copy(PORTRAIT, tmp_path / 'selfie.jpg')
    manager, client = start_new_kernel(kernel_name='python3', cwd=str(tmp_path), env=user_environment())
    outputs = []
    try:
        reply = client.execute_interactive(THREE_LINES + 'anime', timeout=600, output_hook=outputs.append)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply['content']['status'] == 'ok', reply['content']
    streams = [m['content']['text'] for m in outputs if m['msg_type'] == 'stream']
    results = [m['content']['data'] for m in outputs if m['msg_type'] == 'execute_result']
    assert streams == [] and len(results) == 1 and 'image/png' in results[0], outputs


def test_pip_install_puts_the_ugatit_command_on_path(tmp_path):
    """`pip install --no-deps -e .` (make venv) in a new environment that sees this one's
    packages (pip, setuptools, the dependencies) gives bin/ugatit, which is main.py."""
    import site
    import venv
    venv.create(tmp_path / 'env', with_pip=False)
    python = tmp_path / 'env' / 'bin' / 'python'
    packages = subprocess.run([python, '-c', 'import site; print(site.getsitepackages()[0])'],
                              capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(packages, 'outer.pth'), 'w') as f:
        f.write(site.getsitepackages()[0] + '\n')
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    env.pop('PYTHONPATH', None)
    subprocess.run([python, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation', '--no-index',
                    '-e', ROOT], env=env, capture_output=True, check=True, timeout=300)
    done = subprocess.run([tmp_path / 'env' / 'bin' / 'ugatit', '--help'], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.startswith('usage: ugatit') and '--phase' in done.stdout
    where = subprocess.run([python, '-c', 'import ugatit; print(ugatit.__file__)'], env=env, capture_output=True,
                           text=True, check=True).stdout.strip()
    assert where == os.path.join(ROOT, 'ugatit', '__init__.py')
