"""The run's configuration: frozen dataclasses built once from the flags (ugatit/cli/), and what
derives from them without TensorFlow: model_dir, the lr schedule, size limits, presets, the
flags file saved beside every checkpoint, and the session configuration.

    Config.model     ModelConfig    the architecture: what a checkpoint's shapes depend on
    Config.train     TrainConfig    losses, optimiser and schedule
    Config.paths     PathConfig     dataset, checkpoint and output folders
    Config.runtime   RuntimeConfig  batch size, threads, XLA, Grappler, bfloat16
    Config.photo     PhotoConfig    the --input photo mode
    Config.download  DownloadConfig --phase download
    Config.eval      EvalConfig     --phase eval
    Config.video     VideoConfig    the --input video / camera mode (ugatit/apps/video.py, camera.py)
    Config.serve     ServeConfig    the web server of --phase serve (ugatit/apps/serve.py)
    Config.export    ExportConfig   --phase export --format (ugatit/infer/export.py, ugatit/infer/slim.py)
"""

import dataclasses
import json
import os
import re
from typing import Optional

MODEL_NAMES = {False: 'UGATIT', True: 'UGATIT_light'}
# The adversarial losses of --gan_type (ops.py builds them).
GAN_TYPES = ('gan', 'lsgan', 'wgan-gp', 'wgan-lp', 'dragan', 'hinge')


@dataclasses.dataclass(frozen=True)
class Direction:
    """One translation direction: the domain it reads, the domain it makes, and its generator."""
    name: str             # --direction: 'a2b' or 'b2a'
    source: str           # the domain it translates: 'A' (selfies) or 'B' (anime)
    target: str           # the domain it makes
    generator_scope: str  # the variable scope of its generator in a checkpoint
    opposite: str         # the other direction

    @property
    def source_split(self):
        """The test folder it translates: 'testA' or 'testB'."""
        return 'test' + self.source

    @property
    def target_split(self):
        """The test folder of real images of the domain it makes."""
        return 'test' + self.target


# The one table of directions. OFFICIAL CHECKPOINT QUIRK: the generators are named after the
# domain they make, so a2b (A -> B) is `generator_B` and b2a is `generator_A`.
DIRECTIONS = {
    'a2b': Direction('a2b', source='A', target='B', generator_scope='generator_B', opposite='b2a'),
    'b2a': Direction('b2a', source='B', target='A', generator_scope='generator_A', opposite='a2b'),
}


def domain_folder(dataset_dir, dataset, split):
    """`<dataset_dir>/<dataset>/<split>` (split: trainA, trainB, testA, testB): the dataset layout."""
    return os.path.join(dataset_dir, dataset, split)


# The flags a checkpoint's variables depend on: saved beside every checkpoint, and restored
# from there (FLAGS_FILE) when the user does not give them.
FLAGS_FILE = 'ugatit_flags.json'

# Presets: defaults for the flags the user did not give (given flags win).
# demo: the built-in generated dataset's small model, implied by `--dataset demo`, so that
#   `--phase test --dataset demo` finds the model `make demo` trained.
# cpu: `--preset cpu`, the CPU-sized selfie2anime recipe chosen by quality per CPU-hour
#   (docs/cpu_model.md "The recipe"): light, 128 px, ch 16, n_dis 4, 40,000 steps with the lr
#   decaying over the second half, and for --phase train bfloat16 convolutions where the CPU
#   computes them with AMX (float32 elsewhere, said at the start: ugatit/cli/phases.py check_bfloat16;
#   with AVX512-BF16 alone the bfloat16 step measured slower than float32).
#   The shipped model (models/) has its architecture (its long run: docs/cpu_model.md).
# cpu64: the first CPU recipe, light, 64 px, ch 32: the shipped model's until the long run replaced it.
# The CPU recipes' shared part: light, n_dis 4, 40 epochs of 1,000 steps, the lr decaying over the second half.
_CPU_RECIPE = dict(light=True, n_dis=4, epoch=40, iteration=1000, decay_epoch=20, print_freq=1000, save_freq=1000)
PRESETS = {
    'demo': dict(light=True, ch=16, img_size=64, n_dis=4, epoch=6, iteration=250, decay_epoch=3,
                 print_freq=250, save_freq=250),
    'cpu': dict(_CPU_RECIPE, ch=16, img_size=128, bfloat16=True),
    'cpu64': dict(_CPU_RECIPE, ch=32, img_size=64),
}
# Preset flags for --phase train only: bfloat16's speed and quality were measured in training,
# and test, photo and serve keep their float32 results unless --bfloat16 is given.
PRESET_TRAIN_ONLY = frozenset({'bfloat16'})
# The dataset whose name implies a preset when --preset is not given.
DATASET_PRESETS = {'demo': 'demo'}

