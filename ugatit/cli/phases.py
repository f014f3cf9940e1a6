"""What main.py runs: one table from a phase and its mode to the function that runs it.

Runners are named by dotted path and imported only when run, so that `--help` and the phases
without a model never import TensorFlow.
"""

import collections
import dataclasses
import importlib
import os

from ugatit.apps.video_io import is_video_path
from ugatit.errors import UserError
from utils import printable

# target: 'module:function', called with the Config. restores_model: the run restores a model of
# the flags (it gets graph mode, the device line, the demo data, the shipped model and the flags
# saved beside the checkpoint first). exit_status: the function returns the exit status; else
# what it returns is a result, and the exit status is 0.
Runner = collections.namedtuple('Runner', 'target restores_model exit_status')

RUNNERS = {
    ('train', None): Runner('ugatit.train.train:run_training', True, True),
    ('test', 'dataset'): Runner('ugatit.infer.testing:run_test', True, False),
    ('test', 'photos'): Runner('ugatit.infer.photo:run_photos', True, True),
    ('test', 'video'): Runner('ugatit.apps.video:run_video', True, True),
    ('test', 'camera'): Runner('ugatit.apps.camera:run_camera', True, True),
    ('export', 'savedmodel'): Runner('ugatit.infer.export:export', True, False),
    ('export', 'checkpoint'): Runner('ugatit.infer.slim:export_slim', True, False),
    ('export', 'onnx'): Runner('ugatit.infer.onnx_export:export_onnx', True, False),
    ('export', 'web'): Runner('ugatit.infer.web_export:export_web', True, False),
    ('eval', 'model'): Runner('ugatit.eval.eval_model:run_eval_model', True, True),
    ('eval', 'folders'): Runner('ugatit.eval.metrics:run_eval_folders', False, True),
    ('download', 'model'): Runner('ugatit.assets.download:run_download', False, True),
    ('download', 'dataset'): Runner('ugatit.assets.dataset_download:run_dataset_download', False, True),
    ('upscale', None): Runner('ugatit.apps.upscale_phase:run_upscale', False, True),
    ('serve', None): Runner('ugatit.apps.serve:serve', True, True),
}


def mode_of(config):
    """The key of RUNNERS for config: (phase, mode), where the mode is, for
    test: what --input is (none: 'dataset', the test folders; 'camera', 'video' or 'photos');
    eval: 'folders' with --eval_real/--eval_fake, else 'model' (the flags' model translates);
    download: --what; export: --format; the other phases have one mode, None."""
    if config.phase == 'test':
        source = config.photo.input
        if source is None:
            return 'test', 'dataset'
        if source.startswith('camera:'):
            return 'test', 'camera'
        return 'test', 'video' if is_video_path(source) else 'photos'
    if config.phase == 'eval':
        return 'eval', 'model' if config.eval.eval_real is None else 'folders'
    if config.phase == 'download':
        return 'download', config.download.what
    if config.phase == 'export':
        return 'export', config.export.format
    return config.phase, None


def run_phase(config):
    """Run the runner of config's mode (RUNNERS), after model_run_set_up when it restores a model
    of the flags; returns the exit status."""
    runner = RUNNERS[mode_of(config)]
    if runner.restores_model:
        config = model_run_set_up(config)
    module, function = runner.target.split(':')
    result = getattr(importlib.import_module(module), function)(config)
    return result if runner.exit_status else 0


def model_run_set_up(config):
    """Before a run that restores a model of the flags: the demo data when it is needed, graph
    mode, the device line, the bfloat16 and Winograd checks; returns config with the shipped model when the
    user has none (with_shipped_model) and the flags saved beside the checkpoint (with_saved_flags)."""
    if config.paths.dataset == 'demo' and config.photo.input is None and config.phase != 'serve':
        from ugatit.assets.demo_data import ensure_demo_dataset
        try:
            ensure_demo_dataset(os.path.join(config.paths.dataset_dir, 'demo'))
        except ValueError as exc:
            raise UserError(str(exc))
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    return with_saved_flags(with_shipped_model(check_runtime_options(config)))


def check_runtime_options(config):
    """The device line, then config as check_bfloat16 leaves it, after check_winograd."""
    device = log_device()
    config = check_bfloat16(config, device)
    check_winograd(config, device)
    return config


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


# Largest relative error (ops.bfloat16_convolution_error) a --bfloat16 run accepts from this
# CPU's bfloat16 convolutions. bfloat16 rounds each value by up to 2**-9 (0.2 %); measured on an
# Intel Xeon with AMX: forward 0.3 %, input gradient 1.1 %, kernel gradient 1.7 % (sums of
# products of rounded values). A broken kernel (a wrong layout, truncation to a few bits) is off
# by tens of per cent.
BFLOAT16_TOLERANCE = 0.05


