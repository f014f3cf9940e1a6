"""Generated test clips and the video mode's measurements (docs/video.md).

    python -m ugatit.benchmarks.video_bench jitter PHOTO          # chip motion with and without smoothing
    python -m ugatit.benchmarks.video_bench speed PHOTO [--size 640x360 --frames 40 --align_face 1 --model 1]
        [--flags "--ch 16 --flip_average true"]                  # more main.py flags for the video mode

moving_photo_clip() turns one photo into a clip in which it slowly drifts, grows and turns,
and returns each frame's exact warp, so that the true motion of a face is known.
"""

import argparse
import math
import os
import tempfile
import time

import cv2
import numpy as np

from ugatit.errors import UserError


def moving_photo_clip(photo, width, height, frames, fps=10.0, drift=0.08, zoom=0.1, turn=6.0, fill=0.9):
    """Frames of `photo` (RGB uint8) moving smoothly over `frames` frames of width x height.

    The photo is scaled to `fill` of the frame height, centred, then over the clip drifts
    sideways by `drift` of the width (a half sine period), grows by `zoom` and turns by
    `turn` degrees. Returns (frames: list of RGB uint8 [height, width, 3], warps: list of
    2x3 float64 photo -> frame affines)."""
    h, w = photo.shape[:2]
    base = fill * height / float(h)
    out, warps = [], []
    for i in range(frames):
        t = i / max(1.0, frames - 1.0)
        scale = base * (1 + zoom * t)
        angle = math.radians(turn * t)
        centre = (width / 2.0 + drift * width * math.sin(math.pi * (t - 0.5)), height / 2.0)
        c, s = scale * math.cos(angle), scale * math.sin(angle)
        warp = np.array([[c, -s, 0.0], [s, c, 0.0]])
        warp[:, 2] = np.array(centre) - warp[:, :2] @ np.array([w / 2.0, h / 2.0])
        out.append(cv2.warpAffine(photo, warp, (width, height), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE))
        warps.append(warp)
    return out, warps


def chip_jitter(transforms, size):
    """(mean frame-to-frame motion of the chip corners in pixels, mean size of its change from
    one frame to the next: the second difference, which is ~0 for smooth motion and grows with
    jitter) over the frames where a face was found in this and the neighbouring frames."""
    from ugatit.apps.smoothing import transform_motion
    runs, run = [], []
    for m in transforms + [None]:
        if m is None:
            if len(run) >= 3:
                runs.append(run)
            run = []
        else:
            run.append(m)
    motion = np.concatenate([transform_motion(r, size) for r in runs])
    corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], np.float64)
    second = []
    for r in runs:
        pts = np.array([corners @ np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2, :2].T
                        + np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2, 2] for m in r])
        second.append(np.linalg.norm(np.diff(pts, n=2, axis=0), axis=2).mean(axis=1))
    return float(motion.mean()), float(np.concatenate(second).mean())


def region_difference(frames, transforms, size):
    """Mean absolute difference (0..255) between consecutive output frames, inside the union of
    the two frames' chip footprints: how much the pasted face flickers."""
    diffs = []
    for k in range(1, len(frames)):
        if transforms[k] is None or transforms[k - 1] is None:
            continue
        mask = np.zeros(frames[k].shape[:2], np.uint8)
        for m in (transforms[k - 1], transforms[k]):
            inv = cv2.invertAffineTransform(np.asarray(m, np.float64))
            cv2.fillConvexPoly(mask, np.round(cv2.transform(
                np.array([[[0, 0]], [[size - 1, 0]], [[size - 1, size - 1]], [[0, size - 1]]], np.float64), inv)
            ).astype(np.int32).reshape(-1, 2), 1)
        diff = np.abs(frames[k].astype(np.int16) - frames[k - 1].astype(np.int16)).mean(axis=2)
        diffs.append(diff[mask > 0].mean())
    return float(np.mean(diffs))


def pattern_translator(size):
    """A stand-in translation for measurements: half chip, half a fixed pattern (rings and
    stripes) drawn in chip coordinates, so that the pasted face moves exactly as the chip's
    transform does (as a model's stylised face does), which plain chips would hide."""
    y, x = np.mgrid[0:size, 0:size] / float(size)
    r = np.hypot(x - 0.5, y - 0.5)
    pattern = np.stack([127 + 127 * np.sin(40 * r), 127 + 127 * np.sin(25 * x), 127 + 127 * np.sin(25 * y)], axis=2)
    return lambda chips: (0.5 * chips + 0.5 * pattern[None]).astype(np.uint8)


def track_clip(config, frames, fps, smooth, translate=None):
    """Run the video mode's FrameProcessor over frames; returns (output frames, transforms,
    faces per frame). translate defaults to the identity (the chip pasted back unchanged)."""
    from ugatit.apps.video import FrameProcessor, make_aligner
    processor = FrameProcessor(config, translate or (lambda chips: chips), make_aligner(config), smooth=smooth)
    out = processor(frames, [k / float(fps) for k in range(len(frames))])
    return out, processor.transforms, processor.faces_per_frame


def _config(img_size, *extra):
    from ugatit import cli
    return cli.parse_config(['--phase', 'test', '--light', 'true', '--img_size', str(img_size),
                              '--input', 'clip.mp4', '--align_face'] + list(extra))


