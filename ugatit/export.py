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

from utils import check_folder

tf1 = tf.compat.v1

TFLITE_VARIANTS = ('float32', 'float16', 'dynamic_range')


def serving_graph(gan, direction, batch=None):
    """Build uint8 -> (uint8, attention) around one generator. Returns (input, image, attention)."""
    size = gan.img_size
    image_in = tf1.placeholder(tf.uint8, [batch, size, size, 3], name='image')
    x = tf.cast(image_in, tf.float32) / 127.5 - 1.0
    generate = gan.generate_a2b if direction == 'a2b' else gan.generate_b2a
    fake, _, heatmap = generate(x)
    image_out = tf.cast(tf.clip_by_value(tf.round((fake + 1.0) * 127.5), 0.0, 255.0), tf.uint8, name='translated')
    lo = tf.reduce_min(heatmap, axis=[1, 2], keepdims=True)
    hi = tf.reduce_max(heatmap, axis=[1, 2], keepdims=True)
    attention = tf.identity((heatmap - lo) / tf.maximum(hi - lo, 1e-12), name='attention')
    return image_in, image_out, attention


def export(gan, export_dir):
    """Export the generator of gan.args.direction; returns {artefact name: path}."""
    from ugatit.model import UGATIT
    direction = gan.args.direction
    out = check_folder(os.path.join(export_dir, gan.model_dir, direction))
    written = {}

    # SavedModel with a dynamic batch dimension.
    graph = tf.Graph()
    with graph.as_default(), tf1.Session(graph=graph) as sess:
        model = UGATIT(sess, gan.args)
        image_in, image_out, attention = serving_graph(model, direction)
        model.restore_generators()
        prefix = model.loaded_checkpoint
        path = os.path.join(out, 'saved_model')
        if os.path.exists(path):
            import shutil
            shutil.rmtree(path)
        builder = tf1.saved_model.Builder(path)
        signature = tf1.saved_model.predict_signature_def(
            inputs={'image': image_in}, outputs={'image': image_out, 'attention': attention})
        builder.add_meta_graph_and_variables(sess, [tf1.saved_model.tag_constants.SERVING],
                                             signature_def_map={'serving_default': signature})
        builder.save()
        written['saved_model'] = path
        print(' [*] SavedModel from %s: %s' % (prefix, path))

    # TFLite, batch 1 (camera-filter use), from a frozen session.
    graph = tf.Graph()
    with graph.as_default(), tf1.Session(graph=graph) as sess:
        model = UGATIT(sess, gan.args)
        image_in, image_out, attention = serving_graph(model, direction, batch=1)
        model.restore_generators()
        for variant in TFLITE_VARIANTS:
            converter = tf1.lite.TFLiteConverter.from_session(sess, [image_in], [image_out, attention])
            if variant != 'float32':
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if variant == 'float16':
                converter.target_spec.supported_types = [tf.float16]
            path = os.path.join(out, 'model_%s.tflite' % variant)
            with open(path, 'wb') as f:
                f.write(converter.convert())
            written[variant] = path
            print(' [*] TFLite %s: %s (%.1f MB)' % (variant, path, os.path.getsize(path) / 1e6))
    return written
