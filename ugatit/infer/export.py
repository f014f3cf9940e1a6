"""`python main.py --phase export`: a SavedModel and TFLite models of one restored generator.

Written to `<export_dir>/<model_dir>/<direction>/`:
    saved_model/                  serving signature 'serving_default':
                                    image      uint8 [N, S, S, 3] RGB in
                                    -> image     uint8 [N, S, S, 3] RGB out
                                    -> attention float32 [N, S/4, S/4], CAM map scaled to [0, 1]
    model_float32.tflite          the same computation, batch 1
    model_float16.tflite          weights stored as float16
    model_dynamic_range.tflite    weights quantised to int8, activations float

A folder that already holds files is refused, never overwritten. The export is written into
`.<direction>.partial-<random>` (hidden) beside it and renamed at the end; a failed export removes
it, and one killed mid-way leaves only that hidden folder, which can be deleted.
"""

import contextlib
import os
import secrets
import shutil

import tensorflow as tf

from ugatit.errors import UserError, first_line
from ugatit.infer.translator import Translator
from utils import write_atomic

tf1 = tf.compat.v1

TFLITE_VARIANTS = ('float32', 'float16', 'dynamic_range')


def export(config):
    """Export the generator of --direction into <export_dir>/<model_dir>/<direction>/; returns
    {artefact name: path}. Nothing is ever overwritten: a folder that already holds files is
    refused (UserError). The export is written in a temporary folder beside it, renamed at the
    end, so a failed one (e.g. an unrestorable checkpoint, a full disk) leaves nothing there."""
    direction = config.photo.direction
    out = os.path.join(config.paths.export_dir, config.model_dir, direction)
    check_export_dir(out)
    if os.path.isdir(out) and os.listdir(out):
        raise UserError('%s already holds files (an earlier export?): nothing was overwritten. Choose another '
                        '--export_dir, or delete that folder first.' % out)
    with staged_folder(out) as staging:
        names = _write_saved_model(config, direction, staging)
        names.update(_write_tflite(config, direction, staging))
    print(' [*] Exported %s to %s' % (direction, out))
    return {name: os.path.join(out, file_name) for name, file_name in names.items()}


def check_export_dir(folder):
    """UserError when `folder` or a folder above it is an existing file (a mistyped
    --export_dir), before any work starts, instead of a traceback at the first write."""
    path = os.path.abspath(folder)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise UserError('--export_dir: %s is a file, not a folder: choose another --export_dir (a new or '
                        'existing folder).' % path)


@contextlib.contextmanager
def staged_folder(out):
    """Yield a new hidden folder beside `out` (same file system) and rename it to `out` (absent or
    empty) when the block ends: a half-written export never appears under the final name. On
    failure it is removed, with the parent folders it needed; TensorFlow's errors (e.g. a full
    disk) and OSError become a UserError naming `out`."""
    created = []  # the parent folders made here, deepest first, to remove on failure
    parent = os.path.dirname(os.path.abspath(out))
    while not os.path.lexists(parent):
        created.append(parent)
        parent = os.path.dirname(parent)
    staging = os.path.join(os.path.dirname(out), '.%s.partial-%s' % (os.path.basename(out), secrets.token_hex(4)))
    try:
        os.makedirs(staging)
        yield staging
        os.rename(staging, out)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:
            with contextlib.suppress(OSError):  # not empty: something else was written there meanwhile
                os.rmdir(folder)
        if isinstance(exc, (tf.errors.OpError, OSError)):
            raise UserError('could not write the export %s (%s): free some space there or choose another '
                            '--export_dir; nothing was left there.' % (out, first_line(exc)))
        raise


def _write_saved_model(config, direction, folder):
    """Write <folder>/saved_model with the serving signature of one direction (dynamic batch);
    returns {'saved_model': its name}."""
    with Translator(config, (direction,), io='uint8') as translator:
        image_in, image_out, attention = translator.signature(direction)
        with translator.graph.as_default():
            builder = tf1.saved_model.Builder(os.path.join(folder, 'saved_model'))
            signature = tf1.saved_model.predict_signature_def(
                inputs={'image': image_in}, outputs={'image': image_out, 'attention': attention})
            builder.add_meta_graph_and_variables(translator.session, [tf1.saved_model.tag_constants.SERVING],
                                                 signature_def_map={'serving_default': signature})
            builder.save()
        print(' [*] SavedModel from %s' % translator.checkpoint)
    return {'saved_model': 'saved_model'}


def _write_tflite(config, direction, folder):
    """Write the TFLite variants, batch 1 (camera-filter use), from a frozen session into
    `folder`; returns {variant: file name}."""
    names = {}
    with Translator(config, (direction,), batch=1, io='uint8') as translator:
        image_in, image_out, attention = translator.signature(direction)
        for variant in TFLITE_VARIANTS:
            converter = tf1.lite.TFLiteConverter.from_session(translator.session, [image_in], [image_out, attention])
            if variant != 'float32':
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if variant == 'float16':
                converter.target_spec.supported_types = [tf.float16]
            names[variant] = 'model_%s.tflite' % variant
            model = converter.convert()
            write_atomic(os.path.join(folder, names[variant]), model)
            print(' [*] TFLite %s: %s (%.1f MB)' % (variant, names[variant], len(model) / 1e6))
    return names