# The model this project trained and ships, per dataset (docs/cpu_model.md): photo, video,
# camera and serve use it when they are given no --checkpoint and none exists for the flags.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED_MODELS = {'selfie2anime': os.path.join(PROJECT_ROOT, 'models', 'selfie2anime_cpu')}
# The preset whose architecture each shipped model has: taken when its flags file is lost.
SHIPPED_PRESETS = {'selfie2anime': 'cpu'}
# How a lost or damaged file of a shipped model is put back (they are files of the repository).
RESTORE_SHIPPED = '`git checkout models/` in the project folder'


def shipped_model_of(folder):
    """The --dataset whose shipped model (SHIPPED_MODELS) is `folder`, or None."""
    real = os.path.realpath(folder)
    return next((name for name, path in SHIPPED_MODELS.items() if os.path.realpath(path) == real), None)


def shipped_model_flags(dataset):
    """The architecture flags the shipped model of `dataset` was trained with (from its preset
    SHIPPED_PRESETS), a dict of ModelConfig's names."""
    preset = PRESETS[SHIPPED_PRESETS[dataset]]
    return {f.name: preset.get(f.name, f.default) for f in dataclasses.fields(ModelConfig)}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    light: bool = False     # U-GAT-IT light: global average pooling before the MLP
    ch: int = 64            # base channel number
    n_res: int = 4          # residual blocks in the encoder and in the decoder
    n_dis: int = 6          # levels of the global discriminator (the local one has n_dis - 2)
    img_size: int = 256     # square input and output side
    img_ch: int = 3         # input channels
    sn: bool = True         # spectral norm in the discriminators
    smoothing: bool = True  # AdaLIN uses clip(rho - 0.1, 0, 1)

    @property
    def model_name(self):
        """'UGATIT_light' or 'UGATIT': the checkpoint file prefix."""
        return MODEL_NAMES[self.light]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    gan_type: str = 'lsgan'     # adversarial loss (GAN_TYPES)
    adv_weight: int = 1         # loss weights
    cycle_weight: int = 10
    identity_weight: int = 10
    cam_weight: int = 1000
    GP_ld: int = 10             # gradient penalty weight
    n_critic: int = 1           # D steps per G step
    epoch: int = 100
    iteration: int = 10000      # steps per epoch
    print_freq: int = 1000      # sample grid every N steps
    save_freq: int = 1000       # checkpoint every N steps
    keep_every: int = 0         # also keep every N-th step's checkpoint in <run folder>/kept/; 0: off
    decay_flag: bool = True     # linear lr decay to 0 from decay_epoch
    decay_epoch: int = 50
    lr: float = 0.0001
    augment_flag: bool = True   # random flip / resize / crop
    seed: Optional[int] = None  # graph-level random seed; None: random
    diff_augment: str = ''      # DiffAugment policy before every discriminator call; '': off
    ema_decay: float = 0.0      # moving average of the generator weights (ugatit/model/average.py); 0: off


