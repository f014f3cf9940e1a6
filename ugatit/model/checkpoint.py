"""Checkpoints: finding them, checking them against the flags, saving and restoring.

Official layout: `<checkpoint_dir>/<model_dir>/<model_name>.model-<step>.{index,data-*}` plus a
`checkpoint` state file whose paths may be relative (or stale, after a re-upload). The state
file is optional here: without it the newest `*.index` in the folder is used. Every checkpoint
this project writes also has the flags file (config.FLAGS_FILE) beside it.
"""

import os
import re
import shutil
import sys

import tensorflow as tf

from ugatit.config import DIRECTIONS, FLAGS_FILE, dataset_of_model_dir, write_flags_file
from ugatit.errors import UserError, first_line
from ugatit.model.average import average_name, averaged_names
from utils import printable, write_atomic

tf1 = tf.compat.v1

_STEP = re.compile(r'-(\d+)$')


def checkpoint_step(prefix):
    """The global step encoded in a checkpoint prefix (`...model-1000` -> 1000), else 0."""
    m = _STEP.search(prefix)
    return int(m.group(1)) if m else 0


def _prefixes_in(folder):
    """Checkpoint prefixes (`*.index` without the suffix) in a folder, oldest step first."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    prefixes = [os.path.join(folder, n[:-len('.index')]) for n in names if n.endswith('.index')]
    return sorted(prefixes, key=lambda p: (checkpoint_step(p), p))


def latest_in_folder(folder):
    """The checkpoint prefix a folder points to: its state file's latest entry if that exists,
    else the `*.index` with the largest step; None if there is none."""
    if not os.path.isdir(folder):
        return None
    state_file = os.path.join(folder, 'checkpoint')
    if os.path.isfile(state_file):
        try:
            state = tf.train.get_checkpoint_state(folder)
        except Exception:  # a corrupt state file is no reason to fail: scan the folder instead
            state = None
        if state and state.model_checkpoint_path:
            # The official save() writes paths relative to the folder; re-uploads often carry
            # absolute paths of another machine. Only the base name is trusted.
            candidate = os.path.join(folder, os.path.basename(state.model_checkpoint_path))
            if os.path.isfile(candidate + '.index'):
                return candidate
    prefixes = _prefixes_in(folder)
    return prefixes[-1] if prefixes else None


def missing_checkpoint_files(folder):
    """The files a checkpoint in `folder` lacks, sorted: the .index of data shards left without
    it, the shards of an .index or of a -of-N set that are absent, and the checkpoint the state
    file names when none of its files is there. [] for a complete folder or one without any."""
    try:
        names = set(os.listdir(folder))
    except OSError:
        return []
    missing = set()
    for name in names:
        shard = re.fullmatch(r'(.+)\.data-\d{5}-of-(\d{5})', name)
        if shard:
            prefix, count = shard.group(1), int(shard.group(2))
            missing.update({prefix + '.index'} | {'%s.data-%05d-of-%05d' % (prefix, i, count) for i in range(count)})
        elif name.endswith('.index') and not any(n.startswith(name[:-len('index')] + 'data-') for n in names):
            missing.add(name[:-len('index')] + 'data-00000-of-00001')
    named = _state_file_prefix(folder)
    if named and not any(n.startswith(named + '.') for n in names):
        missing.update({named + '.index', named + '.data-00000-of-00001'})
    return sorted(missing - names)


def _state_file_prefix(folder):
    """The base name of the checkpoint a folder's `checkpoint` state file names, or None."""
    try:
        with open(os.path.join(folder, 'checkpoint')) as f:
            found = re.search(r'^model_checkpoint_path: *"([^"]+)"', f.read(), re.M)
    except (OSError, UnicodeDecodeError):
        return None
    return os.path.basename(found.group(1)) if found else None


def checkpoint_files(prefix):
    """Names of the files of the checkpoint `prefix` in its folder: its .index and .data-* files."""
    folder, base = os.path.split(prefix)
    return [n for n in os.listdir(folder or '.') if n == base + '.index' or n.startswith(base + '.data-')]


