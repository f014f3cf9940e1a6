"""Face detection, alignment chips, paste-back, centre crop and contrast (ugatit/infer/faces.py)."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.support import ROOT, shared_path

import utils
from ugatit.infer import faces

CHIP = 256


def _grace_hopper_path():
    import matplotlib.cbook as cbook
    ref = cbook.get_sample_data('grace_hopper.jpg')
    # Older matplotlib returns an open file object, newer ones a path.
    path = getattr(ref, 'name', ref)
    if hasattr(ref, 'close'):
        ref.close()
    return str(path)


@pytest.fixture(scope='module')
def aligner():
    pytest.importorskip('dlib')
    return faces.FaceAligner()


@pytest.fixture(scope='module')
def hopper():
    return utils.read_image_rgb(_grace_hopper_path())


def _face_photo(name):
    return utils.read_image_rgb(shared_path('data', 'faces', name))


def _iou(a, b):
    ix = min(a[2], b[2]) - max(a[0], b[0]) + 1
    iy = min(a[3], b[3]) - max(a[1], b[1]) + 1
    inter = max(ix, 0) * max(iy, 0)
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)
    return inter / float(area(a) + area(b) - inter)


def test_module_imports_without_dlib_or_tensorflow():
    code = ("import sys; sys.modules['dlib'] = None; sys.modules['tensorflow'] = None; "
            "import ugatit.infer.faces as f; print(f.adjust_contrast.__name__)")
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert 'adjust_contrast' in res.stdout


def test_grace_hopper_one_face_landmarks_and_chip(aligner, hopper):
    found = aligner.detect(hopper)
    assert len(found) == 1
    face = found[0]
    left, top, right, bottom = face.box
    assert all(isinstance(v, int) for v in face.box)
    assert face.landmarks.dtype == np.float32 and face.landmarks.shape == (5, 2)
    margin = 0.1 * face.width
    x, y = face.landmarks[:, 0], face.landmarks[:, 1]
    assert np.all((x >= left - margin) & (x <= right + margin))
    assert np.all((y >= top - margin) & (y <= bottom + margin))

    chip, transform = aligner.chip(hopper, face, size=CHIP)
    assert chip.shape == (CHIP, CHIP, 3) and chip.dtype == np.uint8
    assert transform.shape == (2, 3) and transform.dtype == np.float64
    mapped = faces.apply_transform(transform, face.landmarks)
    assert np.all((mapped >= 0) & (mapped < CHIP))
    # Aligned: the eye centres are level in the chip and the nose is below them.
    eye_a, eye_b = mapped[0:2].mean(axis=0), mapped[2:4].mean(axis=0)
    assert abs(eye_a[1] - eye_b[1]) < 3
    assert mapped[4, 1] > max(eye_a[1], eye_b[1])


def test_chip_transform_reproduces_dlib_chip(aligner, hopper):
    face = aligner.detect(hopper)[0]
    chip, transform = aligner.chip(hopper, face, size=CHIP, padding=0.65)
    dlib_chip = aligner._dlib.get_face_chip(hopper, aligner._shape(face), size=CHIP, padding=0.65)
    inside = dlib_chip.max(axis=2) > 0  # dlib fills what lies past the photo with black
    diff = np.abs(dlib_chip.astype(np.int16) - chip.astype(np.int16))[inside]
    assert inside.mean() > 0.5 and diff.mean() < 3.0, (inside.mean(), diff.mean())


def test_paste_back_changes_only_the_face(aligner, hopper):
    face = aligner.detect(hopper)[0]
    chip, transform = aligner.chip(hopper, face)

    # Pasting the unchanged chip back reproduces the photo: on a slightly smoothed copy (so the
    # chip's lower resolution loses little) the round trip is close, and a transform off by half
    # a chip pixel does clearly worse, so the transform is exact.
    l, t, r, b = face.box
    region = (slice(max(t, 0), b), slice(max(l, 0), r))
    smooth = cv2.GaussianBlur(hopper, (0, 0), 1.5)
    s_chip, s_transform = aligner.chip(smooth, face)
    errors = []
    for dx in (0.0, 0.5):
        shifted = s_transform.copy()
        shifted[0, 2] += dx
        same = faces.paste_back(smooth, s_chip, shifted)
        errors.append(np.abs(same[region].astype(int) - smooth[region]).mean())
    assert errors[0] < 1.5 and errors[1] > 2 * errors[0], errors

    out = faces.paste_back(hopper, 255 - chip, transform, feather=0.1)
    assert out.shape == hopper.shape and out.dtype == np.uint8
    changed = np.any(out != hopper, axis=2)
    # Far from the face (outside the chip's footprint): exactly unchanged.
    inv = cv2.invertAffineTransform(transform)
    corners = faces.apply_transform(inv, [[0, 0], [CHIP, 0], [0, CHIP], [CHIP, CHIP]])
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
    outside = np.ones(changed.shape, bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    assert outside.any()
    assert not changed[outside].any()
    # The face itself changed strongly.
    cy, cx = (t + b) // 2, (l + r) // 2
    centre = (slice(cy - 20, cy + 20), slice(cx - 20, cx + 20))
    assert np.abs(out[centre].astype(int) - hopper[centre]).mean() > 50


def test_paste_back_resizes_other_chip_sizes(aligner, hopper):
    smooth = cv2.GaussianBlur(hopper, (0, 0), 1.5)
    face = aligner.detect(hopper)[0]
    chip, transform = aligner.chip(smooth, face, size=CHIP)
    bigger = cv2.resize(chip, (2 * CHIP, 2 * CHIP), interpolation=cv2.INTER_CUBIC)
    out = faces.paste_back(smooth, bigger, transform, chip_size=CHIP)
    assert out.shape == smooth.shape
    l, t, r, b = face.box
    assert np.abs(out[t:b, l:r].astype(int) - smooth[t:b, l:r]).mean() < 2.0


def test_large_image_is_downscaled_for_detection(aligner, hopper):
    k = 20.0 / 3.0  # 512x600 -> about 3413x4000
    big = cv2.resize(hopper, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR)
    h, w = big.shape[:2]
    assert max(h, w) > aligner.max_detect_side

    found = aligner.detect(big)
    assert len(found) == 1
    face = found[0]

    # Exactly what detection on the downscaled picture gives, scaled back to full size.
    s = aligner.max_detect_side / float(max(h, w))
    small = cv2.resize(big, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_AREA)
    ref_small = faces.FaceAligner(max_detect_side=None).detect(small)[0]
    assert np.allclose(face.box, np.array(ref_small.box) / s, atol=4)

    # And consistent with detection at normal size, scaled up.
    normal = aligner.detect(hopper)[0]
    scaled = [int(round(v * k)) for v in normal.box]
    assert _iou(face.box, scaled) > 0.6, (face.box, scaled)
    # Landmarks come from the full-resolution image and agree closely.
    assert np.abs(face.landmarks / k - normal.landmarks).max() < 0.03 * normal.width

    chip, transform = aligner.chip(big, face)
    assert chip.shape == (CHIP, CHIP, 3)
    assert np.all((faces.apply_transform(transform, face.landmarks) >= 0)
                  & (faces.apply_transform(transform, face.landmarks) < CHIP))


@pytest.mark.parametrize('name', ['obama.jpg', 'obama_small.jpg', 'biden.jpg',
                                  'alex-lacamoire.png', 'obama_partial_face.jpg'])
def test_one_face_photos(aligner, name):
    img = _face_photo(name)
    found = aligner.detect(img)
    assert len(found) == 1, name
    chip, transform = aligner.chip(img, found[0])
    assert chip.shape == (CHIP, CHIP, 3)


def test_small_photo_is_upsampled():
    assert faces._auto_upsample(240) == 1
    assert faces._auto_upsample(150) == 2
    assert faces._auto_upsample(900) == 0


def test_two_people_largest_first(aligner):
    found = aligner.detect(_face_photo('two_people.jpg'))
    assert len(found) == 2
    assert found[0].area >= found[1].area
    # Two different people: the boxes do not overlap.
    assert _iou(found[0].box, found[1].box) == 0


def test_dogs_have_no_face(aligner):
    assert aligner.detect(_face_photo('dogs_no_face.jpg')) == []


def test_explicit_upsample_is_used():
    pytest.importorskip('dlib')
    fa = faces.FaceAligner(upsample=0)
    assert fa.upsample == 0
    with pytest.raises(faces.FaceError):
        faces.FaceAligner(upsample=-1)


def test_invalid_landmarks_path(tmp_path):
    missing = str(tmp_path / 'no_such_model.dat')
    with pytest.raises(faces.FaceError) as err:
        faces.FaceAligner(landmarks_path=missing)
    assert missing in str(err.value) and '--landmarks' in str(err.value)
    assert isinstance(err.value, ValueError)

    pytest.importorskip('dlib')
    junk = tmp_path / 'junk.dat'
    junk.write_bytes(b'this is not a dlib model')
    with pytest.raises(faces.FaceError) as err:
        faces.FaceAligner(landmarks_path=str(junk))
    assert str(junk) in str(err.value) and '--landmarks' in str(err.value)


def test_detect_rejects_non_rgb(aligner):
    with pytest.raises(faces.FaceError):
        aligner.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(faces.FaceError):
        aligner.detect(np.zeros((10, 10, 3), np.float32))


def test_center_crop_shape_and_transform():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(300, 500, 3), dtype=np.uint8)
    chip, m = faces.center_crop(img, size=CHIP)
    assert chip.shape == (CHIP, CHIP, 3) and chip.dtype == np.uint8
    assert m.shape == (2, 3)
    x0 = (500 - 300) // 2
    # Outer edges of the centred square map to the chip's outer edges.
    corners = faces.apply_transform(m, [[x0 - 0.5, -0.5], [x0 + 299.5, 299.5]])
    assert np.allclose(corners, [[-0.5, -0.5], [CHIP - 0.5, CHIP - 0.5]])
    # The chip is the centre square resized.
    assert np.array_equal(chip, cv2.resize(img[:, x0:x0 + 300], (CHIP, CHIP),
                                           interpolation=cv2.INTER_AREA))

    # Paste-back of a smooth picture's centre crop leaves it (nearly) as it was, sides untouched.
    smooth = cv2.GaussianBlur(img, (0, 0), 8)
    c2, m2 = faces.center_crop(smooth, size=CHIP)
    back = faces.paste_back(smooth, c2, m2, feather=0.1)
    assert back.shape == smooth.shape
    assert np.array_equal(back[:, :x0 - 2], smooth[:, :x0 - 2])
    assert np.abs(back[50:250, x0 + 50:x0 + 250].astype(int) - smooth[50:250, x0 + 50:x0 + 250]).max() <= 2

    # Upscaling a small image works too.
    small, ms = faces.center_crop(img[:100, :120], size=CHIP)
    assert small.shape == (CHIP, CHIP, 3)
    assert np.allclose(faces.apply_transform(ms, [[10 - 0.5, -0.5]]), [[-0.5, -0.5]])


def test_adjust_contrast():
    img = np.array([[[0, 64, 127]], [[128, 200, 255]]], dtype=np.uint8)
    out = faces.adjust_contrast(img, contrast=30)
    expected = np.clip(np.rint(img.astype(float) * (30 / 127 + 1) - 30), 0, 255).astype(np.uint8)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.array_equal(out, expected)
    assert out[0, 0, 0] == 0 and out[1, 0, 2] == 255  # clipped at both ends
    assert out[0, 0, 1] == 49  # 64 * 157/127 - 30 = 49.1
    assert np.array_equal(faces.adjust_contrast(img, 0, 10), np.clip(img.astype(int) + 10, 0, 255))
    same = faces.adjust_contrast(img, 0, 0)
    assert np.array_equal(same, img) and same is not img


def test_draw_face(aligner, hopper):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    face = aligner.detect(hopper)[0]
    fig, ax = plt.subplots()
    try:
        ax.imshow(hopper)
        faces.draw_face(ax, face)
        assert len(ax.patches) == 1 and len(ax.collections) == 1
    finally:
        plt.close(fig)