@dataclasses.dataclass(frozen=True)
class PathConfig:
    dataset: str = 'selfie2anime'
    dataset_dir: str = 'dataset'
    checkpoint_dir: str = 'checkpoint'
    checkpoint: Optional[str] = None  # a prefix or folder to restore instead of the official place
    raw_weights: bool = False         # translate with the raw generator weights, not their average
    result_dir: str = 'results'
    log_dir: str = 'logs'
    sample_dir: str = 'samples'
    export_dir: str = 'exported'


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    batch_size: int = 1         # images per session run (training and translation)
    xla: bool = False
    grappler: bool = True
    bfloat16: bool = False
    winograd: bool = False      # translating only: 3x3 convolutions by the compiled Winograd ops (ugatit/native)
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    take_over_lock: bool = False  # train in a checkpoint folder whose lock a dead process left
    towers: int = 1             # training: one graph copy per device (ugatit/train/towers.py)


@dataclasses.dataclass(frozen=True)
class PhotoConfig:
    input: Optional[str] = None
    direction: str = 'a2b'
    align_face: bool = False
    landmarks: Optional[str] = None
    face_padding: Optional[float] = None  # None: the model's face template (ugatit/infer/face_template.py)
    faces: str = 'largest'
    no_face: str = 'error'
    paste_back: bool = False
    contrast: float = 0
    brightness: float = 0
    show: bool = False
    upscale: object = None      # 1, 2, 4 or 'auto': enlarge the translations (ugatit/infer/upscale.py);
                                # None: to at least 256 px (photos, video, camera, serve), 2x (--phase upscale)
    upscale_noise: Optional[int] = None  # waifu2x denoising -1..3; None: 3 for translations, -1 for --phase upscale
    # waifu2x, anime4k or lanczos; chosen from `python -m ugatit.benchmarks.bench --what upscale` (docs/upscale.md)
    upscaler: str = 'waifu2x'
    # Translating only: each image and its mirror image through the generator, the two results
    # averaged (the second mirrored back); twice the generator's time (docs/photos.md).
    flip_average: bool = False


@dataclasses.dataclass(frozen=True)
class DownloadConfig:
    what: str = 'model'               # model (a released checkpoint) or dataset (ugatit/assets/dataset_download.py)
    model: str = 'selfie2anime-100'   # the released checkpoint (ugatit/assets/download.py SOURCES)
    source: str = 'auto'              # auto, gdrive or mirror
    archive: Optional[str] = None     # an already downloaded zip to unpack instead


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    eval_real: Optional[str] = None     # folder of real target-domain images
    eval_fake: Optional[str] = None     # folder of translations scored against eval_real
    eval_source: Optional[str] = None   # folder of real source-domain images (mean KID)
    inception: Optional[str] = None     # the Inception .tar.gz or .pb (default: cache, download)
    eval_freq: int = 0                  # training: score the test subset every N steps; 0: off
    eval_images: int = 100              # training: the first N files of testA and of testB


@dataclasses.dataclass(frozen=True)
class VideoConfig:
    smooth: bool = True
    smooth_cutoff: float = 0.5
    smooth_beta: float = 0.05
    fade_frames: int = 5
    camera_seconds: float = 0


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    host: str = '127.0.0.1'              # listen address; beyond localhost only when asked
    port: int = 8000
    keep_uploads: Optional[str] = None   # folder that keeps every upload; None: nothing kept


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    format: str = 'savedmodel'                  # --phase export: savedmodel (+ TFLite), checkpoint, onnx or web
    float16: bool = False                       # checkpoint: store the weights as float16
    average_with: str = ''                      # checkpoint: comma-separated prefixes whose generator weights are averaged in


