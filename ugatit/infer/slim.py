"""`python main.py --phase export --format checkpoint`: a generators-only ("slim") checkpoint.

A training checkpoint holds both generators, both discriminators and the Adam slots of all of
them; translating needs only the generators. The slim copy keeps the generators of the
directions asked for (both unless --direction is given), optionally as float16, in the official
layout, so that every phase that translates restores it like the full one:

    <export_dir>/<model_dir>/<model_name>.model-<step>.index / .data-*   the generators' weights
    <export_dir>/<model_dir>/checkpoint                                  the state file
    <export_dir>/<model_dir>/ugatit_flags.json                           the flags, plus
        "slim": {"directions": [...], "dtype": "float32" | "float16", "source": <prefix name>}

Use it with `--checkpoint_dir <export_dir>` or `--checkpoint <export_dir>`. A float16 copy is
cast back to float32 when restored (ugatit/model/checkpoint.py restore_cast). Tensors are copied in
chunks of at most CHUNK_BYTES, so the export needs little memory whatever the model's size.
"""

import collections
import math
import os
import shutil
import tempfile

import tensorflow as tf
from tqdm import tqdm

from ugatit.errors import first_line
from ugatit.model.average import averaged_names
from ugatit.model.checkpoint import (Checkpoint, by_name, check_compatible, checkpoint_files, checkpoint_step,
                               find_checkpoint, latest_in_folder, no_checkpoint_message, prefix_of, write_state_file)
from ugatit.config import DIRECTIONS, FLAGS_FILE, write_flags_file
from ugatit.errors import UserError
from ugatit.infer.export import check_export_dir
from ugatit.infer.translator import build_generators

tf1 = tf.compat.v1

# Tensors saved per step: one chunk of the released model is read, cast and written at a time.
CHUNK_BYTES = 256 << 20
DTYPES = {False: tf.float32, True: tf.float16}
# What an export reads from one checkpoint: its prefix, {stored name: tf dtype}, {variable name:
# stored name}, and whether those stored names are the averaged weights (--ema_decay).
WeightSource = collections.namedtuple('WeightSource', 'prefix stored read_as averaged')


def export_slim(config):
    """Write the generators-only checkpoint of config (see the module docstring); returns its
    prefix. Raises UserError, writing nothing, when the checkpoint cannot be found or does not
    fit the flags, or when <export_dir>/<model_dir> already holds a checkpoint."""
    directions = config.export_directions
    dtype = DTYPES[config.export.float16]
    folder = config.run_folder('export')
    check_export_dir(folder)
    if latest_in_folder(folder) or os.path.exists(os.path.join(folder, FLAGS_FILE)):
        raise UserError('%s already holds a checkpoint: nothing was overwritten. Choose another --export_dir, '
                        'or delete that folder first.' % folder)
    graph = tf.Graph()
    with graph.as_default():
        build_generators(config.model, directions)  # the variables a Translator restores
        variables = tf1.global_variables()
        source, step = _source(config, variables)
        reads = _weight_sources(config, variables, source)
    averaged, others = reads[0].averaged, [read.prefix for read in reads[1:]]
    specs = [(v.op.name, v.shape.as_list(), dtype) for v in variables]
    created = not os.path.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.slim-', dir=folder)  # same file system: the moves are renames
    name = '%s.model-%d' % (config.model.model_name, step)
    try:
        write_checkpoint(os.path.join(staging, name), specs, lambda chunk: _read_mean(reads, chunk))
        marker = {'directions': list(directions), 'dtype': dtype.name, 'source': os.path.basename(source),
                  'weights': 'averaged' if averaged else 'raw'}
        if others:
            marker['averaged_with'] = [os.path.basename(prefix) for prefix in others]
        write_flags_file(staging, config, extra={'slim': marker})
        _publish(staging, folder, name)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not os.listdir(folder):
            os.rmdir(folder)
        if isinstance(exc, tf.errors.OpError):  # e.g. a full disk: TensorFlow's error, not an OSError
            raise UserError('could not write the checkpoint in %s (%s): free some space there or choose another '
                            '--export_dir; nothing was left there.' % (folder, first_line(exc)))
        raise
    os.rmdir(staging)
    prefix = os.path.join(folder, name)
    what = source if not others else 'the mean of %s and %s' % (', '.join([source] + others[:-1]), others[-1])
    print(' [*] Generators-only checkpoint (%s, %s, %s weights) of %s: %s (%.1f MB; restore it with --checkpoint_dir %s)'
          % (' and '.join(directions), dtype.name, 'averaged' if averaged else 'raw', what, prefix,
             checkpoint_bytes(prefix) / 1e6,
             config.paths.export_dir))
    return prefix


