"""The checks of the flags across each other, run once after parsing (ugatit/cli/parser.py)."""

import dataclasses
import math
import os

from ugatit.apps.video_io import is_video_path
from ugatit.config import (ModelConfig, memory_floor, min_img_size, model_flag_problems, physical_memory_bytes,
                           weights_built)
from utils import printable, size_text

# The phases that build a model of the flags (the others enlarge, download or compare files).
BUILDS_MODEL = ('train', 'test', 'export', 'eval', 'serve')


def validate(args):
    """Return a list of messages, one per invalid flag combination (empty when all is well)."""
    errors = []
    for name in ('epoch', 'iteration', 'batch_size', 'print_freq', 'save_freq', 'n_critic'):
        if getattr(args, name) < 1:
            errors.append('--%s must be >= 1 (got %s)' % (name, getattr(args, name)))
    model_problems = model_flag_problems({f.name: getattr(args, f.name) for f in dataclasses.fields(ModelConfig)})
    errors += model_problems
    for name in ('lr', 'face_padding', 'contrast', 'brightness'):
        if getattr(args, name) is not None and not math.isfinite(getattr(args, name)):
            errors.append('--%s must be a finite number (got %s)' % (name, getattr(args, name)))
    if not args.lr > 0:
        errors.append('--lr must be > 0 (got %s)' % args.lr)
    if args.decay_epoch < 0:
        errors.append('--decay_epoch must be >= 0 (got %d)' % args.decay_epoch)
    if not model_problems and args.phase in BUILDS_MODEL and args.batch_size >= 1:
        errors += _validate_memory(args)
    if not model_problems and args.phase == 'train' and args.img_size < min_img_size(args.n_dis):
        # Only training builds the discriminators; the test phase never needs them.
        errors.append('--img_size %d is too small for --n_dis %d: the global discriminator needs at least %d '
                      '(use a larger --img_size or a smaller --n_dis)' % (args.img_size, args.n_dis, min_img_size(args.n_dis)))
    for name in ('adv_weight', 'cycle_weight', 'identity_weight', 'cam_weight', 'GP_ld'):
        if getattr(args, name) < 0:
            errors.append('--%s must be >= 0 (got %d)' % (name, getattr(args, name)))
    if args.keep_every < 0 or args.save_freq >= 1 and args.keep_every % args.save_freq:
        errors.append('--keep_every must be 0 (off) or a multiple of --save_freq (got %d with --save_freq %d): '
                      'only saved steps can be kept' % (args.keep_every, args.save_freq))
    if args.towers < 1:
        errors.append('--towers must be >= 1 (got %d)' % args.towers)
    if not 0 <= args.ema_decay < 1:
        errors.append('--ema_decay must be in [0, 1): 0 is off, 0.999 a usual value (got %s)' % args.ema_decay)
    errors += _validate_diff_augment(args)
    errors += _validate_download_flags(args)
    errors += _validate_photo_flags(args)
    if not 0 <= args.port <= 65535:
        errors.append('--port must be in 0..65535 (got %d)' % args.port)
    if args.bfloat16 and args.phase == 'export':
        errors.append('--bfloat16 applies to train and test; --phase export writes float32 models '
                      '(and float16 or int8 TFLite variants)')
    errors += _validate_translation_only_flags(args)
    if args.phase != 'export' and args.format != 'savedmodel' or args.float16 and args.format != 'checkpoint':
        errors.append('--format checkpoint and --float16 (a float16 generators-only checkpoint) need --phase export '
                      '--format checkpoint')
    if args.average_with and (args.phase != 'export' or args.format != 'checkpoint'):
        errors.append('--average_with (the mean of several checkpoints\' generators) needs --phase export '
                      '--format checkpoint')
    if not args.dataset or os.sep in args.dataset or args.dataset in ('.', '..'):
        errors.append('--dataset must be a folder name under --dataset_dir, not a path (got %r)' % args.dataset)
    return errors


def _validate_memory(args, available=None):
    """A run whose weights and input batch alone (config.memory_floor) need more than the
    machine's memory (`available` bytes, default: physical_memory_bytes) is refused before
    anything is built: building such a graph was minutes of work deaf to Ctrl-C before failing."""
    model = ModelConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ModelConfig)})
    available = physical_memory_bytes() if available is None else available
    training = args.phase == 'train'
    needed = memory_floor(model, args.batch_size, training)
    if available is None or needed <= available:
        return []
    return ['--ch %d, --img_size %d, --batch_size %d: this run needs more than %s of memory for its {:,} weights '
            'and one batch of images alone; this machine has %s. Use a smaller --ch, --img_size or --batch_size'
            .format(weights_built(model, training))
            % (model.ch, model.img_size, args.batch_size, size_text(needed), size_text(available))]


