"""The flags of main.py: the parser, one function per flag group, and argv -> Config.

The defaults are the Config dataclasses' (ugatit/config.py FLAG_DEFAULTS), declared there once.
"""

import argparse
import sys

from ugatit.config import FLAG_DEFAULTS as DEFAULTS
from ugatit.config import DIRECTIONS, GAN_TYPES, PRESETS, Config, apply_preset, preset_name
from utils import str2bool

PHASES = ('train', 'test', 'export', 'download', 'eval', 'upscale', 'serve')

# The epilog of --help.
EXAMPLES = """
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


class PrintFlagsDoc(argparse.Action):
    """--help-flags md: print the flags reference of ugatit/flags_doc.py and exit, as --help does."""

    def __call__(self, parser, namespace, values, option_string=None):
        from ugatit.flags_doc import flags_markdown
        sys.stdout.write(flags_markdown(parser))
        parser.exit()


def build_parser():
    """The argparse parser of main.py, its flags added group by group in --help's order."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,  # explicit_flags() must see every flag the user gave by its full name
        description='TensorFlow (tf.compat.v1 graph mode) implementation of U-GAT-IT.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='examples:' + EXAMPLES)
    for add_flags in (add_run_flags, add_schedule_flags, add_loss_flags, add_architecture_flags,
                      add_folder_flags, add_runtime_flags):
        add_flags(parser.add_argument)
    add_photo_flags(parser.add_argument_group('translating photos (--phase test --input PATH)').add_argument)
    add_download_flags(parser.add_argument_group('released checkpoints and dataset (--phase download)').add_argument)
    add_eval_flags(parser.add_argument_group('KID and FID (--phase eval; docs/evaluation.md)').add_argument)
    add_video_flags(parser.add_argument_group(
        'translating videos (--input clip.mp4) and a camera (--input camera:0)').add_argument)
    add_serve_flags(parser.add_argument_group('the web page and API (--phase serve, docs/serve.md)').add_argument)
    return parser


def add_run_flags(add):
    """What to run, on which data."""
    add('--help-flags', choices=('md',), action=PrintFlagsDoc, default=argparse.SUPPRESS,
        help='print the flags as a Markdown reference (docs/flags.md) and exit')
    add('--phase', type=str, default=DEFAULTS['phase'], choices=PHASES,
        help='train; test; export a generator as SavedModel + TFLite; download a released checkpoint (or, '
             'with --what dataset, the selfie2anime dataset); '
             'eval: KID and FID; upscale --input images; serve a web page (default: %(default)s)')
    add('--light', type=str2bool, default=DEFAULTS['light'], help='U-GAT-IT light (GAP before the MLP) instead of full (default: %(default)s)')
    add('--dataset', type=str, default=DEFAULTS['dataset'], help='dataset name: folder under --dataset_dir (default: %(default)s)')
    add('--preset', type=str, default=None, choices=sorted(PRESETS),
        help='defaults for the flags not given: cpu = the CPU-sized selfie2anime recipe (light, 128 px, ch 16, '
             'n_dis 4, 40,000 steps, and for training --bfloat16 where the CPU has it, else float32; '
             'docs/cpu_model.md; the shipped model\'s architecture); cpu64 = the former CPU recipe (light, 64 px, '
             'ch 32, n_dis 4, 40,000 steps); demo is implied by --dataset demo (default: none)')
    add('--dataset_dir', type=str, default=DEFAULTS['dataset_dir'], help='folder holding the datasets (default: %(default)s)')


def add_schedule_flags(add):
    """Steps, batch, sample and checkpoint frequency, learning-rate decay."""
    add('--epoch', type=int, default=DEFAULTS['epoch'], help='number of epochs (default: %(default)s)')
    add('--iteration', type=int, default=DEFAULTS['iteration'], help='iterations per epoch (default: %(default)s)')
    add('--batch_size', type=int, default=DEFAULTS['batch_size'], help='batch size (default: %(default)s)')
    add('--print_freq', type=int, default=DEFAULTS['print_freq'], help='write a sample grid every N steps (default: %(default)s)')
    add('--save_freq', type=int, default=DEFAULTS['save_freq'], help='save a checkpoint every N steps (default: %(default)s)')
    add('--keep_every', type=int, default=DEFAULTS['keep_every'],
        help='also keep the checkpoint of every N-th step in <checkpoint_dir>/<model_dir>/kept/, where the '
             'rotation of the last 5 never removes it (hard links, no extra space), for scoring and '
             '--average_with; a multiple of --save_freq; 0: off (default: %(default)s)')
    add('--decay_flag', type=str2bool, default=DEFAULTS['decay_flag'], help='decay the learning rate linearly to 0 (default: %(default)s)')
    add('--decay_epoch', type=int, default=DEFAULTS['decay_epoch'], help='epoch where the decay starts (default: %(default)s)')