@dataclasses.dataclass(frozen=True)
class Config:
    phase: str = 'train'
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    paths: PathConfig = PathConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    photo: PhotoConfig = PhotoConfig()
    download: DownloadConfig = DownloadConfig()
    eval: EvalConfig = EvalConfig()
    video: VideoConfig = VideoConfig()
    serve: ServeConfig = ServeConfig()
    export: ExportConfig = ExportConfig()
    given: frozenset = frozenset()  # the names of the flags given on the command line

    @property
    def model_dir(self):
        return model_dir_name(self.model, self.train, self.paths.dataset)

    @property
    def export_directions(self):
        """--phase export --format checkpoint, onnx or web: the generators exported, --direction's
        alone when it was given, else both."""
        return (self.photo.direction,) if 'direction' in self.given else tuple(DIRECTIONS)

    def run_folder(self, kind):
        """<kind>_dir/<model_dir>: this model's folder under --checkpoint_dir, --result_dir,
        --log_dir, --sample_dir or --export_dir (kind: 'checkpoint', 'result', 'log', 'sample', 'export')."""
        return os.path.join(getattr(self.paths, kind + '_dir'), self.model_dir)

    @classmethod
    def from_flags(cls, flags):
        """Build from a mapping (or argparse namespace) of flag name -> value; the names are the
        dataclasses' field names, and flags that no part has are ignored. `given`, when there,
        is the set of flag names given on the command line."""
        values = flags if isinstance(flags, dict) else vars(flags)
        parts = {}
        for part_name, part in _config_parts():
            parts[part_name] = part(**{f.name: values[f.name] for f in dataclasses.fields(part) if f.name in values})
        return cls(phase=values.get('phase', cls.phase), given=frozenset(values.get('given', ())), **parts)

    def replace_model(self, **changes):
        """A copy with some architecture flags changed."""
        return dataclasses.replace(self, model=dataclasses.replace(self.model, **changes))


def _config_parts():
    """(field name, dataclass) of each part of Config: ('model', ModelConfig), ..."""
    return [(f.name, type(f.default)) for f in dataclasses.fields(Config) if dataclasses.is_dataclass(f.default)]


def _flag_defaults():
    # Every flag is a field of one part of Config (and --phase of Config itself).
    defaults = {'phase': Config.phase}
    for _, part in _config_parts():
        defaults.update({f.name: f.default for f in dataclasses.fields(part)})
    return defaults


# Flag name -> default: the one place the defaults are declared is the dataclasses above; the
# parser of ugatit/cli/parser.py takes them from here.
FLAG_DEFAULTS = _flag_defaults()


def preset_name(values):
    """The preset a run uses: --preset, else the one its --dataset implies (DATASET_PRESETS), else None."""
    return values.get('preset') or DATASET_PRESETS.get(values.get('dataset'))


def apply_preset(values, explicit):
    """Flag values with the preset of `values` (preset_name) filling the flags not in `explicit`
    (the names the user gave); PRESET_TRAIN_ONLY flags only for --phase train. Returns a new dict."""
    preset = PRESETS.get(preset_name(values), {})
    training = values.get('phase') == 'train'
    return dict(values, **{k: v for k, v in preset.items()
                           if k not in explicit and (training or k not in PRESET_TRAIN_ONLY)})


def model_dir_name(model, train, dataset):
    """Official checkpoint/result folder name, e.g.
    UGATIT_light_selfie2anime_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing."""
    return '{}_{}_{}_{}resblock_{}dis_{}_{}_{}_{}_{}{}{}'.format(
        model.model_name, dataset, train.gan_type, model.n_res, model.n_dis, train.n_critic,
        train.adv_weight, train.cycle_weight, train.identity_weight, train.cam_weight,
        '_sn' if model.sn else '', '_smoothing' if model.smoothing else '')


def dataset_of_model_dir(name):
    """The --dataset a model_dir_name was made from ('UGATIT_light_demo_lsgan_4resblock_...' ->
    'demo'), or None for a name that is not one."""
    found = re.match(r'UGATIT(?:_light)?_(.+)_(?:%s)_\d+resblock_\d+dis_' % '|'.join(map(re.escape, GAN_TYPES)), name)
    return found.group(1) if found else None


##################################################################################
# The flags file beside each checkpoint
##################################################################################