def held_directions(config):
    """The directions whose generator the checkpoint that config restores holds (a one-direction
    export holds one); all of DIRECTIONS when there is none or it cannot be read (the restore
    then says why)."""
    prefix, _ = find_checkpoint(config)
    try:
        held = {name.split('/')[0] for name, _ in tf.train.list_variables(prefix)} if prefix else set()
    except Exception:  # unreadable: Checkpoint.restore reports it
        held = set()
    return tuple(d for d in DIRECTIONS if DIRECTIONS[d].generator_scope in held) or tuple(DIRECTIONS)


def _source(config, variables):
    """(prefix, step) of the checkpoint to export, checked against the generators' variables."""
    checkpoint = Checkpoint(config, variables)
    prefix, tried = checkpoint.find()
    if prefix is None:
        raise UserError(no_checkpoint_message(config, tried, 'no checkpoint to export'))
    check_compatible(prefix, variables, config.model)
    return prefix, checkpoint_step(prefix)


def _weight_sources(config, variables, source):
    """The WeightSource of the exported checkpoint, then of each of --average_with; raises
    UserError when some hold averaged weights and others not (their mean would mix the two)."""
    reads = [_weight_source(prefix, variables, config.paths.raw_weights)
             for prefix in [source] + _averaged_in(config, variables, source)]
    with_average = [read.prefix for read in reads if read.averaged]
    lacking = [read.prefix for read in reads if not read.averaged]
    if with_average and lacking:
        raise UserError('%s holds no averaged generator weights (--ema_decay) and %s does: average the raw weights '
                        'of every checkpoint with --raw_weights true, or leave out those without'
                        % (lacking[0], with_average[0]))
    return reads


def _averaged_in(config, variables, source):
    """The checkpoint prefixes of --average_with, each checked against the generators'
    variables; raises UserError naming one that is missing, repeated or does not fit."""
    prefixes = []
    for given in filter(None, (p.strip() for p in config.export.average_with.split(','))):
        prefix = prefix_of(given)
        if not os.path.isfile(prefix + '.index'):
            raise UserError('--average_with: no checkpoint %s (%s.index not found); give checkpoint prefixes such as '
                            'checkpoint/<model_dir>/<model_name>.model-<step>' % (given, prefix))
        if os.path.abspath(prefix) in [os.path.abspath(p) for p in [source] + prefixes]:
            raise UserError('--average_with: %s is already averaged in (the exported checkpoint or listed twice); '
                            'each checkpoint counts once' % given)
        check_compatible(prefix, variables, config.model)
        prefixes.append(prefix)
    return prefixes


def _weight_source(prefix, variables, raw_weights):
    """The WeightSource of `variables` in the checkpoint `prefix`: the averaged weights
    (--ema_decay) when it holds them and raw_weights is false, else the weights."""
    stored = tf.train.load_checkpoint(prefix).get_variable_to_dtype_map()
    averaged = None if raw_weights else averaged_names(variables, set(stored))
    read_as = {v.op.name: name for name, v in (averaged or by_name(variables)).items()}
    return WeightSource(prefix, stored, read_as, bool(averaged))


def _read_mean(reads, chunk):
    """The chunk's tensors ([(name, shape, dtype)]): read from the one WeightSource of `reads`
    and cast, or the mean of several, taken in float32 before the cast."""
    if len(reads) == 1:
        return _read_cast(reads[0].prefix, reads[0].stored, chunk, reads[0].read_as)
    as_float32 = [(name, shape, tf.float32) for name, shape, _ in chunk]
    values = [_read_cast(read.prefix, read.stored, as_float32, read.read_as) for read in reads]
    return [tf.cast(tf.add_n(list(parts)) / len(reads), dtype) for parts, (_, _, dtype) in zip(zip(*values), chunk)]


def _read_cast(source, stored, chunk, read_as):
    """Tensors of `chunk` ([(name, shape, dtype)]) read from the checkpoint `source` (whose
    stored types are {name: tf dtype}) under the names read_as gives ({name: stored name}) and
    cast to the chunk's types."""
    names = [read_as[name] for name, _, _ in chunk]
    values = tf.raw_ops.RestoreV2(prefix=source, tensor_names=names, shape_and_slices=[''] * len(names),
                                  dtypes=[stored[n] for n in names])
    return [tf.cast(value, dtype) for value, (_, _, dtype) in zip(values, chunk)]