def add_loss_flags(add):
    """Learning rate and losses."""
    add('--lr', type=float, default=DEFAULTS['lr'], help='learning rate (default: %(default)s)')
    add('--GP_ld', type=int, default=DEFAULTS['GP_ld'], help='gradient penalty weight (default: %(default)s)')
    add('--adv_weight', type=int, default=DEFAULTS['adv_weight'], help='weight of the adversarial loss (default: %(default)s)')
    add('--cycle_weight', type=int, default=DEFAULTS['cycle_weight'], help='weight of the cycle loss (default: %(default)s)')
    add('--identity_weight', type=int, default=DEFAULTS['identity_weight'], help='weight of the identity loss (default: %(default)s)')
    add('--cam_weight', type=int, default=DEFAULTS['cam_weight'], help='weight of the CAM loss (default: %(default)s)')
    add('--gan_type', type=str, default=DEFAULTS['gan_type'], choices=GAN_TYPES, help='adversarial loss (default: %(default)s)')
    add('--smoothing', type=str2bool, default=DEFAULTS['smoothing'], help='AdaLIN smoothing: rho - 0.1 (default: %(default)s)')


def add_architecture_flags(add):
    """The networks and their inputs: what a checkpoint's shapes depend on, and augmentation."""
    add('--ch', type=int, default=DEFAULTS['ch'], help='base channel number (default: %(default)s)')
    add('--n_res', type=int, default=DEFAULTS['n_res'], help='number of residual blocks (default: %(default)s)')
    add('--n_dis', type=int, default=DEFAULTS['n_dis'], help='number of discriminator layers (default: %(default)s)')
    add('--n_critic', type=int, default=DEFAULTS['n_critic'], help='D steps per G step (default: %(default)s)')
    add('--sn', type=str2bool, default=DEFAULTS['sn'], help='spectral norm in the discriminators (default: %(default)s)')

    add('--img_size', type=int, default=DEFAULTS['img_size'], help='image size (default: %(default)s)')
    add('--img_ch', type=int, default=DEFAULTS['img_ch'], help='image channels (default: %(default)s)')
    add('--augment_flag', type=str2bool, default=DEFAULTS['augment_flag'], help='random flip/resize/crop augmentation (default: %(default)s)')
    add('--diff_augment', type=str, default=DEFAULTS['diff_augment'],
        help="DiffAugment policy applied to real and translated images before every discriminator call, e.g. "
             "'color,translation,cutout' (docs/diffaugment.md); empty: off, as the official code (default: %(default)r)")
    add('--ema_decay', type=float, default=DEFAULTS['ema_decay'],
        help='keep an exponential moving average of the generator weights with this decay, e.g. 0.999, saved in the '
             'checkpoint beside them and used to translate (docs/training.md); 0: off, as the official code '
             '(default: %(default)s)')


