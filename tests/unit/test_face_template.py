"""The face template (ugatit/infer/face_template.py): measured from faces, applied to photos, the
reflected fill past a photo's edges, paste-back of template chips, and the template files."""

import json
import os

import cv2
import numpy as np
import pytest

import utils
from tests.support import shared_path
from ugatit.benchmarks.crop_study import ncc
from ugatit.infer import face_template as T
from ugatit.infer import faces


def test_similarity_transform_recovers_rotation_scale_and_shift():
    angle, scale, shift = np.radians(12.0), 1.3, np.array([7.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.array([[10, 20], [40, 22], [70, 18], [95, 25], [52, 60]], np.float64)
    m = T.similarity_transform(src, src @ rot.T + shift)
    np.testing.assert_allclose(m, np.hstack([rot, shift[:, None]]), atol=1e-9)
    # Negative control: a shear is no similarity, so its points are not met exactly.
    sheared = src @ np.array([[1.0, 0.4], [0.0, 1.0]]).T
    m = T.similarity_transform(src, sheared)
    assert np.abs(faces.apply_transform(m, src) - sheared).max() > 1.0


@pytest.fixture(scope='module')
def aligner():
    pytest.importorskip('dlib')
    return faces.FaceAligner()


@pytest.fixture(scope='module')
def mini_template(aligner):
    """The template of 60 training selfies of the real selfie2anime sample."""
    folder = shared_path('data', 'selfie2anime-mini', 'trainA')
    paths = [os.path.join(folder, n) for n in sorted(os.listdir(folder))[:60]]
    figures = T.measure(paths, aligner)
    assert figures['faces'] >= 50 and 3 < figures['keep_roll'] < 30
    return T.FaceTemplate(np.array(figures['landmarks']), keep_roll=figures['keep_roll'])


def test_a_training_like_selfie_chip_is_that_selfie(aligner, mini_template):
    """Held-out selfies (never measured) cut with the template are close to themselves; dlib's
    chip of the original demo (padding 0.65) is not: it frames the face far wider, in black;
    nor is the upright template chip (no roll kept) as close."""
    folder = shared_path('data', 'selfie2anime-mini', 'testA')
    templated = faces.FaceAligner(template=mini_template)
    upright = faces.FaceAligner(template=T.FaceTemplate(mini_template.landmarks, keep_roll=0.0))
    ncc_template, ncc_dlib, ncc_upright, black = [], [], [], []
    for name in sorted(os.listdir(folder))[:25]:
        selfie = utils.read_image_rgb(os.path.join(folder, name))
        found = aligner.detect(selfie)
        if not found:
            continue
        chip, _ = templated.chip(selfie, found[0], size=selfie.shape[0])
        ncc_template.append(ncc(chip, selfie))
        black.append(float(np.mean(chip.max(axis=2) == 0)))
        dlib_chip = aligner._dlib.get_face_chip(selfie, aligner._shape(found[0]), size=selfie.shape[0], padding=0.65)
        ncc_dlib.append(ncc(dlib_chip, selfie))
        ncc_upright.append(ncc(upright.chip(selfie, found[0], size=selfie.shape[0])[0], selfie))
    assert len(ncc_template) >= 20
    assert np.median(ncc_template) >= 0.7, np.median(ncc_template)
    assert np.median(black) <= 0.02
    assert np.median(ncc_dlib) < np.median(ncc_template) - 0.2, (np.median(ncc_dlib), np.median(ncc_template))
    assert np.median(ncc_upright) < np.median(ncc_template), (np.median(ncc_upright), np.median(ncc_template))


def test_a_crop_past_the_edges_is_filled_from_the_photo():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (80, 120, 3), dtype=np.uint8)
    photo = cv2.GaussianBlur(photo, (0, 0), 2.0)
    # A chip twice the photo's height, centred on its top-left corner: 3/4 of it lies outside.
    transform = np.array([[1.0, 0.0, 40.0], [0.0, 1.0, 40.0]])
    chip = faces.warp_chip(photo, transform, 80)
    # Mirrored about the photo's edges (cv2's reflect-101): chip pixel (u, v) shows photo (|u-40|, |v-40|).
    v, u = np.mgrid[0:80, 0:80]
    np.testing.assert_array_equal(chip, photo[np.abs(v - 40), np.abs(u - 40)])
    # No constant colour: the outside parts vary as much as the photo does.
    assert chip[:40, :40].std() > 0.5 * photo.std()
    # Negative control: the black fill of a constant border fails the same check.
    black = cv2.warpAffine(photo, transform, (80, 80), borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    assert black[:40, :40].std() == 0


def test_a_large_photo_is_shrunk_smoothly_not_aliased():
    # Fine stripes a 16x shrink cannot show: an area shrink makes them flat grey, plain
    # bilinear sampling picks a few stripes and aliases.
    stripes = np.zeros((1024, 1024, 3), np.uint8)
    stripes[:, ::2] = 255
    transform = np.array([[1 / 16.0, 0, 0], [0, 1 / 16.0, 0]])
    chip = faces.warp_chip(stripes, transform, 64)
    assert chip[8:56, 8:56].std() < 3 and abs(chip[8:56, 8:56].mean() - 127.5) < 3
    aliased = cv2.warpAffine(stripes, transform, (64, 64), flags=cv2.INTER_LINEAR)
    assert aliased[8:56, 8:56].std() > 20 or abs(aliased[8:56, 8:56].mean() - 127.5) > 20


def test_paste_back_of_a_template_chip_round_trips(aligner, mini_template):
    import matplotlib.cbook as cbook
    path = cbook.get_sample_data('grace_hopper.jpg')
    photo = cv2.GaussianBlur(utils.read_image_rgb(getattr(path, 'name', path)), (0, 0), 1.5)
    face = aligner.detect(photo)[0]
    templated = faces.FaceAligner(template=mini_template)
    chip, transform = templated.chip(photo, face, size=256)
    l, t, r, b = face.box
    errors = []
    for dx in (0.0, 0.5):  # the true transform, then one off by half a chip pixel
        shifted = transform.copy()
        shifted[0, 2] += dx
        back = faces.paste_back(photo, chip, shifted)
        errors.append(np.abs(back[t:b, l:r].astype(int) - photo[t:b, l:r]).mean())
    assert errors[0] < 1.5 and errors[1] > 1.5 * errors[0], errors


def test_template_files(tmp_path):
    shipped = T.load_template(T.DEFAULT_TEMPLATE)
    assert shipped.landmarks.shape == (5, 2) and np.all((shipped.landmarks > 0) & (shipped.landmarks < 1))
    # A checkpoint folder without its own template gets the shipped one; with one, its own.
    prefix = str(tmp_path / 'UGATIT_light.model-10')
    assert T.template_for_checkpoint(prefix).source == T.DEFAULT_TEMPLATE
    # No checkpoint: the shipped one, never a file of the working folder.
    (tmp_path / 'cwd').mkdir()
    (tmp_path / 'cwd' / T.TEMPLATE_FILE).write_text(json.dumps({'landmarks': np.full((5, 2), 0.1).tolist()}))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path / 'cwd')
        assert T.template_for_checkpoint(None).source == T.DEFAULT_TEMPLATE
    own = np.full((5, 2), 0.5)
    (tmp_path / T.TEMPLATE_FILE).write_text(json.dumps({'landmarks': own.tolist()}))
    assert np.array_equal(T.template_for_checkpoint(prefix).landmarks, own)
    assert T.template_for_checkpoint(str(tmp_path)).source == str(tmp_path / T.TEMPLATE_FILE)
    (tmp_path / T.TEMPLATE_FILE).write_text('{"landmarks": [[0.5, 0.5]]}')
    with pytest.raises(ValueError, match='face_template.json.*5 \\[x, y\\] pairs'):
        T.template_for_checkpoint(prefix)
    (tmp_path / T.TEMPLATE_FILE).write_text('not json')
    with pytest.raises(ValueError, match='face_template.json is not a face template'):
        T.template_for_checkpoint(prefix)