def check_bfloat16(config, device):
    """config, unless --bfloat16 is on and this machine cannot be trusted with it: no GPU in use,
    a CPU that computes bfloat16 natively, and its bfloat16 convolutions within BFLOAT16_TOLERANCE
    of float32 (the self-check). A --bfloat16 the user gave raises UserError there; one from a
    preset (--preset cpu) gives way to float32, said, and the returned config has it off. A
    preset's also gives way on a CPU without AMX, where it would be slower (preset_bfloat16_refusal)."""
    if not config.runtime.bfloat16:
        return config
    given = 'bfloat16' in config.given
    slower_here = None if device == 'GPU' else preset_bfloat16_refusal()
    # A preset's bfloat16 on an AVX512-BF16-only CPU gives way before the self-check is run.
    reason = (None if given else slower_here) or bfloat16_refusal(device)
    if reason is None:
        if given and slower_here:
            print(' [*] Note: --bfloat16 on a CPU without AMX: %s; --bfloat16 false may be faster here'
                  % NO_AMX_TRAINING_MEASURED)
        return config
    if given:
        raise UserError('--bfloat16 %s. Run without --bfloat16.' % reason)
    print(' [*] Training in float32: the preset\'s --bfloat16 %s' % reason)
    return dataclasses.replace(config, runtime=dataclasses.replace(config.runtime, bfloat16=False))


def check_winograd(config, device):
    """With --winograd: build (once per CPU) and self-check the compiled Winograd ops, which the
    Translator then uses (ugatit.native.winograd_library); a machine where they cannot be used
    raises UserError saying why and what to do."""
    if not config.runtime.winograd:
        return
    if device == 'GPU':
        raise UserError('--winograd computes on the CPU and TensorFlow uses a GPU here; run without --winograd')
    from ugatit import native
    try:
        _, error = native.checked_winograd()
    except native.NativeOpError as error:
        raise UserError('--winograd: %s. Or run without --winograd (tf.nn.conv2d, the default).' % error)
    print(' [*] Winograd self-check: the compiled 3x3 convolution is within %.1e of tf.nn.conv2d on this CPU '
          '(allowed %.0e)' % (error, native.WINOGRAD_TOLERANCE))


def bfloat16_refusal(device):
    """Why --bfloat16 cannot be used on this machine (words that follow '--bfloat16 '), or None
    when it can: not on a GPU, nor a CPU without native bfloat16, nor one failing the self-check."""
    from ugatit import config as config_module
    if device == 'GPU' or not config_module.cpu_has_native_bfloat16():
        return ('needs a CPU that computes bfloat16 natively (flags avx512_bf16 or amx_bf16 in /proc/cpuinfo) '
                'and no GPU; %s' % ('TensorFlow uses a GPU here' if device == 'GPU' else 'this CPU does not'))
    import ops
    errors = ops.bfloat16_convolution_error()
    worst = max(errors, key=errors.get)
    if errors[worst] > BFLOAT16_TOLERANCE:
        return ('fails its self-check: the bfloat16 convolution of this CPU (%s) differs from float32 by %.1f %%, '
                'more than the %.0f %% allowed; its results cannot be trusted here'
                % (worst, 100 * errors[worst], 100 * BFLOAT16_TOLERANCE))
    print(' [*] bfloat16 self-check: the bfloat16 convolutions of this CPU are within %.1f %% of float32 '
          '(%s; allowed %.0f %%)' % (100 * errors[worst], worst, 100 * BFLOAT16_TOLERANCE))
    return None


# What bfloat16 training measured on CPUs with AVX512-BF16 but no AMX (--preset cpu, the same threads),
# said by both the preset's refusal and the note for a --bfloat16 the user gives there.
NO_AMX_TRAINING_MEASURED = ('training measured slower than float32 on an Intel Xeon (1.4 to 1.7x) and at most 6 % '
                            'faster on an AMD EPYC (docs/cpu_model.md "bfloat16 without AMX")')


def preset_bfloat16_refusal():
    """Why a preset's --bfloat16 is not taken on this CPU, which computes bfloat16 natively but has no
    AMX (words that follow '--bfloat16 '); None elsewhere, where bfloat16_refusal decides: with
    AVX512-BF16 alone it does not pay (NO_AMX_TRAINING_MEASURED). A --bfloat16 true the user gives
    still runs there, with a note."""
    from ugatit import config as config_module
    if config_module.cpu_has_amx_bfloat16() or not config_module.cpu_has_native_bfloat16():
        return None
    return ('pays only on a CPU with AMX (amx_bf16 in /proc/cpuinfo); this one computes bfloat16 with '
            'AVX512-BF16 alone: %s (--bfloat16 true still asks for it)' % NO_AMX_TRAINING_MEASURED)


