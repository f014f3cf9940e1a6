"""`python main.py --phase export --format onnx`: ONNX models of the generators (onnxruntime, and
the web page's on-device mode: `--format web`, ugatit/infer/web_export.py).

Written to `<export_dir>/<model_dir>/onnx/` (both directions, or --direction's alone):
    <direction>.onnx            the SavedModel's signature (ugatit/infer/export.py), any batch:
                                  image      uint8 [N, S, S, 3] RGB in
                                  -> translated uint8 [N, S, S, 3] RGB out
                                  -> attention float32 [N, S/4, S/4], CAM map scaled to [0, 1]
    <direction>.float16.onnx    the same, its weights stored as float16 and cast to float32 when
                                the model is loaded: half the size, the same float32 computation
    model.json                  {"img_size", "directions", "step", "checkpoint", "files"}

Both come from the graph the SavedModel export freezes (Translator io='uint8'), converted by
tf2onnx. Nothing is overwritten: an `onnx/` folder that holds files is refused; the export is
written beside it in a hidden folder and renamed at the end (ugatit/infer/export.py staged_folder).
"""

import json
import logging
import os

import numpy as np
import tensorflow as tf

from ugatit.errors import UserError
from ugatit.infer.export import check_export_dir, staged_folder
from utils import write_atomic

tf1 = tf.compat.v1

OPSET = 17  # onnxruntime 1.17+ and onnxruntime-web run it
# float32 weights of fewer elements stay float32 in the float16 variant (biases, norms' epsilon).
FLOAT16_MIN_ELEMENTS = 64
VARIANTS = ('float32', 'float16')


def file_name(direction, variant):
    return '%s.onnx' % direction if variant == 'float32' else '%s.%s.onnx' % (direction, variant)


def convert(session, graph, signature):
    """The ONNX model (onnx.ModelProto, float32) of one direction's uint8 signature (input,
    image, attention) in a restored session: its graph frozen and converted by tf2onnx; input
    `image`, outputs `translated` and `attention` (an ONNX graph cannot reuse the input's name
    for an output, as the SavedModel's signature does)."""
    import tf2onnx
    logging.getLogger('tf2onnx').setLevel(logging.ERROR)
    image_in, image_out, attention = signature
    frozen = tf1.graph_util.convert_variables_to_constants(
        session, graph.as_graph_def(), [image_out.op.name, attention.op.name])
    model, _ = tf2onnx.convert.from_graph_def(frozen, input_names=[image_in.name],
                                              output_names=[image_out.name, attention.name], opset=OPSET)
    _rename(model, {image_in.name: 'image', image_out.name: 'translated', attention.name: 'attention'})
    model.doc_string = 'U-GAT-IT generator: uint8 RGB [N, S, S, 3] in, uint8 RGB and attention [N, S/4, S/4] out'
    return model


def _rename(model, names):
    """Rename graph values in place: the graph's inputs and outputs and the node ends using them."""
    graph = model.graph
    for value in list(graph.input) + list(graph.output):
        if value.name in names:
            value.name = names[value.name]
    for node in graph.node:
        for ends in (node.input, node.output):
            for k, name in enumerate(ends):
                if name in names:
                    ends[k] = names[name]


def float16_weights(model):
    """A copy of `model` whose float32 weights (initializers of FLOAT16_MIN_ELEMENTS or more)
    are stored as float16, each followed by a Cast back to float32: half the file, the same
    float32 computation on weights rounded to float16."""
    import onnx
    from onnx import numpy_helper
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    kept, casts = [], []
    for init in graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT and np.prod(init.dims) >= FLOAT16_MIN_ELEMENTS:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + '__f16')
            kept.append(half)
            casts.append(onnx.helper.make_node('Cast', [half.name], [init.name], to=onnx.TensorProto.FLOAT,
                                               name=init.name + '__cast'))
        else:
            kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return out


def onnx_models(config, directions, write, variants=VARIANTS):
    """Convert the generators of `directions` from the checkpoint the test phase would restore,
    calling write(direction, variant, serialized ONNX model) for each of `variants` as soon as
    it is made (one model in memory at a time: a 256 px generator is over 1 GB); returns the
    Translator's (checkpoint, step)."""
    from ugatit.infer.translator import Translator
    with Translator(config, directions, io='uint8') as translator:
        for direction in directions:
            model = convert(translator.session, translator.graph, translator.signature(direction))
            for variant in variants:
                write(direction, variant, (model if variant == 'float32' else float16_weights(model)).SerializeToString())
            del model
        return translator.checkpoint, translator.step


def model_info(config, directions, checkpoint, step):
    return {'img_size': config.model.img_size, 'directions': list(directions), 'step': int(step),
            'checkpoint': os.path.basename(checkpoint),
            'files': {d: {v: file_name(d, v) for v in VARIANTS} for d in directions}}


def refuse_existing(out):
    """UserError when `out` (or a folder above it) is a file, or `out` already holds files."""
    check_export_dir(out)
    if os.path.isdir(out) and os.listdir(out):
        raise UserError('%s already holds files (an earlier export?): nothing was overwritten. Choose another '
                        '--export_dir, or delete that folder first.' % out)


def export_onnx(config):
    """Write <export_dir>/<model_dir>/onnx/ (module docstring); returns {(direction, variant) or
    'model.json': path}."""
    directions = config.export_directions
    out = os.path.join(config.run_folder('export'), 'onnx')
    refuse_existing(out)
    names, sizes = {}, {}
    with staged_folder(out) as staging:
        def write(direction, variant, data):
            names[direction, variant] = file_name(direction, variant)
            sizes[direction, variant] = len(data)
            write_atomic(os.path.join(staging, names[direction, variant]), data)
        checkpoint, step = onnx_models(config, directions, write)
        info = model_info(config, directions, checkpoint, step)
        write_atomic(os.path.join(staging, 'model.json'), json.dumps(info, indent=1).encode())
    for key, size in sorted(sizes.items()):
        print(' [*] ONNX %s %s: %s (%.1f MB)' % (key[0], key[1], names[key], size / 1e6))
    names['model.json'] = 'model.json'
    print(' [*] Exported %s of %s (step %d) to %s' % (' and '.join(directions), checkpoint, step, out))
    return {key: os.path.join(out, name) for key, name in names.items()}
