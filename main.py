"""U-GAT-IT (Kim et al., ICLR 2020) in TensorFlow graph mode: train, test and translate photos.

Examples:
  # the authors' selfie2anime dataset into dataset/selfie2anime/, checked (docs/dataset.md);
  # then train on <dataset_dir>/selfie2anime/{trainA,trainB} with the official defaults
  python main.py --phase download --what dataset --dataset selfie2anime
  python main.py --phase train --dataset selfie2anime

  # translate testA -> B and testB -> A with the released checkpoint in
  # checkpoint/UGATIT_selfie2anime_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing/
  python main.py --phase test --dataset selfie2anime

  # the built-in demo (generated on first use; demo-sized defaults, see README)
  python main.py --phase train --dataset demo
  python main.py --phase test --dataset demo

  # translate your own photos: faces found and aligned with dlib, pasted back into the photo
  python main.py --phase test --input photos/ --align_face --paste_back --result_dir out

  # KID and FID of the model's translations of testA/testB, or of any folder of translations
  python main.py --phase eval --dataset selfie2anime
  python main.py --phase eval --eval_real dataset/selfie2anime/testB --eval_fake translated/ --result_dir out

  # enlarge existing images 2x with waifu2x, no model involved (docs/upscale.md)
  python main.py --phase upscale --input results/ --upscale 2 --result_dir results_2x

  # a video (faces tracked, smoothed and pasted back; audio kept) or a live camera
  python main.py --phase test --input clip.mp4 --align_face --result_dir out
  python main.py --phase test --input camera:0 --align_face --show

  # a web page and JSON API on http://127.0.0.1:8000 (docs/serve.md)
  python main.py --phase serve --dataset demo --batch_size 8
"""

import argparse
import errno
import math
import os
import sys

from ugatit.config import GAN_TYPES, PRESETS, Config, apply_preset, min_img_size, preset_name
from ugatit.apps.video_io import is_video_path
from utils import printable, str2bool


# The smallest image the generator can translate: 7x7 reflect padding by 3, then two stride-2
# downsamplings, leave a 2x2 bottleneck, the least the residual blocks' reflect padding takes.
MIN_GENERATOR_SIZE = 8
PHASES = ('train', 'test', 'export', 'download', 'eval', 'upscale', 'serve')


class PrintFlagsDoc(argparse.Action):
    """--help-flags md: print the flags reference of ugatit/flags_doc.py and exit, as --help does."""

    def __call__(self, parser, namespace, values, option_string=None):
        from ugatit.flags_doc import flags_markdown
        sys.stdout.write(flags_markdown(parser))
        parser.exit()


