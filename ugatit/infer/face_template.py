"""The face framing a model was trained on: where the 5 landmarks sit in its training images.

A template is the median position of each of dlib's 5 landmarks (the two corners of each eye,
then the base of the nose) over a model's training photos, as fractions of the image side:
a landmark at pixel (x, y) of an S x S image is at ((x + 0.5) / S, (y + 0.5) / S). The aligned
chip of a photo is the similarity transform (rotation, uniform scale, shift) that best puts the
photo's landmarks where the template has them, so the chip of a training-like photo is that
photo and the model sees the framing it learnt. The head's roll is kept up to the roll the
training photos show (keep_roll: the 75th percentile of their |roll|; selfies are seldom
upright, and a model trained on them draws tilted faces as well as upright ones); only the roll
beyond it is turned back.

    python -m ugatit.infer.face_template dataset/selfie2anime/trainA --out face_template.json

measures one. A model carries its own as `face_template.json` beside its checkpoint; models
without one (the released selfie2anime checkpoints, the shipped model) use the selfie2anime
template shipped in ugatit/assets/ (measured on the 3,300 training selfies of the project's
split, docs/photos.md).
"""

import argparse
import dataclasses
import json
import os
import sys

import numpy as np

TEMPLATE_FILE = 'face_template.json'
DEFAULT_TEMPLATE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'assets',
                                'face_template_selfie2anime.json')


@dataclasses.dataclass(frozen=True)
class FaceTemplate:
    """landmarks: float64 [5, 2], (x, y) as fractions of the chip side; keep_roll: the roll in
    degrees a chip keeps from the photo (0: upright); source: where it came from."""
    landmarks: np.ndarray
    keep_roll: float = 0.0
    source: str = ''

    def points(self, size):
        """The template's landmarks in pixel coordinates of a size x size chip, float64 [5, 2]."""
        return np.asarray(self.landmarks, np.float64) * size - 0.5

    def transform(self, landmarks, size):
        """The 2x3 image -> chip affine (a similarity) that best puts `landmarks` ([5, 2] pixel
        coordinates of a photo) on the template in a size x size chip (least squares), turning
        back only the roll beyond keep_roll."""
        src, dst = np.asarray(landmarks, np.float64).reshape(-1, 2), self.points(size)
        m = similarity_transform(src, dst)
        scale, turn = np.hypot(m[0, 0], m[1, 0]), np.arctan2(m[1, 0], m[0, 0])
        keep = np.radians(self.keep_roll)
        turn -= np.clip(turn, -keep, keep)  # the photo's roll up to keep_roll stays
        linear = scale * np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
        shift = (dst - src @ linear.T).mean(axis=0)  # least squares for this rotation and scale
        return np.hstack([linear, shift[:, None]])


def similarity_transform(src, dst):
    """The 2x3 float64 affine [[a, -b, tx], [b, a, ty]] minimising sum |M src_i - dst_i|^2.

    src, dst: [K, 2] points (K >= 2). Rotation, uniform scale and shift only: no reflection,
    no shear, so a face is never mirrored or squashed."""
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    x, y = src[:, 0], src[:, 1]
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    # Unknowns (a, b, tx, ty): u = a x - b y + tx, v = b x + a y + ty.
    rows = np.concatenate([np.stack([x, -y, ones, zeros], 1), np.stack([y, x, zeros, ones], 1)])
    a, b, tx, ty = np.linalg.lstsq(rows, np.concatenate([dst[:, 0], dst[:, 1]]), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]], np.float64)


def load_template(path):
    """The FaceTemplate in the JSON file `path`; ValueError naming the file when it is not one."""
    try:
        with open(path) as f:
            data = json.load(f)
        landmarks = np.asarray(data['landmarks'], np.float64)
        keep_roll = float(data.get('keep_roll', 0.0))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError('%s is not a face template (%s): measure one with python -m ugatit.infer.face_template'
                         % (path, exc))
    if landmarks.shape != (5, 2) or not np.all(np.isfinite(landmarks)):
        raise ValueError('%s: "landmarks" must be 5 [x, y] pairs of numbers, got shape %s' % (path, landmarks.shape))
    if not 0 <= keep_roll <= 90:
        raise ValueError('%s: "keep_roll" must be an angle in degrees from 0 to 90, got %s' % (path, keep_roll))
    return FaceTemplate(landmarks, keep_roll=keep_roll, source=path)


def template_for_checkpoint(prefix):
    """The template of the model whose checkpoint prefix (or folder) is `prefix`: the
    face_template.json beside it, else (and when prefix is None) the shipped selfie2anime one."""
    if not prefix:
        return load_template(DEFAULT_TEMPLATE)
    own = os.path.join(prefix if os.path.isdir(prefix) else os.path.dirname(prefix), TEMPLATE_FILE)
    return load_template(own if os.path.isfile(own) else DEFAULT_TEMPLATE)


def landmark_fractions(aligner, image):
    """The 5 landmarks of the largest face in an RGB uint8 [S, S, 3] image as fractions of its
    side (float64 [5, 2]), or None when no face is found."""
    found = aligner.detect(image)
    if not found:
        return None
    side = np.array([image.shape[1], image.shape[0]], np.float64)
    return (np.asarray(found[0].landmarks, np.float64) + 0.5) / side


def measure(paths, aligner, progress=None):
    """The template of the faces in the image files `paths`, and its figures: a dict with
    landmarks (the per-coordinate medians, [5, 2]), spread (the per-coordinate median absolute
    deviations), keep_roll (the 75th percentile of the faces' |roll| against the medians, in
    degrees), faces (how many images gave a face) and images."""
    from utils import read_image_rgb
    found = []
    for path in (progress(paths) if progress else paths):
        fractions = landmark_fractions(aligner, read_image_rgb(path))
        if fractions is not None:
            found.append(fractions)
    if not found:
        raise ValueError('no face found in any of the %d images' % len(paths))
    stack = np.stack(found)
    median = np.median(stack, axis=0)
    rolls = [np.degrees(np.arctan2(m[1, 0], m[0, 0])) for m in (similarity_transform(f, median) for f in stack)]
    return {'landmarks': median.round(5).tolist(),
            'spread': np.median(np.abs(stack - median), axis=0).round(5).tolist(),
            'keep_roll': round(float(np.percentile(np.abs(rolls), 75)), 1),
            'faces': len(found), 'images': len(paths)}


def main(argv=None):
    """Measure a template from a folder of training photos and write it as JSON."""
    parser = argparse.ArgumentParser(description='Measure the face template of a folder of training photos.')
    parser.add_argument('folder', help='the training photos (e.g. dataset/selfie2anime/trainA)')
    parser.add_argument('--out', required=True, help='the JSON file to write (face_template.json beside a checkpoint)')
    parser.add_argument('--limit', type=int, default=0, help='use the first N files by name only (0: all)')
    args = parser.parse_args(argv)
    from tqdm import tqdm
    from ugatit.infer.faces import FaceAligner
    from utils import expand_inputs, write_atomic
    paths = sorted(expand_inputs(args.folder))[:args.limit or None]
    if not paths:
        sys.exit('error: %s holds no image' % args.folder)
    figures = measure(paths, FaceAligner(), progress=lambda p: tqdm(p, unit='img', desc='landmarks'))
    figures['measured_on'] = os.path.basename(os.path.normpath(args.folder))
    write_atomic(args.out, (json.dumps(figures, indent=1) + '\n').encode())
    print('%d of %d images gave a face; template written to %s' % (figures['faces'], figures['images'], args.out))


if __name__ == '__main__':
    main()