def write_flags_file(folder, config, extra=None):
    """Write <folder>/FLAGS_FILE: the architecture, model_dir and loss flags of `config`, and
    the entries of the dict `extra` (e.g. the "slim" marker of ugatit/infer/slim.py)."""
    data = dict(extra or {})
    data.update({'model': dataclasses.asdict(config.model), 'model_dir': config.model_dir,
                 'dataset': config.paths.dataset,
                 'train': {k: getattr(config.train, k) for k in ('gan_type', 'adv_weight', 'cycle_weight',
                                                                 'identity_weight', 'cam_weight', 'n_critic')}})
    from utils import write_atomic
    path = os.path.join(folder, FLAGS_FILE)
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True))
    return path


# The entries write_flags_file writes (the "slim" marker only for ugatit/infer/slim.py exports).
FLAGS_FILE_KEYS = ('model', 'model_dir', 'dataset', 'train', 'slim')


def read_flags_file(folder):
    """(the architecture flags saved in <folder>/FLAGS_FILE as a dict, the keys of the file this
    version does not know, as 'name' or 'model.name', sorted); (None, []) if there is no such
    file. Raises ValueError for a file that is not the project's."""
    path = os.path.join(folder, FLAGS_FILE)
    if not os.path.isfile(path):
        return None, []
    try:
        with open(path) as f:
            data = json.load(f)
        model = data['model']
        flags = {f.name: model[f.name] for f in dataclasses.fields(ModelConfig)}
        unknown = [k for k in data if k not in FLAGS_FILE_KEYS] + ['model.' + k for k in model if k not in flags]
        problems = model_flag_problems(flags, 'key model.%s')
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        problems = ['%s: %s' % (type(exc).__name__, exc)]
    if problems:
        raise ValueError('%s is not a valid flags file (%s). Write it again with the flags the model was '
                         'trained with, or delete it: then the flags come from the command line and the '
                         'checkpoint\'s variable shapes' % (path, '; '.join(problems)))
    return flags, sorted(unknown)


def model_flag_problems(values, name='--%s'):
    """What makes architecture flag values (a dict of ModelConfig's names) unusable: a value of
    another type than the field's, or one the graph cannot be built with. Each problem names its
    flag by `name` % flag ('--ch' for the command line, 'key model.ch' for a flags file). The one
    check of these values, for the parser (ugatit/cli/validate.py) and the flags file alike."""
    problems, typed = [], {}
    for field in dataclasses.fields(ModelConfig):
        if field.name not in values:
            continue
        value = values[field.name]
        if type(value) is field.type:
            typed[field.name] = value
        else:
            problems.append('%s is %s, not %s' % (name % field.name, json.dumps(value),
                                                  'true or false' if field.type is bool else 'an integer'))
    for flag in ('ch', 'n_res', 'img_size'):
        if typed.get(flag, 1) < 1:
            problems.append('%s must be >= 1 (got %s)' % (name % flag, typed[flag]))
    return problems + _buildable_size_problems(typed, name)


def _buildable_size_problems(values, name):
    """model_flag_problems' checks of --img_size, --img_ch and --n_dis that the graph needs."""
    problems = []
    size = values.get('img_size')
    if size is not None and 1 <= size < MIN_GENERATOR_SIZE:
        problems.append('%s must be at least %d: the generator downsamples twice and pads by reflection '
                        '(got %d)' % (name % 'img_size', MIN_GENERATOR_SIZE, size))
    if size is not None and size >= 1 and size % 4:
        problems.append('%s must be a multiple of 4 (two stride-2 downsamplings, then two 2x upsamplings); '
                        'got %d' % (name % 'img_size', size))
    if values.get('img_ch', 3) != 3:
        problems.append('%s must be 3: the generators output RGB images (got %d)' % (name % 'img_ch', values['img_ch']))
    if values.get('n_dis', 3) < 3:
        problems.append('%s must be >= 3 (got %d)' % (name % 'n_dis', values['n_dis']))
    return problems