def prefix_of(path):
    """The checkpoint prefix a user's path names: the path, without `.index` if it ends so."""
    return path[:-len('.index')] if path.endswith('.index') else path


def find_checkpoint(config):
    """Resolve the checkpoint to restore: the --checkpoint prefix, else the newest checkpoint in
    checkpoint_folder(config).

    Returns (prefix or None, list of the places tried, for error messages).
    """
    path = config.paths.checkpoint
    if path and not os.path.isdir(path):
        path = prefix_of(path)
        return (path if os.path.isfile(path + '.index') else None), [path + '.index']
    folder = checkpoint_folder(config)
    tried = [folder + os.sep]
    if path and latest_in_folder(path) is None:  # a --checkpoint folder, then its <model_dir> inside
        tried = [path + os.sep, os.path.join(path, config.model_dir) + os.sep]
    return latest_in_folder(folder), tried


def infer_flags(shapes):
    """Architecture flags implied by a checkpoint's variable shapes ({name: shape}).

    Returns a dict with the keys it could infer among ch, img_ch, n_res, light, img_size, n_dis.
    """
    flags = {}
    for g in ('generator_B', 'generator_A'):
        first = shapes.get(g + '/conv/conv2d/kernel')
        if first is None:
            continue
        flags['img_ch'] = first[2]
        flags['ch'] = first[3]
        flags['n_res'] = sum(1 for n in shapes if re.fullmatch(g + r'/resblock_\d+/res1/conv_0/conv2d/kernel', n))
        mlp_in = shapes.get(g + '/MLP/linear_0/dense/kernel')
        bottleneck = first[3] * 4
        if mlp_in is not None:
            flags['light'] = mlp_in[0] == bottleneck
            if not flags['light'] and mlp_in[0] % bottleneck == 0:
                side = int(round((mlp_in[0] // bottleneck) ** 0.5))
                if side * side * bottleneck == mlp_in[0]:
                    flags['img_size'] = side * 4
        break
    for d in ('discriminator_A', 'discriminator_B'):
        n = sum(1 for name in shapes if re.fullmatch(d + r'/global/conv_\d+/kernel', name))
        if n:
            flags['n_dis'] = n + 1
            break
    return flags


def check_compatible(prefix, variables, args):
    """Raise UserError unless every graph variable is in the checkpoint with the same shape.

    variables: the tf.Variables to restore, or {checkpoint name: tf.Variable} when some are
    restored from other names (their averages, ugatit/model/average.py); args: any object with the architecture flags (light,
    ch, n_res, n_dis, img_size, img_ch). The message names the flags to change when the mismatch
    is explained by them (e.g. a light checkpoint restored with --light False).
    Checkpoint variables of a built network that the graph does not use (e.g. the CAM
    `CAM_logit/dense/*` leftovers of the official code before its "fix fc" commit) are listed in
    a warning and ignored, unless the flags inferred from the checkpoint differ from `args` (e.g.
    a fifth residual block): then the checkpoint is refused. Returns the ignored names.
    """
    try:
        shapes = dict(tf.train.list_variables(prefix))
    except Exception as exc:  # unreadable / truncated checkpoint files
        raise UserError('cannot read checkpoint %s: %s' % (prefix, first_line(exc)))
    names = by_name(variables)
    refuse_missing_networks(prefix, shapes, names.values())
    missing, different = [], []
    for name, var in names.items():
        want = var.shape.as_list()
        if name not in shapes:
            missing.append(name)
        elif list(shapes[name]) != want:
            different.append('%s: checkpoint %s, graph %s' % (name, list(shapes[name]), want))
    built = {v.op.name for v in names.values()}
    scopes = {name.split('/')[0] + '/' for name in built}
    # The raw weights and their averages are two versions of the same variables: neither is unused.
    known = set(names) | built | {average_name(name) for name in built}
    unused = sorted(n for n in shapes if n not in known and '/Adam' not in n
                    and any(n.startswith(s) for s in scopes))
    inferred = infer_flags(shapes)
    if not any(s.startswith('discriminator') for s in scopes):
        inferred.pop('n_dis', None)  # the graph builds no discriminator: their depth does not matter
    hints = []
    for flag, value in inferred.items():
        current = getattr(args, flag, None)
        if current is not None and current != value:
            hints.append('--%s %s (the flags say %s)' % (flag, value, current))
    if not missing and not different and not (unused and hints):
        if unused:
            print('warning: checkpoint %s holds %d variable(s) of the model that it does not use, ignored: %s'
                  % (prefix, len(unused), ', '.join(unused[:8]) + (', ...' if len(unused) > 8 else '')),
                  file=sys.stderr)
        return unused
    lines = ['checkpoint %s does not match the model built from the flags.' % prefix]
    if hints:
        lines.append('It was trained with: ' + ', '.join(hints) + '. Pass these flags to use it.')
    if different:
        lines.append('Shape differences (%d), first: %s' % (len(different), different[0]))
    if missing:
        lines.append('Missing from the checkpoint (%d), first: %s' % (len(missing), missing[0]))
    if unused:
        lines.append('In the checkpoint but not in the model (%d), first: %s' % (len(unused), unused[0]))
    raise UserError('\n'.join(lines))


def existing_checkpoints(checkpoint_dir):
    """[(folder name, the --dataset its name implies or None)] of the folders in checkpoint_dir
    that hold a checkpoint, sorted by name."""
    try:
        names = sorted(os.listdir(checkpoint_dir))
    except OSError:
        return []
    return [(name, dataset_of_model_dir(name)) for name in names
            if latest_in_folder(os.path.join(checkpoint_dir, name)) is not None]


def incomplete_lines(folders, restore='Put the missing files back, or train or download it again.'):
    """One line for each of `folders` that holds an incomplete checkpoint (missing_checkpoint_files):
    the folder, the files it lacks, and `restore`, what to do."""
    lines = []
    for folder in folders:
        missing = missing_checkpoint_files(folder)
        if missing:
            lines.append('%s holds an incomplete checkpoint: %s %s missing. %s' % (
                printable(folder), ', '.join(missing), 'is' if len(missing) == 1 else 'are', restore))
    return lines


def no_checkpoint_message(config, tried, found='no checkpoint found'):
    """The error when a run finds no checkpoint to restore: where it looked, the folder name its
    flags expect, the checkpoints that do exist in --checkpoint_dir (with the --dataset each
    implies), and how to get one."""
    lines = ['%s. Tried: %s' % (found, ', '.join(tried))] + incomplete_lines(tried)
    lines.append('Expected a folder named %s (made from the flags --light --dataset --gan_type --n_res --n_dis '
                 '--n_critic and the loss weights) holding %s.model-<step>.index/.data-*, or pass --checkpoint PATH '
                 '(a checkpoint prefix or folder).' % (config.model_dir, config.model.model_name))
    checkpoint_dir = config.paths.checkpoint_dir
    existing = existing_checkpoints(checkpoint_dir)
    if existing:
        lines.append('Checkpoints in %s: %s. Restore one with its --dataset (and the other flags its name '
                     'encodes), or with --checkpoint %s' % (
                         checkpoint_dir, '; '.join('%s (--dataset %s)' % (name, dataset) if dataset else name
                                                   for name, dataset in existing),
                         os.path.join(checkpoint_dir, existing[0][0])))
    else:
        lines.append('There is no checkpoint in %s.' % checkpoint_dir)
    lines.append('To get one: `make demo` trains the built-in demo (then run with --dataset demo); '
                 '`python main.py --phase download` downloads the authors\' selfie2anime checkpoint '
                 '(then run with --dataset selfie2anime); --phase train trains the flags\' model.')
    return '\n'.join(lines)


class Checkpoint(object):
    """Owns the Saver of a list of variables: finds, checks, restores and saves checkpoints.

    config: the run's Config (paths, model_dir and the flags checked against the checkpoint);
    variables: the tf.Variables to save and restore (e.g. only the generators' at test time);
    optional: those of them a checkpoint may lack (the averages of --ema_decay, for a run that
        resumes from a checkpoint saved without): restore() leaves them as they are and lists
        them in .not_restored.
    After restore(): .averaged is True when the variables came from their averages.
    """

    def __init__(self, config, variables, max_to_keep=5, optional=()):
        self.config = config
        self.variables = list(variables)
        self.optional = list(optional)
        self.not_restored = []
        self.averaged = False
        # Relative paths in the `checkpoint` state file: a checkpoint folder can be moved and shared.
        self.saver = tf.compat.v1.train.Saver(var_list=self.variables, max_to_keep=max_to_keep,
                                              save_relative_paths=True)
        self.folder = config.run_folder('checkpoint')

    def find(self):
        """(prefix or None, the places tried) of the checkpoint to restore: --checkpoint, else
        the newest one in <checkpoint_dir>/<model_dir>."""
        return find_checkpoint(self.config)

    def restore(self, sess, required=False, average=False):
        """Restore the checkpoint find() names into sess. Returns (prefix, step), or None when
        there is none and not `required`. Raises UserError when required and none is found, or
        when the checkpoint does not fit the flags (naming the flags to change).
        average: restore each variable from its moving average (ugatit/model/average.py) when the
        checkpoint holds the averages of them all."""
        prefix, tried = self.find()
        if prefix is None:
            if required:
                raise UserError(no_checkpoint_message(self.config, tried))
            return None
        names = self._names_to_restore(prefix, average)
        check_compatible(prefix, names, self.config.model)
        try:
            if not restore_cast(sess, prefix, names):
                saver = self.saver if len(names) == len(self.variables) and not self.averaged else \
                    tf1.train.Saver(var_list=names)
                saver.restore(sess, prefix)
        except tf.errors.OpError as exc:
            raise UserError('checkpoint %s is damaged: its files %s.index / %s.data-* are truncated, missing or '
                            'corrupt (%s). Restore another checkpoint with --checkpoint PATH, or download or '
                            'train it again.' % (prefix, os.path.basename(prefix), os.path.basename(prefix),
                                                 first_line(exc)))
        return prefix, checkpoint_step(prefix)

    def _names_to_restore(self, prefix, average):
        """{checkpoint name: variable} to restore from `prefix`; sets .averaged and .not_restored."""
        try:
            held = {name for name, _ in tf.train.list_variables(prefix)}
        except Exception:  # unreadable: check_compatible says so
            held = set()
        averaged = averaged_names(self.variables, held) if average else None
        self.averaged = averaged is not None
        self.not_restored = [v for v in self.optional if v.op.name not in held]
        skipped = {v.op.name for v in self.not_restored}
        return averaged or {name: v for name, v in by_name(self.variables).items() if name not in skipped}

    def keep_track_of_older(self):
        """Count the checkpoints already in the folder (an earlier run's) towards max_to_keep, so
        that saves delete the oldest of them too instead of letting them pile up."""
        self.saver.recover_last_checkpoints(_prefixes_in(self.folder))

    def save(self, sess, step):
        """Save the variables as <checkpoint_dir>/<model_dir>/<model_name>.model-<step>, with the
        flags file beside them (no .meta graph: nothing restores it); with --keep_every, every
        N-th step also into the run folder's KEPT_FOLDER (keep). Returns the prefix.

        Raises UserError when the disk is full or the folder not writable; the previous
        checkpoints are left intact (TensorFlow writes a new one under a temporary name first).
        The temporary files of a save that was killed earlier are removed first: only the
        folder's one writer calls this (training holds the folder's lock, ugatit/train/lock.py)."""
        os.makedirs(self.folder, exist_ok=True)
        write_flags_file(self.folder, self.config)
        prefix = os.path.join(self.folder, self.config.model.model_name + '.model')
        remove_interrupted_saves(prefix)
        try:
            saved = self.saver.save(sess, prefix, global_step=step, write_meta_graph=False)
        except (tf.errors.OpError, OSError) as exc:
            for name in os.listdir(self.folder):
                if name.startswith('%s-%d_temp' % (os.path.basename(prefix), step)):  # TensorFlow's partial write
                    shutil.rmtree(os.path.join(self.folder, name), ignore_errors=True)
            raise UserError('could not save the checkpoint of step %d in %s (%s): free some space there (a '
                            'checkpoint of this model takes %.0f MB) or choose another --checkpoint_dir; the '
                            'earlier checkpoints are intact.' % (step, self.folder, first_line(exc),
                                                                 self.size_bytes() / 1e6))
        if self.config.train.keep_every and step % self.config.train.keep_every == 0:
            self._keep(saved)
        return saved

    def _keep(self, prefix):
        """keep() the checkpoint just saved in the run folder's KEPT_FOLDER (--keep_every)."""
        folder = os.path.join(self.folder, KEPT_FOLDER)
        try:
            return keep(prefix, folder)
        except OSError as exc:
            raise UserError('could not keep the checkpoint %s in %s (%s): it is saved in %s; free some space '
                            'there or train without --keep_every.' % (os.path.basename(prefix), folder,
                                                                     first_line(exc), self.folder))

    def size_bytes(self):
        """Bytes of one checkpoint of these variables (float32)."""
        return sum(4 * max(1, v.shape.num_elements() or 1) for v in self.variables)


# The subfolder of a run folder where --keep_every keeps checkpoints out of the keep-5 rotation.
KEPT_FOLDER = 'kept'


def keep(prefix, folder):
    """Put the checkpoint `prefix` (its .index and .data-* files) and the flags file beside it
    into `folder`, as hard links where the file system allows (no extra space; the saver's
    rotation then removes only its own name), else as copies. Returns the prefix in `folder`."""
    os.makedirs(folder, exist_ok=True)
    source, base = os.path.split(prefix)
    for name in checkpoint_files(prefix) + [FLAGS_FILE]:
        target = os.path.join(folder, name)
        if os.path.exists(target):
            os.remove(target)  # a flags file of an earlier keep, or a step saved again after a resume
        try:
            os.link(os.path.join(source, name), target)
        except OSError:
            shutil.copy2(os.path.join(source, name), target)
    print(' [*] Kept %s in %s (--keep_every)' % (base, folder))
    return os.path.join(folder, base)


def remove_interrupted_saves(prefix):
    """Remove the files `<prefix>-<step>.index.tempstate<n>` and `.data-*.tempstate<n>` beside
    `prefix`: TensorFlow's checkpoint writer renames them to their final names when a save
    completes, so any left were written by a process killed mid-save, and the keep-5 rotation
    never removes them. Other models' files and the user's are left alone. Returns the names."""
    folder, base = os.path.split(prefix)
    temporary = re.compile(re.escape(base) + r'-\d+\.(index|data-\d+-of-\d+)\.tempstate\d+')
    stale = sorted(name for name in os.listdir(folder) if temporary.fullmatch(name))
    for name in stale:
        os.remove(os.path.join(folder, name))
    if stale:
        print(' [*] Removed %d temporary file(s) of an interrupted save in %s: %s'
              % (len(stale), folder, ', '.join(stale)))
    return stale


def refuse_missing_networks(prefix, shapes, variables):
    """UserError when the checkpoint ({name: shape}) lacks a whole network the graph builds, as a
    generators-only export (ugatit/infer/slim.py) does: training needs the discriminators and Adam
    slots; a one-direction export has one generator. The message says what to do instead."""
    held = {name.split('/')[0] for name in shapes}
    needed = {v.op.name.split('/')[0] for v in variables}
    trains = any(s.startswith('discriminator') for s in needed)
    if trains and any(s.startswith('generator') for s in held) and not any(s.startswith('discriminator') for s in held):
        raise UserError('checkpoint %s is a generators-only export (no discriminators, no Adam slots): it '
                        'translates but cannot be trained further; train from the full checkpoint it was '
                        'exported from (--checkpoint_dir / --checkpoint).' % prefix)
    scopes = {d: DIRECTIONS[d].generator_scope for d in sorted(DIRECTIONS)}
    absent = [d for d, scope in scopes.items() if scope in needed and scope not in held]
    kept = [d for d, scope in scopes.items() if scope in held]
    if absent and kept and not trains:
        raise UserError('checkpoint %s holds no generator for %s (scope %s): it is a one-direction export of '
                        '%s only. Translate with --direction %s, or export both directions with --phase export '
                        '--format checkpoint without --direction.'
                        % (prefix, absent[0], scopes[absent[0]], kept[0], kept[0]))


def restore_cast(sess, prefix, variables):
    """Restore `variables` ({checkpoint name: tf.Variable}) key by key when the checkpoint stores
    some of them in another float type (a float16 export, ugatit/infer/slim.py): each tensor is read,
    its name and shape checked, and cast to the variable's type. Returns False, restoring nothing,
    when every stored type already matches (then the Saver restores them bit for bit). A list of
    variables restores each under its own name."""
    variables = by_name(variables)
    reader = tf.train.load_checkpoint(prefix)
    stored = reader.get_variable_to_dtype_map()
    if all(stored.get(name) == v.dtype.base_dtype for name, v in variables.items()):
        return False
    shapes = reader.get_variable_to_shape_map()
    for name, var in variables.items():
        want = var.shape.as_list()
        if name not in stored or list(shapes[name]) != want or not stored[name].is_floating:
            raise UserError('checkpoint %s: variable %s is %s there, the model needs a %s float of shape %s'
                            % (prefix, name, 'missing' if name not in stored else
                               'a %s of shape %s' % (stored[name].name, list(shapes[name])),
                               var.dtype.base_dtype.name, want))
    # Read and cast in the graph (numpy's float16 conversion and a 1 GB feed took twice as long),
    # every op built first (a graph that grows between runs is re-sent each time), one variable
    # per run (one tensor and its cast in memory at a time).
    with sess.graph.as_default():
        assigns = []
        for name, var in variables.items():
            stored_value, = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=[name], shape_and_slices=[''],
                                                 dtypes=[stored[name]])
            assigns.append(var.assign(tf.cast(stored_value, var.dtype.base_dtype)).op)
    for assign in assigns:
        sess.run(assign)
    return True


def by_name(variables):
    """{checkpoint name: tf.Variable} of a list of variables (each under its own name) or of
    such a dict (returned as it is)."""
    return dict(variables) if isinstance(variables, dict) else {v.op.name: v for v in variables}


def write_state_file(folder, prefix):
    """Write <folder>/checkpoint naming `prefix` with a relative path, as the official save() does."""
    text = 'model_checkpoint_path: "%s"\nall_model_checkpoint_paths: "%s"\n' % ((os.path.basename(prefix),) * 2)
    write_atomic(os.path.join(folder, 'checkpoint'), text.encode())


def checkpoint_folder(config):
    """The folder whose checkpoint a run restores, the one rule for it: the --checkpoint folder
    (or the folder of a --checkpoint prefix), or <it>/<model_dir> when it holds no checkpoint but
    that folder exists (the parent of the official folder is accepted); with no --checkpoint,
    <checkpoint_dir>/<model_dir>, where training saves."""
    path = config.paths.checkpoint
    if not path:
        return config.run_folder('checkpoint')
    if os.path.isdir(path):
        nested = os.path.join(path, config.model_dir)
        return nested if latest_in_folder(path) is None and os.path.isdir(nested) else path
    return os.path.dirname(path) or '.'
