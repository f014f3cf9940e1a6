"""One inference object for every phase that translates: test, photos, export (and what comes).

    with Translator(config, directions=('a2b',)) as translator:
        images, heatmaps = translator.translate('a2b', batch)   # [N, S, S, 3] in [-1, 1]

It builds only the generators of the directions asked for, in a graph and session of its own,
and restores them from the checkpoint the config names (generators only: no discriminator,
no Adam slot is read, and no random initialisation runs before the restore).
"""

import numpy as np
import tensorflow as tf

from ops import bfloat16_convolutions, winograd_convolutions
from ugatit import native
from ugatit.model.checkpoint import Checkpoint
from ugatit.config import DIRECTIONS, session_config
from ugatit.model.model import UGATIT
from ugatit.infer.session import OwnsSession

tf1 = tf.compat.v1

class Translator(OwnsSession):
    """Restored generators, ready to translate numpy batches.

    config: the run's Config (model architecture, checkpoint paths, runtime options);
    directions: the generators to build, among 'a2b' (A -> B) and 'b2a' (B -> A);
    batch: the static batch dimension of the inputs (None: any);
    io: 'float' (images float32 in [-1, 1]) or 'uint8' (the serving form: RGB uint8 in, uint8
        out, attention scaled to [0, 1] per image; what export writes).
    After construction: .checkpoint (the restored prefix), .step (its global step) and .averaged
    (True when the generators hold the checkpoint's averaged weights, --ema_decay; --raw_weights
    restores the raw ones instead).
    """

    def __init__(self, config, directions=tuple(DIRECTIONS), batch=None, io='float'):
        unknown = [d for d in directions if d not in DIRECTIONS]
        if unknown or not directions or io not in ('float', 'uint8'):
            raise ValueError('directions must be among %s and io float or uint8; got %r, %r'
                             % (tuple(DIRECTIONS), directions, io))
        self.config = config
        self.io = io
        self.batch_size = config.runtime.batch_size
        self.graph = tf.Graph()
        winograd = native.winograd_library() if config.runtime.winograd else None  # --winograd
        with self.graph.as_default(), bfloat16_convolutions(config.runtime.bfloat16), \
                winograd_convolutions(winograd):
            self._signatures = build_generators(config.model, directions, batch, io, config.photo.flip_average)
            if winograd is not None and not any(op.type == 'WinogradInput' for op in self.graph.get_operations()):
                print(' [*] --winograd: no convolution of this model is large enough to gain from Winograd '
                      '(docs/performance.md); all run as tf.nn.conv2d')
            self.session = tf1.Session(graph=self.graph, config=session_config(config.runtime))
            try:
                restore = Checkpoint(self.config, tf1.global_variables())
                self.checkpoint, self.step = restore.restore(self.session, required=True,
                                                             average=not config.paths.raw_weights)
                self.averaged = restore.averaged
            except BaseException:
                self.session.close()
                raise

    @property
    def directions(self):
        return tuple(self._signatures)

    def signature(self, direction):
        """(input placeholder, translated image, attention) tensors of one direction (export)."""
        return self._signatures[direction]

    def translate(self, direction, images):
        """Translate images [N, S, S, 3] (float32 in [-1, 1], or uint8 with io='uint8') in runs
        of at most config.runtime.batch_size. Returns (translated [N, S, S, 3] of the same kind,
        heatmaps [N, S/4, S/4]: the raw CAM sum, or scaled to [0, 1] with io='uint8')."""
        placeholder, output, heatmap = self._signatures[direction]
        outs, heats = [], []
        for start in range(0, len(images), self.batch_size):
            o, h = self.session.run([output, heatmap], {placeholder: images[start:start + self.batch_size]})
            outs.append(o)
            heats.append(h)
        return np.concatenate(outs), np.concatenate(heats)



def build_generators(model_config, directions=tuple(DIRECTIONS), batch=None, io='float', flip_average=False):
    """Build the generators of `directions` (in that order) in the default graph.

    Returns {direction: (input placeholder, translated image, heatmap)}; see Translator's io.
    flip_average: each output the mean of the image's and its mirror image's (generate_flip_averaged).
    """
    model = UGATIT(model_config)
    return {d: _build_direction(model, d, batch, io, flip_average) for d in directions}


def generate_flip_averaged(model, direction, x):
    """Translate x [N, S, S, 3] and its mirror image in one generator call (batch 2N), and
    average each result with the mirror image's, mirrored back: (image [N, S, S, 3], heatmap
    [N, S/4, S/4]). A test-time augmentation: training saw both (the random flip), and the
    two translations' noise differs while the drawing agrees."""
    fake, _, heatmap = model.generate(direction, tf.concat([x, tf.reverse(x, axis=[2])], axis=0))
    fake, fake_of_mirror = tf.split(fake, 2, axis=0)
    heatmap, heatmap_of_mirror = tf.split(heatmap, 2, axis=0)
    return ((fake + tf.reverse(fake_of_mirror, axis=[2])) / 2,
            (heatmap + tf.reverse(heatmap_of_mirror, axis=[2])) / 2)


def _generate(model, direction, x, flip_average):
    """(image, heatmap) of model.generate, or of generate_flip_averaged with flip_average."""
    if flip_average:
        return generate_flip_averaged(model, direction, x)
    fake, _, heatmap = model.generate(direction, x)
    return fake, heatmap


def _build_direction(model, direction, batch, io, flip_average):
    """The placeholder and outputs of one generator; see Translator's io."""
    size = model.model.img_size
    if io == 'float':
        image_in = tf1.placeholder(tf.float32, [batch, size, size, model.model.img_ch], name='image_' + direction)
        fake, heatmap = _generate(model, direction, image_in, flip_average)
        return image_in, fake, heatmap
    image_in = tf1.placeholder(tf.uint8, [batch, size, size, 3], name='image')
    # A SavedModel's signature is not checked against what it is fed: check it in the graph.
    checked = tf.ensure_shape(image_in, [batch, size, size, 3])
    fake, heatmap = _generate(model, direction, tf.cast(checked, tf.float32) / 127.5 - 1.0, flip_average)
    image_out = tf.cast(tf.clip_by_value(tf.round((fake + 1.0) * 127.5), 0.0, 255.0), tf.uint8, name='translated')
    lo = tf.reduce_min(heatmap, axis=[1, 2], keepdims=True)
    hi = tf.reduce_max(heatmap, axis=[1, 2], keepdims=True)
    attention = tf.identity((heatmap - lo) / tf.maximum(hi - lo, 1e-12), name='attention')
    return image_in, image_out, attention


def save_random_generators(config, step):
    """Both generators of config.model with random weights, saved where config's test phase
    looks (<checkpoint_dir>/<model_dir>, flags file included); returns the prefix. For tests
    and benchmarks: speed does not depend on the weights' values."""
    graph = tf.Graph()
    with graph.as_default(), tf1.Session(graph=graph) as sess:
        build_generators(config.model)
        sess.run(tf1.global_variables_initializer())
        return Checkpoint(config, tf1.global_variables()).save(sess, step)