def add_folder_flags(add):
    """Checkpoint, result, log, sample and export folders, and the export format."""
    add('--checkpoint_dir', type=str, default=DEFAULTS['checkpoint_dir'], help='checkpoint folder (default: %(default)s)')
    add('--checkpoint', type=str, default=DEFAULTS['checkpoint'],
        help='checkpoint prefix or folder to restore instead of <checkpoint_dir>/<model_dir> (default: %(default)s)')
    add('--raw_weights', type=str2bool, default=DEFAULTS['raw_weights'],
        help='translate with the raw generator weights even when the checkpoint holds their moving average '
             '(--ema_decay) (default: %(default)s)')
    add('--result_dir', type=str, default=DEFAULTS['result_dir'], help='folder for test results (default: %(default)s)')
    add('--log_dir', type=str, default=DEFAULTS['log_dir'], help='folder for TensorBoard logs (default: %(default)s)')
    add('--sample_dir', type=str, default=DEFAULTS['sample_dir'], help='folder for training samples (default: %(default)s)')
    add('--export_dir', type=str, default=DEFAULTS['export_dir'], help='folder for --phase export (default: %(default)s)')
    add('--format', type=str, default=DEFAULTS['format'], choices=('savedmodel', 'checkpoint', 'onnx', 'web'),
        help='--phase export: savedmodel (SavedModel + TFLite of --direction); checkpoint: a generators-only '
             'checkpoint (docs/slim_checkpoint.md); onnx: ONNX models, float32 and float16 weights; web: the page '
             'with the model running in the browser, a static folder (docs/web.md); the last three export both '
             'directions unless --direction is given (default: %(default)s)')
    add('--float16', type=str2bool, nargs='?', const=True, default=DEFAULTS['float16'],
        help='--format checkpoint: store the weights as float16, half the size (default: %(default)s)')
    add('--average_with', type=str, default=DEFAULTS['average_with'], metavar='PREFIX[,PREFIX...]',
        help='--format checkpoint: write the uniform mean of the generator weights of the exported checkpoint and '
             'of these checkpoints (other steps of the same run, as saved: averaged weights unless --raw_weights; '
             'docs/slim_checkpoint.md) (default: none)')


def add_runtime_flags(add):
    """Seed, graph compilation and rewriting, threads, locking, devices, console."""
    add('--seed', type=int, default=DEFAULTS['seed'],
        help='graph-level random seed (initialisation, shuffling, augmentation); none: random as the official code (default: %(default)s)')
    add('--xla', type=str2bool, default=DEFAULTS['xla'], help='compile the graph with XLA JIT (default: %(default)s)')
    add('--grappler', type=str2bool, default=DEFAULTS['grappler'],
        help="let TensorFlow's Grappler rewrite the graph (constant folding and the memory optimiser's AddN "
             'rewrite stay off: they cost memory); false: no rewrite at all, which measured no change in time '
             'or memory (default: %(default)s)')
    add('--bfloat16', type=str2bool, default=DEFAULTS['bfloat16'],
        help='run the convolutions in bfloat16 (weights, optimiser and every other op stay float32) on a CPU '
             'that computes it natively (AVX512-BF16 or AMX); faster with AMX, slower or barely faster without it (measured), '
             'results differ slightly from float32 '
             '(docs/performance.md); checked against float32 on this CPU at start; not for --phase export; '
             '--preset cpu turns it on for training where the CPU has AMX and passes these checks (without AMX it '
             'measured slower than float32, or at most 6 %% faster) (default: %(default)s)')
    add('--winograd', type=str2bool, default=DEFAULTS['winograd'],
        help='translate with the 3x3 stride-1 convolutions computed by Winograd F(4x4, 3x3): C++ ops built '
             'for this CPU on first use (needs g++) and checked against tf.nn.conv2d at start; about 2x faster '
             'generator forwards on a CPU (measured), results within float rounding of the default '
             '(docs/performance.md); for test, photo, video, camera, serve and eval, not train or export '
             '(default: %(default)s)')
    add('--intra_op_threads', type=int, default=DEFAULTS['intra_op_threads'], help='threads inside one op; 0: TensorFlow decides (default: %(default)s)')
    add('--inter_op_threads', type=int, default=DEFAULTS['inter_op_threads'], help='ops run in parallel; 0: TensorFlow decides (default: %(default)s)')
    add('--take_over_lock', type=str2bool, default=DEFAULTS['take_over_lock'],
        help='train in a checkpoint folder whose lock was left by a process that no longer runs (default: %(default)s)')
    add('--towers', type=int, default=DEFAULTS['towers'],
        help='train on this many GPUs of this machine, --batch_size images each, gradients averaged '
             '(docs/multi_device.md); without a GPU the CPU is split, for testing (default: %(default)s)')
    add('--verbose', type=str2bool, default=False,
        help="also print TensorFlow's own log lines and deprecation warnings (also: environment variable "
             'UGATIT_VERBOSE=1) (default: %(default)s)')