def jitter_report(photo_path, width=320, height=240, frames=40, fps=10.0):
    """Print the jitter figures with and without smoothing, and of the true motion."""
    from utils import read_image_rgb
    from ugatit.infer import faces as F
    from ugatit.apps.video import make_aligner
    config = _config(256)
    photo = read_image_rgb(photo_path)
    clip, warps = moving_photo_clip(photo, width, height, frames, fps)
    aligner = make_aligner(config)
    faces = aligner.detect(photo)
    if not faces:   # the true motion is that of a face: nothing to measure without one
        raise UserError('%s: no face found; the jitter report needs a photo with a face' % os.path.basename(photo_path))
    face = faces[0]
    base = aligner.chip_transform(face, 256, config.photo.face_padding)
    # The chip of the face moved exactly as the photo was: base composed with the inverse warp.
    truth = [np.vstack([base, [0, 0, 1]]).dot(np.linalg.inv(np.vstack([w, [0, 0, 1]])))[:2] for w in warps]
    print('clip: %d frames %dx%d at %g fps from %s' % (frames, width, height, fps, os.path.basename(photo_path)))
    print('%-22s %14s %16s %18s %16s' % ('', 'motion px/frame', 'jitter px/frame^2', 'error vs truth px', 'region diff /255'))
    for name, smooth in (('raw (per frame)', False), ('One-Euro smoothed', True), ('true motion', None)):
        if smooth is None:
            transforms = truth
            out = [F.paste_back(f, pattern_translator(256)(F.warp_chip(f, m, 256)[None])[0], m) for f, m in zip(clip, truth)]
        else:
            out, transforms, _ = track_clip(config, clip, fps, smooth, pattern_translator(256))
        motion, second = chip_jitter(list(transforms), 256)
        error = np.mean([np.abs(F.apply_transform(np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2], [[128, 128]])
                                - F.apply_transform(np.linalg.inv(np.vstack([t, [0, 0, 1]]))[:2], [[128, 128]])).sum()
                         for m, t in zip(transforms, truth) if m is not None])
        print('%-22s %14.3f %16.3f %18.3f %16.2f' % (name, motion, second, error, region_difference(out, transforms, 256)))


def speed_report(photo_path, width, height, frames, img_size, align, batch_size, model=True, extra_flags=()):
    """Time the whole video mode on a generated clip with a random-weight light model (model
    False: chips pasted back untranslated, which times decoding, faces and encoding alone);
    extra_flags: more main.py flags (architecture, --flip_average, ...)."""
    from ugatit.infer.translator import save_random_generators
    from utils import read_image_rgb
    from ugatit.apps.video import run_video
    from ugatit.apps.video_io import write_test_clip
    clip, _ = moving_photo_clip(read_image_rgb(photo_path), width, height, frames)
    with tempfile.TemporaryDirectory() as work:     # the clip, random weights and output go with it
        path = os.path.join(work, 'clip.mp4')
        write_test_clip(path, clip, fps=10, tone_hz=440)
        flags = ['--checkpoint_dir', os.path.join(work, 'ckpt'), '--result_dir', os.path.join(work, 'out'),
                 '--batch_size', str(batch_size)] + (['--align_face'] if align else []) + list(extra_flags)
        from ugatit import cli
        config = cli.parse_config(['--phase', 'test', '--light', 'true', '--img_size', str(img_size),
                                   '--input', path] + flags, exit_on_error=False)
        if model:
            save_random_generators(config, 1)
        start = time.perf_counter()
        run_video(config, translate=None if model else (lambda chips: chips))
        seconds = time.perf_counter() - start
    print('%d frames %dx%d, img_size %d, align_face %s, batch %d, model %s, flags %r: %.1f s, %.2f frames/s'
          % (frames, width, height, img_size, align, batch_size, model, ' '.join(extra_flags), seconds,
             frames / seconds))


def frame_size(text):
    """'WIDTHxHEIGHT' -> (width, height), each at least 32 pixels (argparse type)."""
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not WIDTHxHEIGHT (e.g. 640x360)' % text)
    if min(width, height) < 32:
        raise argparse.ArgumentTypeError('%r: each side must be at least 32 pixels' % text)
    return width, height


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m ugatit.benchmarks.video_bench', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('what', choices=('jitter', 'speed'))
    parser.add_argument('photo')
    parser.add_argument('--size', type=frame_size, default=(640, 360), help='WIDTHxHEIGHT (default 640x360)')
    parser.add_argument('--frames', type=int, default=40)
    parser.add_argument('--img_size', type=int, default=256)
    parser.add_argument('--align_face', type=int, default=1)
    parser.add_argument('--batch_size', type=int, default=4)
    parser.add_argument('--model', type=int, default=1, help='0: no model (time the rest)')
    parser.add_argument('--flags', default='', help='more main.py flags, one quoted string')
    args = parser.parse_args(argv)
    if args.frames < 2 or args.batch_size < 1:
        parser.error('--frames must be at least 2 and --batch_size at least 1')
    from utils import ImageError
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    try:
        if args.what == 'jitter':
            jitter_report(args.photo)
        else:
            speed_report(args.photo, args.size[0], args.size[1], args.frames, args.img_size, bool(args.align_face),
                         args.batch_size, bool(args.model), args.flags.split())
    except (ImageError, UserError) as exc:   # a photo, flag or face the run cannot use: named, no traceback
        parser.exit(1, 'video_bench: error: %s\n' % exc)
    return 0


if __name__ == '__main__':
    main()