def write_checkpoint(prefix, specs, tensors_for, chunk_bytes=CHUNK_BYTES):
    """Write a TensorFlow checkpoint `prefix` (.index + .data-*) of the tensors `specs`
    ([(name, shape, tf dtype)]), made chunk by chunk: tensors_for(chunk) builds the chunk's
    tensors in the current graph. Peak memory: one chunk (or one larger tensor)."""
    chunks, current, size = [], [], 0
    for spec in specs:
        current.append(spec)
        size += _bytes(spec)
        if size >= chunk_bytes:
            chunks.append(current)
            current, size = [], 0
    chunks += [current] if current else []
    parts = []
    graph = tf.Graph()
    with graph.as_default(), tf1.Session(graph=graph) as sess, \
            tqdm(total=sum(_bytes(s) for s in specs), unit='B', unit_scale=True, desc='checkpoint') as bar:
        for chunk in chunks:
            parts.append('%s.part%d' % (prefix, len(parts)))
            names = [name for name, _, _ in chunk]
            sess.run(tf.raw_ops.SaveV2(prefix=parts[-1], tensor_names=names, shape_and_slices=[''] * len(names),
                                       tensors=tensors_for(chunk)))
            bar.update(sum(_bytes(s) for s in chunk))
        sess.run(tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=parts, destination_prefix=prefix))
    return prefix


def _bytes(spec):
    _, shape, dtype = spec
    return math.prod(shape) * dtype.size


def training_variables(config):
    """Build, in the default graph, every variable a training checkpoint of config holds
    (generators, discriminators with their spectral-norm vectors, Adam slots and powers) without
    the losses and gradients of UGATIT.build_train_ops (minutes at 256 px); returns them."""
    from ugatit.model.model import UGATIT
    model = UGATIT(config.model, config.train)
    build_generators(config.model)  # generator_B, then generator_A, as the training graph
    size, channels = config.model.img_size, config.model.img_ch
    image = tf1.placeholder(tf.float32, [1, size, size, channels])
    for scope in ('discriminator_A', 'discriminator_B'):
        model.discriminator(image, scope=scope)
    # G's optimiser first, as in train_ops_from: its powers are beta1_power, D's beta1_power_1.
    for network in ('generator', 'discriminator'):
        weights = [v for v in tf1.trainable_variables() if network in v.name]
        tf1.train.AdamOptimizer(1e-4, beta1=0.5, beta2=0.999).apply_gradients(
            [(tf.zeros_like(v), v) for v in weights])
    return tf1.global_variables()


def save_random_training_checkpoint(config, step):
    """A training checkpoint of config (training_variables) with random values, saved where
    config's phases look: <checkpoint_dir>/<model_dir>/<model_name>.model-<step>, state and flags
    files included; returns the prefix. Written chunk by chunk, so the released size (8 GB)
    needs little memory. For tests and benchmarks: restoring and translating do not depend on
    the values."""
    with tf.Graph().as_default():
        specs = [(v.op.name, v.shape.as_list(), v.dtype.base_dtype) for v in training_variables(config)]
    folder = config.run_folder('checkpoint')
    os.makedirs(folder, exist_ok=True)
    name = '%s.model-%d' % (config.model.model_name, step)
    write_checkpoint(os.path.join(folder, name), specs,
                     lambda chunk: [tf.random.uniform(shape, -0.1, 0.1, dtype) for _, shape, dtype in chunk])
    write_flags_file(folder, config)
    write_state_file(folder, name)
    return os.path.join(folder, name)


def _publish(staging, folder, name):
    """Move the finished checkpoint from staging into folder: data files, flags file, index,
    then the state file, so that an interruption never leaves an index without its data."""
    files = sorted(os.listdir(staging), key=lambda f: (not f.startswith(name + '.data'), f != FLAGS_FILE, f))
    for f in files:
        os.replace(os.path.join(staging, f), os.path.join(folder, f))
    write_state_file(folder, name)


def checkpoint_bytes(prefix):
    """Bytes on disk of the checkpoint `prefix` (its .index and .data-* files)."""
    folder = os.path.dirname(prefix)
    return sum(os.path.getsize(os.path.join(folder, f)) for f in checkpoint_files(prefix))