def merge_saved_flags(config, saved, explicit, source):
    """Config whose architecture flags come from `saved` (read_flags_file) where the user gave
    none; a given flag that disagrees raises ValueError naming both values.

    Returns (config, the lines that say which flags were taken over)."""
    conflicts, taken = [], []
    for name, value in saved.items():
        current = getattr(config.model, name)
        if current == value:
            continue
        if name in explicit:
            conflicts.append('--%s %s was given, but the checkpoint was trained with --%s %s'
                             % (name, current, name, value))
        else:
            taken.append('--%s %s' % (name, value))
    if conflicts:
        raise ValueError('%s (from %s). Leave the flag out to use the checkpoint\'s value, or '
                         'restore another checkpoint.' % ('; '.join(conflicts), source))
    if not taken:
        return config, []
    config = config.replace_model(**saved)
    return config, [' [*] Architecture flags from %s: %s' % (source, ' '.join(taken))]


##################################################################################
# Derived quantities
##################################################################################

def learning_rate(epoch, init_lr, decay_flag, decay_epoch, total_epochs):
    """Official schedule: constant, then linear decay to 0 from decay_epoch (when decay_flag)."""
    if not decay_flag or epoch < decay_epoch:
        return init_lr
    return init_lr * (total_epochs - epoch) / (total_epochs - decay_epoch)


# The smallest image the generator can translate: 7x7 reflect padding by 3, then two stride-2
# downsamplings, leave a 2x2 bottleneck, the least the residual blocks' reflect padding takes.
MIN_GENERATOR_SIZE = 8


def min_img_size(n_dis):
    """Smallest --img_size whose global discriminator (n_dis levels) can be built."""
    size = 8
    while not _discriminator_fits(size, n_dis):
        size += 4
    return size


def _discriminator_fits(img_size, n_dis):
    # n_dis - 1 stride-2 4x4 convs with reflect pad 1 (needs side >= 2), then two 4x4 convs with
    # reflect pad (1, 2) (needs side >= 3; the official code fails there at 64 px with n_dis 6).
    side = img_size
    for _ in range(n_dis - 1):
        if side < 2:
            return False
        side = (side + 2 - 4) // 2 + 1
    return side >= 3


def _conv(kernel, inputs, outputs):
    """Weights of a convolution with a bias."""
    return kernel * kernel * inputs * outputs + outputs