def _validate_download_flags(args):
    if args.what == 'model':
        return []
    from ugatit.assets.dataset_download import DATASETS
    if args.phase != 'download':
        return ['--what %s applies to --phase download' % args.what]
    if args.dataset not in DATASETS:
        return ['--what dataset downloads %s (the dataset the authors released), not --dataset %s'
                % (' or '.join(DATASETS), args.dataset)]
    if args.source == 'mirror':
        return ['--what dataset: no mirror of the dataset is known; use --source auto (Google Drive)']
    return []


def _validate_diff_augment(args):
    if not args.diff_augment:
        return []  # off; the policy's module imports TensorFlow, which flags without it need not
    from ugatit.model.diffaugment import parse_policy
    try:
        parse_policy(args.diff_augment)
    except ValueError as exc:
        return ['--diff_augment: %s (e.g. --diff_augment color,translation,cutout; empty: off)' % exc]
    return []


# Flags of the Translator's graph (ugatit/infer/translator.py), and why other phases refuse them.
TRANSLATION_ONLY_FLAGS = (
    ('winograd', ': its compiled ops have no gradient for training, and exported models must run without them'),
    ('flip_average', ''),
)


def _validate_translation_only_flags(args):
    if args.phase in ('test', 'eval', 'serve'):
        return []
    return ['--%s applies to --phase test (photos, video, camera included), eval and serve, not to --phase %s%s'
            % (name, args.phase, why) for name, why in TRANSLATION_ONLY_FLAGS if getattr(args, name)]


def _validate_photo_flags(args):
    errors = []
    if args.input is not None and args.phase not in ('test', 'upscale'):
        errors.append('--input translates photos and needs --phase test (or enlarges images with --phase upscale)')
    if args.phase == 'upscale' and args.input is None:
        errors.append('--phase upscale needs --input PATH (an image, a folder or a quoted glob)')
    if args.upscale not in (None, 1) and args.phase not in ('test', 'upscale', 'serve'):
        errors.append('--upscale enlarges translations and images: it needs --phase test, upscale or serve')
    elif args.upscale == 'auto' and args.phase == 'serve':
        errors.append('--phase serve takes --upscale 2 or 4 (the page shows the face, not the photo it came from)')
    elif args.upscale == 'auto' and args.input is None:
        errors.append('--upscale auto enlarges each face to its size in the photo: it needs --input PATH')
    if args.input is None:
        for name in ('align_face', 'paste_back', 'show'):
            if getattr(args, name):
                errors.append('--%s applies to photos and needs --input PATH' % name)
    if args.fade_frames < 1 or args.smooth_cutoff <= 0 or args.smooth_beta < 0 or args.camera_seconds < 0:
        errors.append('--fade_frames must be >= 1, --smooth_cutoff > 0, --smooth_beta and --camera_seconds >= 0')
    if args.face_padding is not None and not 0 <= args.face_padding <= 4:
        errors.append('--face_padding must be in [0, 4] (got %s)' % args.face_padding)
    if not -127 < args.contrast < 255:
        errors.append('--contrast must be in (-127, 255) (got %s)' % args.contrast)
    if not -255 < args.brightness < 255:
        errors.append('--brightness must be in (-255, 255) (got %s)' % args.brightness)
    if args.landmarks is not None and not os.path.isfile(args.landmarks):
        errors.append('--landmarks %s: no such file (a dlib 5-point shape predictor .dat)' % printable(args.landmarks))
    errors += _validate_eval_flags(args)
    return errors


def _validate_eval_flags(args):
    errors = []
    if (args.eval_real is None) != (args.eval_fake is None):
        errors.append('--eval_real and --eval_fake go together (a folder of real images and one of translations)')
    if args.eval_freq < 0 or args.eval_images < 1:
        errors.append('--eval_freq must be >= 0 and --eval_images >= 1 (got %d and %d)' % (args.eval_freq, args.eval_images))
    if args.eval_source is not None and args.eval_real is None:
        errors.append('--eval_source needs --eval_real and --eval_fake')
    elif args.eval_real is not None and args.phase != 'eval':
        errors.append('--eval_real and --eval_fake need --phase eval')
    return errors