def add_photo_flags(add):
    """--phase test --input PATH: photos, faces, contrast, enlargement."""
    from ugatit.infer.upscale import UPSCALERS, parse_factor
    add('--input', type=str, default=DEFAULTS['input'], help='an image, a folder or a quoted glob to translate instead of testA/testB')
    add('--direction', type=str, default=DEFAULTS['direction'], choices=tuple(DIRECTIONS),
        help='a2b: domain A -> B (selfie -> anime); b2a: B -> A (default: %(default)s)')
    add('--align_face', type=str2bool, nargs='?', const=True, default=DEFAULTS['align_face'],
        help='detect faces with dlib and translate aligned face chips (default: %(default)s)')
    add('--landmarks', type=str, default=DEFAULTS['landmarks'],
        help='dlib 5-point shape predictor .dat (default: the one of face-recognition-models)')
    add('--face_padding', type=float, default=DEFAULTS['face_padding'],
        help='cut the face chip as dlib.get_face_chip does with this padding (0.65: the original demo\'s) instead '
             'of the framing of the model\'s training photos (its face template, docs/photos.md) (default: the template)')
    add('--faces', type=str, default=DEFAULTS['faces'], choices=('largest', 'all'), help='faces per photo (default: %(default)s)')
    add('--no_face', type=str, default=DEFAULTS['no_face'], choices=('error', 'skip', 'center'),
        help='photo without a face: report an error, skip it, or use the centre crop (default: %(default)s)')
    add('--paste_back', type=str2bool, nargs='?', const=True, default=DEFAULTS['paste_back'],
        help='also write the photo with the translated face(s) put back (default: %(default)s)')
    add('--contrast', type=float, default=DEFAULTS['contrast'], help='contrast boost before translating; the original demo used 30 (default: %(default)s)')
    add('--brightness', type=float, default=DEFAULTS['brightness'], help='brightness shift before translating (default: %(default)s)')
    add('--show', type=str2bool, nargs='?', const=True, default=DEFAULTS['show'], help='open each figure in a window (default: %(default)s)')
    add('--flip_average', type=str2bool, default=DEFAULTS['flip_average'],
        help='translate each image and its mirror image and average the two (the second mirrored back): less '
             'colour noise, a lower relative KID for the shipped model (measured), twice the generator time; '
             'for test, photo, video, camera, serve and eval, not train or export (docs/photos.md) '
             '(default: %(default)s)')
    add('--upscale', type=parse_factor, default=DEFAULTS['upscale'], metavar='{1,2,4,auto}',
        help='enlarge results 1, 2 or 4 times, or auto: each face to its size in the photo (docs/upscale.md) '
             '(default: translations to at least 256 px, i.e. 4 for a 64 px model, 2 for a 128 px one (the '
             'shipped model) and 1 for a 256 px one; 2 for --phase upscale)')
    add('--upscaler', type=str, default=DEFAULTS['upscaler'], choices=UPSCALERS,
        help='super-resolution for --upscale; videos and the camera use lanczos unless this is given, to stay '
             'live (default: %(default)s)')
    add('--upscale_noise', type=int, default=DEFAULTS['upscale_noise'], choices=(-1, 0, 1, 2, 3),
        help='waifu2x denoising level: -1 none, 3 the strongest (default: 3 for translations, whose colour noise '
             'it flattens; -1 for --phase upscale)')


def add_download_flags(add):
    """--phase download: a released checkpoint or the dataset."""
    add('--what', type=str, default=DEFAULTS['what'], choices=('model', 'dataset'),
        help='model: a released checkpoint (--model); dataset: the authors\' selfie2anime dataset into '
             '--dataset_dir/--dataset (docs/dataset.md) (default: %(default)s)')
    add('--model', type=str, default=DEFAULTS['model'], choices=('selfie2anime-100', 'selfie2anime-50'),
        help='the released checkpoint to download into --checkpoint_dir: selfie2anime-100 trained 100 epochs, '
             'selfie2anime-50 50 epochs (default: %(default)s)')
    add('--source', type=str, default=DEFAULTS['source'], choices=('auto', 'gdrive', 'mirror'),
        help='auto: Google Drive, then the Hugging Face mirror (default: %(default)s)')
    add('--archive', type=str, default=DEFAULTS['archive'], help='unpack this already downloaded zip (checkpoint or dataset) '
        'instead of downloading')


