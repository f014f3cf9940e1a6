"""`python main.py --phase export`: a SavedModel and TFLite models of one restored generator.

Written to `<export_dir>/<model_dir>/<direction>/`:
    saved_model/                  serving signature 'serving_default':
                                    image      uint8 [N, S, S, 3] RGB in
                                    -> image     uint8 [N, S, S, 3] RGB out
                                    -> attention float32 [N, S/4, S/4], CAM map scaled to [0, 1]
    model_float32.tflite          the same computation, batch 1
    model_float16.tflite          weights stored as float16
    model_dynamic_range.tflite    weights quantised to int8, activations float
"""

import os

import tensorflow as tf

from ugatit.translator import Translator
from utils import check_folder, write_atomic

tf1 = tf.compat.v1

TFLITE_VARIANTS = ('float32', 'float16', 'dynamic_range')


def export(config):
    """Export the generator of --direction; returns {artefact name: path}. Nothing is written
    when the checkpoint cannot be restored."""
    direction = config.photo.direction
    out = os.path.join(config.paths.export_dir, config.model_dir, direction)
    written = {}
    # SavedModel with a dynamic batch dimension.
    with Translator(config, (direction,), io='uint8') as translator:
        written['saved_model'] = _write_saved_model(translator, direction, check_folder(out))
        print(' [*] SavedModel from %s: %s' % (translator.checkpoint, written['saved_model']))
    # TFLite, batch 1 (camera-filter use), from a frozen session.
    with Translator(config, (direction,), batch=1, io='uint8') as translator:
        image_in, image_out, attention = translator.signature(direction)
        for variant in TFLITE_VARIANTS:
            converter = tf1.lite.TFLiteConverter.from_session(translator.session, [image_in], [image_out, attention])
            if variant != 'float32':
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if variant == 'float16':
                converter.target_spec.supported_types = [tf.float16]
            path = os.path.join(out, 'model_%s.tflite' % variant)
            write_atomic(path, converter.convert())
            written[variant] = path
            print(' [*] TFLite %s: %s (%.1f MB)' % (variant, path, os.path.getsize(path) / 1e6))
    return written


def _write_saved_model(translator, direction, out):
    """Write <out>/saved_model with the serving signature of one direction; returns its path."""
    image_in, image_out, attention = translator.signature(direction)
    path = os.path.join(out, 'saved_model')
    if os.path.exists(path):
        import shutil
        shutil.rmtree(path)
    with translator.graph.as_default():
        builder = tf1.saved_model.Builder(path)
        signature = tf1.saved_model.predict_signature_def(
            inputs={'image': image_in}, outputs={'image': image_out, 'attention': attention})
        builder.add_meta_graph_and_variables(translator.session, [tf1.saved_model.tag_constants.SERVING],
                                             signature_def_map={'serving_default': signature})
        builder.save()
    return path
