"""U-GAT-IT (Kim et al., ICLR 2020) in TensorFlow graph mode: train, test and translate photos.

Examples:
  # train on <dataset_dir>/selfie2anime/{trainA,trainB} with the official defaults
  python main.py --phase train --dataset selfie2anime

  # translate testA -> B and testB -> A with the released checkpoint in
  # checkpoint/UGATIT_selfie2anime_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing/
  python main.py --phase test --dataset selfie2anime

  # the built-in demo (generated on first use; demo-sized defaults, see README)
  python main.py --phase train --dataset demo
  python main.py --phase test --dataset demo

  # translate your own photos: faces found and aligned with dlib, pasted back into the photo
  python main.py --phase test --input photos/ --align_face --paste_back --result_dir out
"""

import argparse
import os
import sys

from ops import GAN_TYPES
from ugatit.config import PRESETS, Config, apply_preset, min_img_size
from utils import str2bool


def build_parser():
    parser = argparse.ArgumentParser(
        allow_abbrev=False,  # explicit_flags() must see every flag the user gave by its full name
        description='TensorFlow (tf.compat.v1 graph mode) implementation of U-GAT-IT.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('Examples:', 1)[1].join(['examples:', '']))
    add = parser.add_argument
    add('--phase', type=str, default='train', choices=('train', 'test', 'export'),
        help='train, test, or export a generator as SavedModel + TFLite (default: %(default)s)')
    add('--light', type=str2bool, default=False, help='U-GAT-IT light (GAP before the MLP) instead of full (default: %(default)s)')
    add('--dataset', type=str, default='selfie2anime', help='dataset name: folder under --dataset_dir (default: %(default)s)')
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

    add('--checkpoint_dir', type=str, default='checkpoint', help='checkpoint folder (default: %(default)s)')
    add('--checkpoint', type=str, default=None,
        help='checkpoint prefix or folder to restore instead of <checkpoint_dir>/<model_dir> (default: %(default)s)')
    add('--result_dir', type=str, default='results', help='folder for test results (default: %(default)s)')
    add('--log_dir', type=str, default='logs', help='folder for TensorBoard logs (default: %(default)s)')
    add('--sample_dir', type=str, default='samples', help='folder for training samples (default: %(default)s)')
    add('--export_dir', type=str, default='exported', help='folder for --phase export (default: %(default)s)')
    add('--seed', type=int, default=None,
        help='graph-level random seed (initialisation, shuffling, augmentation); none: random as the official code (default: %(default)s)')
    add('--xla', type=str2bool, default=False, help='compile the graph with XLA JIT (default: %(default)s)')
    add('--grappler', type=str2bool, default=True,
        help="let TensorFlow's Grappler rewrite the graph (constant folding and the memory optimiser's AddN "
             'rewrite stay off: they cost memory); false: no rewrite at all, which measured no change in time '
             'or memory (default: %(default)s)')
    add('--bfloat16', type=str2bool, default=False,
        help='run the graph in bfloat16 on a CPU that computes it natively (AVX512-BF16 or AMX); faster, '
             'results differ from float32 (README "Speed and memory"); not for --phase export (default: %(default)s)')
    add('--intra_op_threads', type=int, default=0, help='threads inside one op; 0: TensorFlow decides (default: %(default)s)')
    add('--inter_op_threads', type=int, default=0, help='ops run in parallel; 0: TensorFlow decides (default: %(default)s)')
    add('--towers', type=int, default=1,
        help='train on this many GPUs of this machine, --batch_size images each, gradients averaged '
             '(docs/multi_device.md); without a GPU the CPU is split, for testing (default: %(default)s)')

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
    return parser


def validate(args):
    """Return a list of messages, one per invalid flag combination (empty when all is well)."""
    errors = []
    positive = ('epoch', 'iteration', 'batch_size', 'print_freq', 'save_freq', 'ch', 'n_res', 'n_critic', 'img_size')
    for name in positive:
        if getattr(args, name) < 1:
            errors.append('--%s must be >= 1 (got %s)' % (name, getattr(args, name)))
    if args.lr <= 0:
        errors.append('--lr must be > 0 (got %s)' % args.lr)
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
    errors += _validate_photo_flags(args)
    if args.bfloat16 and not args.grappler:
        errors.append('--bfloat16 is a graph rewrite of Grappler and needs --grappler true')
    if args.bfloat16 and args.phase == 'export':
        errors.append('--bfloat16 applies to train and test; --phase export writes float32 models '
                      '(and float16 or int8 TFLite variants)')
    if not args.dataset or os.sep in args.dataset or args.dataset in ('.', '..'):
        errors.append('--dataset must be a folder name under --dataset_dir, not a path (got %r)' % args.dataset)
    return errors


def _validate_photo_flags(args):
    errors = []
    if args.input is not None and args.phase != 'test':
        errors.append('--input translates photos and needs --phase test')
    if args.input is None:
        for name in ('align_face', 'paste_back', 'show'):
            if getattr(args, name):
                errors.append('--%s applies to photos and needs --input PATH' % name)
    if args.face_padding < 0:
        errors.append('--face_padding must be >= 0 (got %s)' % args.face_padding)
    if not -127 < args.contrast < 255:
        errors.append('--contrast must be in (-127, 255) (got %s)' % args.contrast)
    if args.landmarks is not None and not os.path.isfile(args.landmarks):
        errors.append('--landmarks %s: no such file (a dlib 5-point shape predictor .dat)' % args.landmarks)
    return errors


def explicit_flags(argv):
    """The names of the flags given on the command line (`--name value` or `--name=value`)."""
    return {arg[2:].split('=', 1)[0] for arg in argv if arg.startswith('--')}


def parse_args(argv=None):
    """Parse and validate the flags, with the --dataset preset (ugatit.config.PRESETS) filling
    the flags not given. Returns the argparse namespace; exits with status 2 on a bad flag."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dataset in PRESETS:
        args = argparse.Namespace(**apply_preset(vars(args), explicit_flags(argv)))
    errors = validate(args)
    if errors:
        parser.error('\n  '.join(errors))
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
    print(' [*] Device: CPU (TensorFlow sees no GPU; see README "GPU" to use one)')
    return 'CPU'


def with_saved_flags(config, argv):
    """config with the architecture flags saved beside the checkpoint it will restore (the
    flags file of ugatit.config), where the user gave none; raises UserError on a conflict."""
    from ugatit.checkpoint import checkpoint_folder
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


def check_bfloat16(config, device):
    """UserError unless --bfloat16 is off or the CPU computes bfloat16 natively and no GPU is used."""
    from ugatit import config as config_module
    from ugatit.errors import UserError
    if config.runtime.bfloat16 and (device == 'GPU' or not config_module.cpu_has_native_bfloat16()):
        raise UserError('--bfloat16 needs a CPU that computes bfloat16 natively (flags avx512_bf16 or amx_bf16 in '
                        '/proc/cpuinfo) and no GPU; %s. Run without --bfloat16.'
                        % ('TensorFlow uses a GPU here' if device == 'GPU' else 'this CPU does not'))


def run_phase(config):
    """Run config.phase; returns the exit status."""
    if config.phase == 'train':
        from ugatit.train import train
        print(' [*] Training finished at step %d' % train(config))
    elif config.phase == 'export':
        from ugatit.export import export
        export(config)
    elif config.photo.input is not None:
        from ugatit.photo import run_photos
        return run_photos(config)
    else:
        from ugatit.testing import run_test
        run_test(config)
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    config = parse_config(argv)
    import tensorflow as tf
    from ugatit.errors import UserError
    try:
        if config.paths.dataset == 'demo' and config.photo.input is None:
            from ugatit.demo_data import ensure_demo_dataset
            try:
                ensure_demo_dataset(os.path.join(config.paths.dataset_dir, 'demo'))
            except ValueError as exc:
                raise UserError(str(exc))
        tf.compat.v1.disable_eager_execution()
        check_bfloat16(config, log_device())
        return run_phase(with_saved_flags(config, argv))
    except UserError as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