def add_eval_flags(add):
    """--phase eval, and the periodic evaluation during training."""
    add('--eval_real', type=str, default=DEFAULTS['eval_real'], help='folder of real images of the target domain')
    add('--eval_fake', type=str, default=DEFAULTS['eval_fake'], help='folder of translated images to score against --eval_real')
    add('--eval_source', type=str, default=DEFAULTS['eval_source'],
        help="optional folder of real source-domain images: adds the authors' source-weighted mean KID")
    add('--inception', type=str, default=DEFAULTS['inception'],
        help="TF-GAN's frozen_inception_v1_2015_12_05.tar.gz or its inceptionv1_for_inception_score.pb "
             '(default: the cache folder, else downloaded into it)')
    add('--eval_freq', type=int, default=DEFAULTS['eval_freq'],
        help='training: score a fixed subset of the test images every N steps and at the end (KID/FID with '
             'a local Inception graph, else L1/PSNR against ground truth); 0: off (default: %(default)s)')
    add('--eval_images', type=int, default=DEFAULTS['eval_images'],
        help='training with --eval_freq: the first N files of testA and of testB (default: %(default)s)')


def add_video_flags(add):
    """Flags of the video and camera mode (--input clip.mp4 or --input camera:N; docs/video.md)."""
    add('--smooth', type=str2bool, default=DEFAULTS['smooth'], help='smooth the face alignment over time (One-Euro filter) (default: %(default)s)')
    add('--smooth_cutoff', type=float, default=DEFAULTS['smooth_cutoff'], help='One-Euro cut-off at rest in Hz: lower is steadier, lags more (default: %(default)s)')
    add('--smooth_beta', type=float, default=DEFAULTS['smooth_beta'], help='One-Euro speed coefficient: higher follows fast motion sooner (default: %(default)s)')
    add('--fade_frames', type=int, default=DEFAULTS['fade_frames'], help='frames over which a face fades in or out (default: %(default)s)')
    add('--camera_seconds', type=float, default=DEFAULTS['camera_seconds'], help='stop the camera after this long; 0: at q or Ctrl-C (default: %(default)s)')


def add_serve_flags(add):
    """--phase serve: the web page and API."""
    add('--host', type=str, default=DEFAULTS['host'],
        help='address to listen on; 0.0.0.0 exposes the page to the network (default: %(default)s)')
    add('--port', type=int, default=DEFAULTS['port'], help='port to listen on (default: %(default)s)')
    add('--keep_uploads', type=str, default=DEFAULTS['keep_uploads'],
        help='folder that keeps a copy of every upload; none: nothing is kept on disk (default: %(default)s)')


def explicit_flags(argv):
    """The names of the flags given on the command line (`--name value` or `--name=value`)."""
    return frozenset(arg[2:].split('=', 1)[0] for arg in argv if arg.startswith('--'))


def parse_args(argv=None, exit_on_error=True):
    """Parse and validate the flags, with the preset of --preset or --dataset (ugatit.config.PRESETS)
    filling the flags not given. Returns the argparse namespace, whose `given` holds the names of
    the flags on the command line; exits with status 2 on a bad flag, or with exit_on_error=False
    raises UserError with argparse's message and prints nothing (the Python API, ugatit/api.py)."""
    from ugatit.cli.validate import validate
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not exit_on_error:
        parser.error = _raise_user_error
    args = parser.parse_args(argv)
    given = explicit_flags(argv)
    if preset_name(vars(args)):
        args = argparse.Namespace(**apply_preset(vars(args), given))
    errors = validate(args)
    if errors:
        parser.error('\n  '.join(errors))
    args.given = given
    return args


def parse_config(argv=None, exit_on_error=True):
    """The run's frozen Config from the command line (see parse_args)."""
    return Config.from_flags(parse_args(argv, exit_on_error))


def _raise_user_error(message):
    """argparse's error(), as an exception instead of a usage text and exit status 2."""
    from ugatit.errors import UserError
    raise UserError(message)


def verbose_requested(argv):
    """The --verbose flag of argv, read before anything imports TensorFlow (quiet_console must
    come first), by the run's own parser: a bad value fails here as it would later."""
    return build_parser().parse_known_args(argv)[0].verbose