def generator_weights(model):
    """The number of trainable weights of one generator of `model` (ModelConfig), from the
    architecture of ugatit/model/model.py (tests/unit/test_train_graph.py checks it)."""
    c, n, bottleneck = model.ch, model.n_res, 4 * model.ch
    encoder = _conv(7, model.img_ch, c) + 2 * c + _conv(3, c, 2 * c) + 4 * c + _conv(3, 2 * c, 4 * c) + 8 * c
    residual = n * 2 * (_conv(3, bottleneck, bottleneck) + 2 * bottleneck)           # conv + IN beta, gamma
    cam = bottleneck + 1 + _conv(1, 2 * bottleneck, bottleneck)
    mlp_in = bottleneck if model.light else bottleneck * (model.img_size // 4) ** 2
    mlp = (mlp_in + 1) * bottleneck + 3 * (bottleneck + 1) * bottleneck
    adaptive = n * 2 * (_conv(3, bottleneck, bottleneck) + bottleneck)              # conv + AdaLIN rho
    decoder = _conv(3, 4 * c, 2 * c) + 3 * 2 * c + _conv(3, 2 * c, c) + 3 * c + _conv(7, c, 3)
    return encoder + residual + cam + mlp + adaptive + decoder


def discriminator_weights(model):
    """The number of trainable weights of one discriminator (its local and global branches)."""
    return sum(_branch_weights(model.ch, levels) for levels in (model.n_dis - 2, model.n_dis))


def _branch_weights(ch, levels):
    """One PatchGAN branch of `levels` levels with its CAM head (UGATIT._discriminator_branch)."""
    weights, channel = _conv(4, 3, ch), ch
    for _ in range(1, levels - 1):
        weights, channel = weights + _conv(4, channel, 2 * channel), 2 * channel
    weights, channel = weights + _conv(4, channel, 2 * channel), 2 * channel
    return weights + channel + 1 + _conv(1, 2 * channel, channel) + _conv(4, channel, 1)


def weights_built(model, training):
    """The trainable weights a run builds: two generators, and for training two discriminators."""
    return 2 * generator_weights(model) + (2 * discriminator_weights(model) if training else 0)


def memory_floor(model, batch_size, training):
    """A lower bound of the bytes of host memory a run of `model` needs: its float32 weights
    (weights_built; the checkpoint is read and written through host memory, on a GPU too) and
    one float32 input batch (both domains when training), which the input pipeline holds in
    host memory. A run needs several times this; one that needs more than the machine has
    cannot start."""
    images = (2 if training else 1) * batch_size * model.img_size ** 2 * model.img_ch
    return 4 * (weights_built(model, training) + images)


def physical_memory_bytes():
    """The machine's physical memory in bytes, or None where it cannot be read."""
    try:
        return os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (ValueError, OSError, AttributeError):
        return None


def cpu_flags(cpuinfo='/proc/cpuinfo'):
    """The CPU's feature flags from Linux's /proc/cpuinfo (a set of words; empty elsewhere)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_native_bfloat16(cpuinfo='/proc/cpuinfo'):
    """True when the CPU has native bfloat16 instructions (AVX512-BF16 or AMX-BF16), read from
    Linux's /proc/cpuinfo (False elsewhere). --bfloat16 is offered only there: it was measured
    only there."""
    return bool(cpu_flags(cpuinfo) & {'avx512_bf16', 'amx_bf16'})


def cpu_has_amx_bfloat16(cpuinfo='/proc/cpuinfo'):
    """True when the CPU has AMX bfloat16 tiles (amx_bf16), the only CPUs where bfloat16 training
    measured clearly faster than float32 (docs/cpu_model.md): --preset cpu turns --bfloat16 on only there."""
    return 'amx_bf16' in cpu_flags(cpuinfo)


def session_config(runtime=RuntimeConfig()):
    """tf.compat.v1.ConfigProto for a RuntimeConfig: thread pools (0 = TensorFlow's choice),
    optional XLA JIT, soft placement (so CPU-only ops fall back on a GPU machine), on-demand GPU
    memory and whether Grappler rewrites the graph before the first run. (--bfloat16 is not a
    session option: the graph is built with bfloat16 convolutions, ops.bfloat16_convolutions.)"""
    import tensorflow as tf
    config = tf.compat.v1.ConfigProto(allow_soft_placement=True,
                                      intra_op_parallelism_threads=runtime.intra_op_threads,
                                      inter_op_parallelism_threads=runtime.inter_op_threads)
    config.gpu_options.allow_growth = True
    # Two of Grappler's rewrites cost memory here and save no time (measured at 256 px, see
    # docs/performance.md): constant folding makes constants, which the session keeps for
    # good, of zero-filled tensors such as the Adam slots' initial values, and variables
    # initialised from them are copied on their first update (0.7 GB more in use after the
    # first training steps); the memory optimiser rewrites each large sum of gradients into an
    # accumulator started from a zero constant of the same size (0.4 GB). Keep only the memory
    # optimiser's GPU swapping.
    rewrite = config.graph_options.rewrite_options
    rewrite.constant_folding = rewrite.OFF
    rewrite.memory_optimization = rewrite.SWAPPING_HEURISTICS
    if runtime.xla:
        config.graph_options.optimizer_options.global_jit_level = tf.compat.v1.OptimizerOptions.ON_1
    if not runtime.grappler:
        rewrite.disable_meta_optimizer = True
    return config