def build_parser():
    parser = argparse.ArgumentParser(
        allow_abbrev=False,  # explicit_flags() must see every flag the user gave by its full name
        description='TensorFlow (tf.compat.v1 graph mode) implementation of U-GAT-IT.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('Examples:', 1)[1].join(['examples:', '']))
    add = parser.add_argument
    add('--help-flags', choices=('md',), action=PrintFlagsDoc, default=argparse.SUPPRESS,
        help='print the flags as a Markdown reference (docs/flags.md) and exit')
    add('--phase', type=str, default='train', choices=PHASES,
        help='train; test; export a generator as SavedModel + TFLite; download a released checkpoint (or, '
             'with --what dataset, the selfie2anime dataset); '
             'eval: KID and FID; upscale --input images; serve a web page (default: %(default)s)')
    add('--light', type=str2bool, default=False, help='U-GAT-IT light (GAP before the MLP) instead of full (default: %(default)s)')
    add('--dataset', type=str, default='selfie2anime', help='dataset name: folder under --dataset_dir (default: %(default)s)')
    add('--preset', type=str, default=None, choices=sorted(PRESETS),
        help='defaults for the flags not given: cpu = the CPU-sized selfie2anime recipe (light, 64 px, ch 32, '
             'n_dis 4, 40,000 steps; docs/cpu_model.md); demo is implied by --dataset demo (default: none)')
    add('--dataset_dir', type=str, default='dataset', help='folder holding the datasets (default: %(default)s)')

    add('--epoch', type=int, default=100, help='number of epochs (default: %(default)s)')
    add('--iteration', type=int, default=10000, help='iterations per epoch (default: %(default)s)')
    add('--batch_size', type=int, default=1, help='batch size (default: %(default)s)')
    add('--print_freq', type=int, default=1000, help='write a sample grid every N steps (default: %(default)s)')
    add('--save_freq', type=int, default=1000, help='save a checkpoint every N steps (default: %(default)s)')
    add('--decay_flag', type=str2bool, default=True, help='decay the learning rate linearly to 0 (default: %(default)s)')
    add('--decay_epoch', type=int, default=50, help='epoch where the decay starts (default: %(default)s)')

    add('--lr', type=float, default=0.0001, help='learning rate (default: %(default)s)')
    add('--GP_ld', type=int, default=10, help='gradient penalty weight (default: %(default)s)')
    add('--adv_weight', type=int, default=1, help='weight of the adversarial loss (default: %(default)s)')
    add('--cycle_weight', type=int, default=10, help='weight of the cycle loss (default: %(default)s)')
    add('--identity_weight', type=int, default=10, help='weight of the identity loss (default: %(default)s)')
    add('--cam_weight', type=int, default=1000, help='weight of the CAM loss (default: %(default)s)')
    add('--gan_type', type=str, default='lsgan', choices=GAN_TYPES, help='adversarial loss (default: %(default)s)')
    add('--smoothing', type=str2bool, default=True, help='AdaLIN smoothing: rho - 0.1 (default: %(default)s)')

    add('--ch', type=int, default=64, help='base channel number (default: %(default)s)')
    add('--n_res', type=int, default=4, help='number of residual blocks (default: %(default)s)')
    add('--n_dis', type=int, default=6, help='number of discriminator layers (default: %(default)s)')
    add('--n_critic', type=int, default=1, help='D steps per G step (default: %(default)s)')
    add('--sn', type=str2bool, default=True, help='spectral norm in the discriminators (default: %(default)s)')

    add('--img_size', type=int, default=256, help='image size (default: %(default)s)')
    add('--img_ch', type=int, default=3, help='image channels (default: %(default)s)')
    add('--augment_flag', type=str2bool, default=True, help='random flip/resize/crop augmentation (default: %(default)s)')
    add('--diff_augment', type=str, default='',
        help="DiffAugment policy applied to real and translated images before every discriminator call, e.g. "
             "'color,translation,cutout' (docs/diffaugment.md); empty: off, as the official code (default: %(default)r)")

    add('--checkpoint_dir', type=str, default='checkpoint', help='checkpoint folder (default: %(default)s)')
    add('--checkpoint', type=str, default=None,
        help='checkpoint prefix or folder to restore instead of <checkpoint_dir>/<model_dir> (default: %(default)s)')
    add('--result_dir', type=str, default='results', help='folder for test results (default: %(default)s)')
    add('--log_dir', type=str, default='logs', help='folder for TensorBoard logs (default: %(default)s)')
    add('--sample_dir', type=str, default='samples', help='folder for training samples (default: %(default)s)')
    add('--export_dir', type=str, default='exported', help='folder for --phase export (default: %(default)s)')
    add('--format', type=str, default='savedmodel', choices=('savedmodel', 'checkpoint'),
        help='--phase export: savedmodel (SavedModel + TFLite of --direction), or checkpoint: a generators-only '
             'checkpoint (both directions unless --direction is given; docs/slim_checkpoint.md) (default: %(default)s)')
    add('--float16', type=str2bool, nargs='?', const=True, default=False,
        help='--format checkpoint: store the weights as float16, half the size (default: %(default)s)')
    add('--seed', type=int, default=None,
        help='graph-level random seed (initialisation, shuffling, augmentation); none: random as the official code (default: %(default)s)')
    add('--xla', type=str2bool, default=False, help='compile the graph with XLA JIT (default: %(default)s)')
    add('--grappler', type=str2bool, default=True,
        help="let TensorFlow's Grappler rewrite the graph (constant folding and the memory optimiser's AddN "
             'rewrite stay off: they cost memory); false: no rewrite at all, which measured no change in time '
             'or memory (default: %(default)s)')
    add('--bfloat16', type=str2bool, default=False,
        help='run the graph in bfloat16 on a CPU that computes it natively (AVX512-BF16 or AMX); faster, '
             'results differ from float32 (docs/performance.md); not for --phase export (default: %(default)s)')
    add('--intra_op_threads', type=int, default=0, help='threads inside one op; 0: TensorFlow decides (default: %(default)s)')
    add('--inter_op_threads', type=int, default=0, help='ops run in parallel; 0: TensorFlow decides (default: %(default)s)')
    add('--take_over_lock', type=str2bool, default=False,
        help='train in a checkpoint folder whose lock was left by a process that no longer runs (default: %(default)s)')
    add('--towers', type=int, default=1,
        help='train on this many GPUs of this machine, --batch_size images each, gradients averaged '
             '(docs/multi_device.md); without a GPU the CPU is split, for testing (default: %(default)s)')
    add('--verbose', type=str2bool, default=False,
        help="also print TensorFlow's own log lines and deprecation warnings (also: environment variable "
             'UGATIT_VERBOSE=1) (default: %(default)s)')

    photo = parser.add_argument_group('translating photos (--phase test --input PATH)')
    add = photo.add_argument
    add('--input', type=str, default=None, help='an image, a folder or a quoted glob to translate instead of testA/testB')
    add('--direction', type=str, default='a2b', choices=('a2b', 'b2a'),
        help='a2b: domain A -> B (selfie -> anime); b2a: B -> A (default: %(default)s)')
    add('--align_face', type=str2bool, nargs='?', const=True, default=False,
        help='detect faces with dlib and translate aligned face chips (default: %(default)s)')
    add('--landmarks', type=str, default=None,
        help='dlib 5-point shape predictor .dat (default: the one of face-recognition-models)')
    add('--face_padding', type=float, default=0.65,
        help='margin around the face in the chip, as get_face_chip padding (default: %(default)s)')
    add('--faces', type=str, default='largest', choices=('largest', 'all'), help='faces per photo (default: %(default)s)')
    add('--no_face', type=str, default='error', choices=('error', 'skip', 'center'),
        help='photo without a face: report an error, skip it, or use the centre crop (default: %(default)s)')
    add('--paste_back', type=str2bool, nargs='?', const=True, default=False,
        help='also write the photo with the translated face(s) put back (default: %(default)s)')
    add('--contrast', type=float, default=0, help='contrast boost before translating; the original demo used 30 (default: %(default)s)')
    add('--brightness', type=float, default=0, help='brightness shift before translating (default: %(default)s)')
    add('--show', type=str2bool, nargs='?', const=True, default=False, help='open each figure in a window (default: %(default)s)')
    from ugatit.infer.upscale import DEFAULT_UPSCALER, UPSCALERS, parse_factor
    add('--upscale', type=parse_factor, default=1, metavar='{1,2,4,auto}',
        help='enlarge results 1, 2 or 4 times, or auto (docs/upscale.md) (default: %(default)s)')
    add('--upscaler', type=str, default=DEFAULT_UPSCALER, choices=UPSCALERS,
        help='super-resolution for --upscale (default: %(default)s)')

    download = parser.add_argument_group('released checkpoints and dataset (--phase download)')
    add = download.add_argument
    add('--what', type=str, default='model', choices=('model', 'dataset'),
        help='model: a released checkpoint (--model); dataset: the authors\' selfie2anime dataset into '
             '--dataset_dir/--dataset (docs/dataset.md) (default: %(default)s)')
    add('--model', type=str, default='selfie2anime-100', choices=('selfie2anime-100', 'selfie2anime-50'),
        help='the released checkpoint to download into --checkpoint_dir: selfie2anime-100 trained 100 epochs, '
             'selfie2anime-50 50 epochs (default: %(default)s)')
    add('--source', type=str, default='auto', choices=('auto', 'gdrive', 'mirror'),
        help='auto: Google Drive, then the Hugging Face mirror (default: %(default)s)')
    add('--archive', type=str, default=None, help='unpack this already downloaded zip (checkpoint or dataset) '
        'instead of downloading')

    evaluation = parser.add_argument_group('KID and FID (--phase eval; docs/evaluation.md)')
    add = evaluation.add_argument
    add('--eval_real', type=str, default=None, help='folder of real images of the target domain')
    add('--eval_fake', type=str, default=None, help='folder of translated images to score against --eval_real')
    add('--eval_source', type=str, default=None,
        help="optional folder of real source-domain images: adds the authors' source-weighted mean KID")
    add('--inception', type=str, default=None,
        help="TF-GAN's frozen_inception_v1_2015_12_05.tar.gz or its inceptionv1_for_inception_score.pb "
             '(default: the cache folder, else downloaded into it)')
    add('--eval_freq', type=int, default=0,
        help='training: score a fixed subset of the test images every N steps and at the end (KID/FID with '
             'a local Inception graph, else L1/PSNR against ground truth); 0: off (default: %(default)s)')
    add('--eval_images', type=int, default=100,
        help='training with --eval_freq: the first N files of testA and of testB (default: %(default)s)')

    add_video_flags(parser)

    serve = parser.add_argument_group('the web page and API (--phase serve, docs/serve.md)')
    serve.add_argument('--host', type=str, default='127.0.0.1',
                       help='address to listen on; 0.0.0.0 exposes the page to the network (default: %(default)s)')
    serve.add_argument('--port', type=int, default=8000, help='port to listen on (default: %(default)s)')
    serve.add_argument('--keep_uploads', type=str, default=None,
                       help='folder that keeps a copy of every upload; none: nothing is kept on disk (default: %(default)s)')
    return parser


def add_video_flags(parser):
    """Flags of the video and camera mode (--input clip.mp4 or --input camera:N; docs/video.md)."""
    add = parser.add_argument_group('translating videos (--input clip.mp4) and a camera (--input camera:0)').add_argument
    add('--smooth', type=str2bool, default=True, help='smooth the face alignment over time (One-Euro filter) (default: %(default)s)')
    add('--smooth_cutoff', type=float, default=0.5, help='One-Euro cut-off at rest in Hz: lower is steadier, lags more (default: %(default)s)')
    add('--smooth_beta', type=float, default=0.05, help='One-Euro speed coefficient: higher follows fast motion sooner (default: %(default)s)')
    add('--fade_frames', type=int, default=5, help='frames over which a face fades in or out (default: %(default)s)')
    add('--camera_seconds', type=float, default=0, help='stop the camera after this long; 0: at q or Ctrl-C (default: %(default)s)')


def validate(args):
    """Return a list of messages, one per invalid flag combination (empty when all is well)."""
    errors = []
    positive = ('epoch', 'iteration', 'batch_size', 'print_freq', 'save_freq', 'ch', 'n_res', 'n_critic', 'img_size')
    for name in positive:
        if getattr(args, name) < 1:
            errors.append('--%s must be >= 1 (got %s)' % (name, getattr(args, name)))
    for name in ('lr', 'face_padding', 'contrast', 'brightness'):
        if not math.isfinite(getattr(args, name)):
            errors.append('--%s must be a finite number (got %s)' % (name, getattr(args, name)))
    if not args.lr > 0:
        errors.append('--lr must be > 0 (got %s)' % args.lr)
    if 1 <= args.img_size < MIN_GENERATOR_SIZE:
        errors.append('--img_size must be at least %d: the generator downsamples twice and pads by reflection '
                      '(got %d)' % (MIN_GENERATOR_SIZE, args.img_size))
    if args.decay_epoch < 0:
        errors.append('--decay_epoch must be >= 0 (got %d)' % args.decay_epoch)
    if args.img_ch != 3:
        errors.append('--img_ch must be 3: the generators output RGB images (got %d)' % args.img_ch)
    if args.n_dis < 3:
        errors.append('--n_dis must be >= 3 (got %d)' % args.n_dis)
    if args.img_size >= 1 and args.img_size % 4:
        errors.append('--img_size must be a multiple of 4 (two stride-2 downsamplings, then two 2x upsamplings); got %d'
                      % args.img_size)
    elif args.phase == 'train' and args.n_dis >= 3 and args.img_size < min_img_size(args.n_dis):
        # Only training builds the discriminators; the test phase never needs them.
        errors.append('--img_size %d is too small for --n_dis %d: the global discriminator needs at least %d '
                      '(use a larger --img_size or a smaller --n_dis)' % (args.img_size, args.n_dis, min_img_size(args.n_dis)))
    for name in ('adv_weight', 'cycle_weight', 'identity_weight', 'cam_weight', 'GP_ld'):
        if getattr(args, name) < 0:
            errors.append('--%s must be >= 0 (got %d)' % (name, getattr(args, name)))
    if args.towers < 1:
        errors.append('--towers must be >= 1 (got %d)' % args.towers)
    errors += _validate_diff_augment(args)
    errors += _validate_download_flags(args)
    errors += _validate_photo_flags(args)
    if not 0 <= args.port <= 65535:
        errors.append('--port must be in 0..65535 (got %d)' % args.port)
    if args.bfloat16 and not args.grappler:
        errors.append('--bfloat16 is a graph rewrite of Grappler and needs --grappler true')
    if args.bfloat16 and args.phase == 'export':
        errors.append('--bfloat16 applies to train and test; --phase export writes float32 models '
                      '(and float16 or int8 TFLite variants)')
    if args.phase != 'export' and args.format != 'savedmodel' or args.float16 and args.format != 'checkpoint':
        errors.append('--format checkpoint and --float16 (a float16 generators-only checkpoint) need --phase export '
                      '--format checkpoint')
    if not args.dataset or os.sep in args.dataset or args.dataset in ('.', '..'):
        errors.append('--dataset must be a folder name under --dataset_dir, not a path (got %r)' % args.dataset)
    return errors


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


def _validate_photo_flags(args):
    errors = []
    if args.input is not None and args.phase not in ('test', 'upscale'):
        errors.append('--input translates photos and needs --phase test (or enlarges images with --phase upscale)')
    if args.phase == 'upscale' and args.input is None:
        errors.append('--phase upscale needs --input PATH (an image, a folder or a quoted glob)')
    if args.upscale != 1 and args.phase not in ('test', 'upscale', 'serve'):
        errors.append('--upscale enlarges translations and images: it needs --phase test, upscale or serve')
    elif args.upscale == 'auto' and args.phase == 'serve':
        errors.append('--phase serve takes --upscale 2 or 4 (the page shows the face, not the photo it came from)')
    elif args.upscale != 1 and args.input is not None and (args.input.startswith('camera:') or is_video_path(args.input)):
        errors.append('--upscale enlarges photos and test images; videos and the camera are not enlarged yet')
    elif args.upscale == 'auto' and args.input is None:
        errors.append('--upscale auto enlarges each face to its size in the photo: it needs --input PATH')
    if args.input is None:
        for name in ('align_face', 'paste_back', 'show'):
            if getattr(args, name):
                errors.append('--%s applies to photos and needs --input PATH' % name)
    if args.fade_frames < 1 or args.smooth_cutoff <= 0 or args.smooth_beta < 0 or args.camera_seconds < 0:
        errors.append('--fade_frames must be >= 1, --smooth_cutoff > 0, --smooth_beta and --camera_seconds >= 0')
    if not 0 <= args.face_padding <= 4:
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


def explicit_flags(argv):
    """The names of the flags given on the command line (`--name value` or `--name=value`)."""
    return {arg[2:].split('=', 1)[0] for arg in argv if arg.startswith('--')}


def parse_args(argv=None):
    """Parse and validate the flags, with the preset of --preset or --dataset (ugatit.config.PRESETS)
    filling the flags not given. Returns the argparse namespace; exits with status 2 on a bad flag."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if preset_name(vars(args)):
        args = argparse.Namespace(**apply_preset(vars(args), explicit_flags(argv)))
    errors = validate(args)
    if errors:
        parser.error('\n  '.join(errors))
    # --phase export --format checkpoint keeps both generators unless --direction is given.
    args.export_directions = (args.direction,) if 'direction' in explicit_flags(argv) else ('a2b', 'b2a')
    return args


def parse_config(argv=None):
    """The run's frozen Config from the command line (see parse_args)."""
    return Config.from_flags(parse_args(argv))


def log_device():
    """Print which device TensorFlow will use; return 'GPU' or 'CPU'."""
    import tensorflow as tf
    gpus = tf.config.list_physical_devices('GPU')
    if gpus:
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except (RuntimeError, ValueError):
                pass
        print(' [*] Device: GPU (%s)' % ', '.join(g.name for g in gpus))
        return 'GPU'
    print(' [*] Device: CPU (TensorFlow sees no GPU; see docs/install.md "GPU" to use one)')
    return 'CPU'


def with_saved_flags(config, argv):
    """config with the architecture flags saved beside the checkpoint it will restore (the
    flags file of ugatit.config), where the user gave none; raises UserError on a conflict."""
    from ugatit.model.checkpoint import checkpoint_folder
    from ugatit.config import FLAGS_FILE, merge_saved_flags, read_flags_file
    from ugatit.errors import UserError
    folder = checkpoint_folder(config)
    try:
        saved = read_flags_file(folder)
        if saved is None:
            return config
        config, lines = merge_saved_flags(config, saved, explicit_flags(argv), os.path.join(folder, FLAGS_FILE))
    except ValueError as exc:
        raise UserError(str(exc))
    for line in lines:
        print(line)
    return config


def uses_shipped_model(config):
    """True when a run translates photos, video or a camera, or serves the page (phases whose user
    may have trained nothing), with no --checkpoint, no checkpoint for its flags in
    <checkpoint_dir>/<model_dir>, and a model this project ships for its --dataset."""
    from ugatit.model.checkpoint import latest_in_folder
    from ugatit.config import SHIPPED_MODELS
    translates = config.phase == 'serve' or (config.phase == 'test' and config.photo.input is not None)
    shipped = SHIPPED_MODELS.get(config.paths.dataset)
    return (translates and config.paths.checkpoint is None and shipped is not None
            and latest_in_folder(os.path.join(config.paths.checkpoint_dir, config.model_dir)) is None
            and latest_in_folder(shipped) is not None)


def short_path(path):
    """path relative to the working directory when it lies below it, else absolute."""
    relative = os.path.relpath(path)
    return path if relative.startswith('..') else relative


def with_shipped_model(config):
    """config restoring the shipped model (ugatit.config.SHIPPED_MODELS) when uses_shipped_model
    says so, with one line that says it; else config unchanged."""
    if not uses_shipped_model(config):
        return config
    import dataclasses
    from ugatit.config import SHIPPED_MODELS
    shipped = SHIPPED_MODELS[config.paths.dataset]
    print(' [*] No checkpoint in %s: using the model this project ships, %s (docs/cpu_model.md); '
          '--checkpoint PATH restores another' % (printable(os.path.join(config.paths.checkpoint_dir, config.model_dir)),
                                                  printable(short_path(shipped))))
    return dataclasses.replace(config, paths=dataclasses.replace(config.paths, checkpoint=shipped))


def check_bfloat16(config, device):
    """UserError unless --bfloat16 is off or the CPU computes bfloat16 natively and no GPU is used."""
    from ugatit import config as config_module
    from ugatit.errors import UserError
    if config.runtime.bfloat16 and (device == 'GPU' or not config_module.cpu_has_native_bfloat16()):
        raise UserError('--bfloat16 needs a CPU that computes bfloat16 natively (flags avx512_bf16 or amx_bf16 in '
                        '/proc/cpuinfo) and no GPU; %s. Run without --bfloat16.'
                        % ('TensorFlow uses a GPU here' if device == 'GPU' else 'this CPU does not'))


# Phases that restore no checkpoint of the flags' model_dir.
STANDALONE_PHASES = ('download', 'eval', 'upscale')


def run_standalone_phase(config):
    """Run a phase of STANDALONE_PHASES; returns the exit status."""
    if config.phase == 'download' and config.download.what == 'dataset':
        from ugatit.assets.dataset_download import run_dataset_download
        return run_dataset_download(config)
    if config.phase == 'download':
        from ugatit.assets.download import run_download
        return run_download(config)
    if config.phase == 'eval':
        from ugatit.eval.metrics import run_eval_folders
        return run_eval_folders(config)
    if config.phase == 'upscale':
        from ugatit.apps.upscale_phase import run_upscale
        return run_upscale(config)
    raise ValueError(config.phase)


def is_model_eval(config):
    """--phase eval without --eval_real/--eval_fake: the model of the flags translates testA/testB."""
    return config.phase == 'eval' and config.eval.eval_real is None


def run_phase(config):
    """Run config.phase; returns the exit status."""
    if is_model_eval(config):
        from ugatit.eval.eval_model import run_eval_model
        return run_eval_model(config)
    if config.phase == 'train':
        from ugatit.train.train import train
        print(' [*] Training finished at step %d' % train(config))
    elif config.phase == 'export' and config.export.format == 'checkpoint':
        from ugatit.infer.slim import export_slim
        export_slim(config)
    elif config.phase == 'export':
        from ugatit.infer.export import export
        export(config)
    elif config.phase == 'serve':
        from ugatit.apps.serve import serve
        return serve(config)
    elif config.photo.input is not None and config.photo.input.startswith('camera:'):
        from ugatit.apps.camera import run_camera
        return run_camera(config)
    elif config.photo.input is not None and is_video_path(config.photo.input):
        from ugatit.apps.video import run_video
        return run_video(config)
    elif config.photo.input is not None:
        from ugatit.infer.photo import run_photos
        return run_photos(config)
    else:
        from ugatit.infer.testing import run_test
        run_test(config)
    return 0


def verbose_requested(argv):
    """The --verbose flag of argv, read before anything imports TensorFlow (quiet_console must
    come first), by the run's own parser: a bad value fails here as it would later."""
    return build_parser().parse_known_args(argv)[0].verbose


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    from ugatit.console import quiet_console, tensorflow_error_message
    quiet = quiet_console(verbose_requested(argv))
    config = parse_config(argv)
    from ugatit.errors import UserError
    try:
        if config.phase in STANDALONE_PHASES and not is_model_eval(config):  # no model of the flags is restored
            return run_standalone_phase(config)
        if config.paths.dataset == 'demo' and config.photo.input is None and config.phase != 'serve':
            from ugatit.assets.demo_data import ensure_demo_dataset
            try:
                ensure_demo_dataset(os.path.join(config.paths.dataset_dir, 'demo'))
            except ValueError as exc:
                raise UserError(str(exc))
        import tensorflow as tf
        tf.compat.v1.disable_eager_execution()
        check_bfloat16(config, log_device())
        return run_phase(with_saved_flags(with_shipped_model(config), argv))
    except UserError as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
            raise
        print('error: cannot write %s: %s. Free some space or choose another output folder; files written '
              'before are complete.' % (printable(exc.filename or 'a file'), exc.strerror), file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return getattr(exc, 'exit_status', 130)  # 130: Ctrl-C; 143: SIGTERM (ugatit.errors.Stopped)
    except Exception as exc:
        message = tensorflow_error_message(exc)
        if message is None or not quiet:
            raise
        print('error: %s' % message, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