def with_saved_flags(config):
    """config with the architecture flags saved beside the checkpoint it will restore (the
    flags file of ugatit.config), where the user gave none (config.given); raises UserError on
    a conflict. Without a flags file: see without_flags_file."""
    from ugatit.model.checkpoint import checkpoint_folder
    from ugatit.config import FLAGS_FILE, merge_saved_flags, read_flags_file
    folder = checkpoint_folder(config)
    try:
        saved, unknown = read_flags_file(folder)
        if saved is None:
            return without_flags_file(config, folder)
        source = os.path.join(folder, FLAGS_FILE)
        config, lines = merge_saved_flags(config, saved, config.given, source)
    except ValueError as exc:
        raise UserError(str(exc))
    if unknown:
        print(' [!] %s has keys this version does not know, ignored: %s'
              % (printable(source), ', '.join(map(printable, unknown))))
    for line in lines:
        print(line)
    return config


def without_flags_file(config, folder):
    """config for a checkpoint folder without a flags file. A shipped model's flags are known
    (ugatit.config.SHIPPED_PRESETS): taken where the user gave none, and said. Otherwise the
    checkpoint's variable shapes check the flags when it is restored, except the image size of a
    light model, which no shape holds: the size assumed is said, unless --img_size was given."""
    from ugatit.config import (FLAGS_FILE, RESTORE_SHIPPED, SHIPPED_PRESETS, merge_saved_flags, shipped_model_flags,
                               shipped_model_of)
    from ugatit.model.checkpoint import latest_in_folder
    if latest_in_folder(folder) is None:
        return config
    shipped = shipped_model_of(folder)
    if shipped is not None:
        source = 'the architecture it was trained with, --preset %s; %s lost its %s (%s restores it)' % (
            SHIPPED_PRESETS[shipped], printable(short_path(folder)), FLAGS_FILE, RESTORE_SHIPPED)
        try:
            config, lines = merge_saved_flags(config, shipped_model_flags(shipped), config.given, source)
        except ValueError as exc:
            raise UserError(str(exc))
        print('\n'.join(lines) or ' [*] Architecture flags from %s: as given' % source)
    elif config.model.light and 'img_size' not in config.given:
        print(' [!] %s has no %s and a light model\'s checkpoint does not hold the image size it was trained '
              'at: assuming --img_size %d; give --img_size if it was trained at another size'
              % (printable(folder), FLAGS_FILE, config.model.img_size))
    return config


def shipped_model_wanted(config):
    """The folder of the model this project ships for config's --dataset when the run would use
    it: it translates photos, video or a camera, serves the page or exports it (--format onnx or
    web: phases whose user may have trained nothing), with no --checkpoint and no checkpoint for its flags in
    <checkpoint_dir>/<model_dir>; else None."""
    from ugatit.model.checkpoint import latest_in_folder
    from ugatit.config import SHIPPED_MODELS
    translates = (config.phase == 'serve' or (config.phase == 'test' and config.photo.input is not None)
                  or (config.phase == 'export' and config.export.format in ('onnx', 'web')))
    shipped = SHIPPED_MODELS.get(config.paths.dataset)
    if translates and config.paths.checkpoint is None and latest_in_folder(config.run_folder('checkpoint')) is None:
        return shipped
    return None


def uses_shipped_model(config):
    """True when the run uses the shipped model (shipped_model_wanted) and it holds a checkpoint."""
    from ugatit.model.checkpoint import latest_in_folder
    shipped = shipped_model_wanted(config)
    return shipped is not None and latest_in_folder(shipped) is not None


def refuse_incomplete_shipped_model(config):
    """UserError when the run would use the shipped model and its folder is there but lacks a file
    of its checkpoint: the folder, the files, and how to restore them (ugatit.config.RESTORE_SHIPPED)."""
    from ugatit.config import RESTORE_SHIPPED
    from ugatit.model.checkpoint import incomplete_lines
    shipped = shipped_model_wanted(config)
    if shipped is None or not os.path.isdir(shipped):
        return
    lines = incomplete_lines([short_path(shipped)], 'Restore it with %s, or pass --checkpoint PATH.' % RESTORE_SHIPPED)
    if lines:
        raise UserError('no checkpoint for the flags in %s, and the model this project ships is damaged: %s'
                        % (printable(config.run_folder('checkpoint')), lines[0]))


def short_path(path):
    """path relative to the working directory when it lies below it, else absolute."""
    relative = os.path.relpath(path)
    return path if relative.startswith('..') else relative


def with_shipped_model(config):
    """config restoring the shipped model (ugatit.config.SHIPPED_MODELS) when uses_shipped_model
    says so, with one line that says it; else config unchanged."""
    refuse_incomplete_shipped_model(config)
    if not uses_shipped_model(config):
        return config
    from ugatit.config import SHIPPED_MODELS
    shipped = SHIPPED_MODELS[config.paths.dataset]
    print(' [*] No checkpoint in %s: using the model this project ships, %s (docs/cpu_model.md); '
          '--checkpoint PATH restores another' % (printable(config.run_folder('checkpoint')),
                                                  printable(short_path(shipped))))
    return dataclasses.replace(config, paths=dataclasses.replace(config.paths, checkpoint=shipped))
