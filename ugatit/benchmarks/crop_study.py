"""How well the aligned chip of a photo matches the framing of the model's training photos.

    python -m ugatit.benchmarks.crop_study dataset/selfie2anime/testA

For each photo of a folder of training-like selfies (256 x 256 crops the model was trained on
the like of), the chip the photo mode cuts from it is compared with the photo itself: their
normalised cross-correlation (1: the same picture) and the share of the chip that is plain
black (dlib's fill past the photo's edges). Printed per framing: the face template (the
default) and dlib's chip at several paddings (0.65: the original demo's, the default before
the template). Medians over the photos with a face.
"""

import argparse
import dataclasses

import cv2
import numpy as np
from tqdm import tqdm

PADDINGS = (0.65, 0.40, 0.25)


def ncc(a, b):
    """Normalised cross-correlation of two RGB uint8 images of one shape, in grey levels."""
    a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64).ravel()
    b = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def black_share(chip):
    """The share of a chip's pixels that are exactly black."""
    return float(np.mean(chip.max(axis=2) == 0))


def framings(aligner, template):
    """{name: function(photo, face) -> chip [S, S, 3]} of the framings compared."""
    from ugatit.infer.faces import FaceAligner
    templated = FaceAligner(template=template)
    upright = FaceAligner(template=dataclasses.replace(template, keep_roll=0.0))
    out = {'template': lambda img, face: templated.chip(img, face, size=img.shape[0])[0],
           'template, upright (no roll kept)': lambda img, face: upright.chip(img, face, size=img.shape[0])[0]}
    for padding in PADDINGS:
        out['dlib padding %.2f' % padding] = (
            lambda img, face, p=padding: aligner._dlib.get_face_chip(img, aligner._shape(face), size=img.shape[0],
                                                                       padding=p))
    return out


def study(paths, template):
    """{framing: (median NCC, median black share)} and the number of photos with a face."""
    from ugatit.infer.faces import FaceAligner
    from utils import read_image_rgb
    aligner = FaceAligner()
    cuts = framings(aligner, template)
    scores = {name: [] for name in cuts}
    faces = 0
    for path in tqdm(paths, unit='img', desc='chips'):
        img = read_image_rgb(path)
        found = aligner.detect(img)
        if not found:
            continue
        faces += 1
        for name, cut in cuts.items():
            chip = cut(img, found[0])
            scores[name].append((ncc(chip, img), black_share(chip)))
    return {name: tuple(np.median(np.array(v), axis=0)) for name, v in scores.items()}, faces


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('folder', help='training-like selfies, e.g. the held-out dataset/selfie2anime/testA')
    parser.add_argument('--template', default=None, help='a face_template.json (default: the shipped selfie2anime one)')
    args = parser.parse_args(argv)
    from ugatit.infer.face_template import DEFAULT_TEMPLATE, load_template
    from utils import expand_inputs
    paths = expand_inputs(args.folder)
    results, faces = study(paths, load_template(args.template or DEFAULT_TEMPLATE))
    print('%d of %d photos with a face; medians over them:' % (faces, len(paths)))
    print('| framing | NCC chip vs photo | black share |\n|---|---:|---:|')
    for name, (corr, black) in results.items():
        print('| %s | %.3f | %.1f %% |' % (name, corr, 100 * black))


if __name__ == '__main__':
    main()
