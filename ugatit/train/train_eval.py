"""`--eval_freq N`: score the generators being trained on a fixed subset of the test images.

Every N steps and at the end of training, the first --eval_images files of testA and of testB are
translated by the training graph's own generators (a placeholder-fed copy of the generate path that
shares their variables, built only when --eval_freq > 0, so the default training graph is unchanged)
and scored:
  - KID x100 (with its standard error) and FID against the same number of real images of the target
    domain, with the Inception graph, when it is at hand without a download (--inception, or already
    in the cache: a download never starts in the middle of training); it is loaded once;
  - L1 and PSNR against the paired ground truth (<split>_truth/, as the built-in demo has), when the
    dataset has one for every image of the subset;
  - when neither is possible, a warning says so once and training goes on unscored.
The numbers go to TensorBoard (eval/a2b_kid_x100, eval/a2b_fid, eval/a2b_l1, eval/a2b_psnr, ...), to
<log_dir>/<model_dir>/eval_history.csv (rewritten atomically, one row per evaluation) and to the console
as one line. ugatit/train/eval_curve.py plots the history.
"""

import os

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from ugatit.config import DIRECTIONS, domain_folder
from ugatit.errors import UserError
from ugatit.train.eval_curve import History
from ugatit.eval.eval_model import read_split, translate_in_batches
from ugatit.eval.inception import InceptionFeatures, find_graph, read_graph_def
from ugatit.eval.metrics import KID_BLOCK_SIZE, score_features
from ugatit.model.model import UGATIT
from ugatit.infer.testing import l1_and_psnr, load_batch
from utils import to_uint8

tf1 = tf.compat.v1

HISTORY_NAME = 'eval_history.csv'
SCOPE = 'training_eval'


def build_training_eval(config, log_folder):
    """Read the test subset, find what can score it and build the generate path in the default graph.

    Call while the training graph is the default graph, after its variables exist. Returns a
    TrainingEval, or None (after a warning) when nothing can be scored.
    """
    inputs, truths = {}, {}
    for direction in DIRECTIONS:
        source = DIRECTIONS[direction].source_split
        files, inputs[direction], _ = read_split(config, source, config.eval.eval_images)
        truths[direction] = read_truth(config, source, files)
    inception = local_inception(config, min(len(x) for x in inputs.values()))
    if inception is None and all(t is None for t in truths.values()):
        tqdm.write(' [!] --eval_freq: nothing can be scored (no Inception graph at hand and no ground truth '
                   'for the test images); training goes on without evaluation')
        return None
    real = None
    if inception is not None:
        # The real images of each direction's target domain are the other direction's inputs.
        real = {d: inception.features(to_uint8(inputs[DIRECTIONS[d].opposite]),
                                      desc='features (%s)' % DIRECTIONS[d].target_split)
                for d in DIRECTIONS}
    model, size = UGATIT(config.model), config.model.img_size
    signatures = {}
    with tf1.name_scope(SCOPE):
        for direction in DIRECTIONS:
            image = tf1.placeholder(tf.float32, [None, size, size, config.model.img_ch], name='image_' + direction)
            signatures[direction] = (image, model.generate(direction, image, reuse=True)[0])
    history = History(os.path.join(log_folder, HISTORY_NAME))
    return TrainingEval(config.eval.eval_freq, config.runtime.batch_size, signatures, inputs, truths, inception,
                        real, history)


def read_truth(config, split, files):
    """uint8 [N, S, S, 3] ground truth of `files` (<split>_truth/<same name>), or None unless every file has
    a readable one."""
    folder = domain_folder(config.paths.dataset_dir, config.paths.dataset, split + '_truth')
    if not files or not os.path.isdir(folder):
        return None
    images, _, skipped = load_batch([os.path.join(folder, os.path.basename(f)) for f in files], config.model.img_size)
    if skipped:
        tqdm.write(' [!] --eval_freq: no L1/PSNR for %s: %d of its %d images have no readable ground truth (%s)'
                   % (split, len(skipped), len(files), skipped[0][1]))
        return None
    return to_uint8(np.stack(images))


def local_inception(config, n_images):
    """InceptionFeatures of --inception or of the cached graph, never downloaded; None (with a note)
    when there is none, or when the subset is smaller than one KID block. A bad --inception file stops."""
    try:
        source = find_graph(config.eval.inception, allow_download=False)
    except UserError as exc:
        if config.eval.inception is not None:
            raise
        tqdm.write(' [*] --eval_freq: no KID/FID (%s)' % exc)
        return None
    if n_images < KID_BLOCK_SIZE:
        tqdm.write(' [!] --eval_freq: no KID/FID: it needs %d test images per domain, the subset has %d'
                   % (KID_BLOCK_SIZE, n_images))
        return None
    return InceptionFeatures(read_graph_def(source), source)


class TrainingEval(object):
    """Scores the training session's generators; see the module docstring.

    signatures: {direction: (input placeholder [N, S, S, 3], translation)}; inputs: {direction: float32
    [N, S, S, 3] in [-1, 1]}; truths: {direction: uint8 [N, S, S, 3] or None}; inception: InceptionFeatures
    or None; real: {direction: features [M, d] of the target domain} (with inception); history: History.
    """

    def __init__(self, freq, batch_size, signatures, inputs, truths, inception, real, history):
        self.freq, self.batch_size, self.signatures = freq, batch_size, signatures
        self.inputs, self.truths, self.inception, self.real, self.history = inputs, truths, inception, real, history
        self.last_step = history.last_step()

    def due(self, step):
        return step % self.freq == 0

    def score(self, sess, step):
        """Translate the subset with the session's weights and score it; returns the history row."""
        row = {'step': step}
        for direction, (image, translated) in self.signatures.items():
            fake = to_uint8(translate_in_batches(lambda batch: sess.run(translated, {image: batch}), self.inputs[direction],
                                                 self.batch_size, 'eval %s' % direction))
            if self.truths[direction] is not None:
                row[direction + '_l1'], row[direction + '_psnr'] = l1_and_psnr(fake, self.truths[direction])
            if self.inception is not None:
                result = score_features(self.real[direction], self.inception.features(fake, desc='features (eval)'))
                row.update({'%s_%s' % (direction, k): result[k] for k in ('kid_x100', 'kid_std_x100', 'fid')})
        return row

    def run(self, sess, writer, step):
        """Score at `step`: TensorBoard scalars, a history row, one console line."""
        row = self.score(sess, step)
        values = [tf1.Summary.Value(tag='eval/' + k, simple_value=v) for k, v in row.items() if k != 'step' and v is not None]
        writer.add_summary(tf1.Summary(value=values), step)
        writer.flush()
        self.history.append(row)
        self.last_step = step
        tqdm.write(format_row(row))

    def finish(self, sess, writer, step):
        """The evaluation at the end of training, unless this step was scored already."""
        if step > 0 and step != self.last_step:
            self.run(sess, writer, step)

    def close(self):
        if self.inception is not None:
            self.inception.close()


def format_row(row):
    """One console line of a history row."""
    parts = []
    for direction in DIRECTIONS:
        get = lambda name: row.get('%s_%s' % (direction, name))  # noqa: E731
        text = []
        if get('kid_x100') is not None:
            std = get('kid_std_x100')
            text.append('KID×100 %.2f%s FID %.2f' % (get('kid_x100'), '' if std is None else ' ± %.2f' % std, get('fid')))
        if get('l1') is not None:
            text.append('L1 %.4f PSNR %.2f dB' % (get('l1'), get('psnr')))
        parts.append('%s %s' % (direction, ' '.join(text)))
    return 'eval step %d: %s' % (row['step'], ' | '.join(parts))
