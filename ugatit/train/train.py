"""The training phase: `python main.py --phase train`. The loop lives here, outside the model.

train(config) scans the dataset, builds the input pipeline and the UGATIT training graph on it,
restores the newest checkpoint of <checkpoint_dir>/<model_dir> (or --checkpoint) or starts from
scratch, and runs the official schedule: one D step (and every n_critic steps one G step) per
iteration, a sample grid every print_freq iterations, a checkpoint every save_freq iterations,
at the end of every epoch and on Ctrl-C / SIGTERM, so a run never loses more than save_freq
steps. Steps are numbered from 1 and a checkpoint is named after the number of steps done, so
samples, logs and checkpoints count on exactly across resumes (and agree with the optimiser's own
step count). A lock keeps a second run out of the checkpoint folder; weights that are no longer
finite are never saved.
"""

import contextlib
import os
import signal

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from ops import bfloat16_convolutions
from ugatit.model.checkpoint import Checkpoint, checkpoint_step, latest_in_folder
from ugatit.config import learning_rate, session_config
from ugatit.train.data import scan_training_sets
from ugatit.errors import Stopped, UserError
from ugatit.train.lock import FolderLock
from ugatit.train.placement import Placement
from ugatit.train.train_eval import build_training_eval
from utils import check_folder, ensure_writable_folder, heatmap_to_rgb, imwrite_rgb, to_uint8

tf1 = tf.compat.v1


def run_training(config):
    """--phase train: train, then say at which step training stopped; returns the exit status 0."""
    print(' [*] Training finished at step %d' % train(config))
    return 0


def train(config):
    """Train (or resume) the model of `config`; returns the number of steps done."""
    paths = config.paths
    folders = {'--checkpoint_dir': config.run_folder('checkpoint'),
               '--log_dir': config.run_folder('log'),
               '--sample_dir': config.run_folder('sample')}
    for flag, folder in folders.items():
        ensure_writable_folder(folder, flag)
    files_A, files_B, _ = scan_training_sets(paths)
    refuse_batch_larger_than_dataset(config.runtime.batch_size, files_A, files_B)
    placement = Placement(config)  # one device, --towers or TF_CONFIG workers
    # Only the process that writes checkpoints (worker 0 of several) takes the folder's lock.
    lock = FolderLock(folders['--checkpoint_dir'], config.runtime.take_over_lock) \
        if placement.writes_checkpoints else contextlib.nullcontext()
    with lock, tf.Graph().as_default(), placement.session(session_config(config.runtime)) as sess:
        if config.train.seed is not None:
            tf1.set_random_seed(config.train.seed)
        with bfloat16_convolutions(config.runtime.bfloat16):
            ops = placement.train_ops(files_A, files_B, config)
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in tf1.trainable_variables()])
        # --eval_freq (ugatit/train/train_eval.py): only then are ops added, by the process that saves.
        evaluator = build_training_eval(config, folders['--log_dir']) \
            if config.eval.eval_freq > 0 and placement.writes_checkpoints else None
        sess.run(tf1.global_variables_initializer())
        averages = list(ops.average.averages.values()) if ops.average else []
        checkpoint = Checkpoint(config, tf1.global_variables(), max_to_keep=5, optional=averages)
        # No graph in the event file: it would carry the training files' paths.
        writer = tf1.summary.FileWriter(folders['--log_dir'])
        try:
            return TrainingLoop(config, sess, ops, checkpoint, writer, finite, placement, evaluator).run()
        finally:
            writer.close()
            if evaluator is not None:
                evaluator.close()


def refuse_batch_larger_than_dataset(batch_size, files_A, files_B):
    """UserError when a batch holds more images than a training set has: each batch would repeat
    the set many times over (--batch_size 100000 on 8 images went minutes without a step)."""
    smallest = min(len(files_A), len(files_B))
    if batch_size > smallest:
        raise UserError('--batch_size %d is larger than the training set: trainA has %d usable images, trainB %d. '
                        'Use --batch_size %d or less, or add images' % (batch_size, len(files_A), len(files_B), smallest))


class TrainingLoop(object):
    """The official training schedule over a built graph (see the module docstring).

    sess: the session holding the graph; ops: the model's TrainOps; checkpoint: a Checkpoint
    of every variable; writer: a tf.summary FileWriter; finite: a boolean scalar tensor, true
    when every trainable weight is finite; placement: the run's Placement (under TF_CONFIG the
    workers take worker 0's weights after the restore, and only worker 0 saves); evaluator: a
    train_eval.TrainingEval or None.
    """

    def __init__(self, config, sess, ops, checkpoint, writer, finite, placement, evaluator=None):
        self.config, self.sess, self.ops = config, sess, ops
        self.placement = placement
        self.evaluator = evaluator
        self.checkpoint, self.writer, self.finite = checkpoint, writer, finite
        self.sample_dir = check_folder(config.run_folder('sample'))
        self.done = 0             # steps done; the next step is number done + 1
        self.last_saved = None    # self.done at the last save
        self.past_g_loss = float('nan')
        self.stop_signal = None

    def run(self):
        """Train until the last epoch ends; returns the number of steps done. On Ctrl-C or SIGTERM the
        current state is saved and KeyboardInterrupt raised."""
        t = self.config.train
        start_epoch, start_batch_id = self._resume()
        self.placement.after_restore(self.sess)
        old_term = signal.signal(signal.SIGTERM, self._request_stop)
        done_before = start_epoch * t.iteration + start_batch_id
        self.bar = tqdm(total=max(t.epoch * t.iteration - done_before, 0), unit='step',
                        dynamic_ncols=True, desc='train', mininterval=1.0)
        try:
            for epoch in range(start_epoch, t.epoch):
                lr = learning_rate(epoch, t.lr, t.decay_flag, t.decay_epoch, t.epoch)
                for idx in range(start_batch_id, t.iteration):
                    self._iteration(epoch, idx, lr)
                start_batch_id = 0
                self._save()
            if self.evaluator is not None:
                self.evaluator.finish(self.sess, self.writer, self.done)
        except KeyboardInterrupt:
            self.bar.close()
            if self.last_saved != self.done:
                self._save()
            tqdm.write(' [*] Interrupted: checkpoint saved at step %d in %s' % (self.done, self.checkpoint.folder))
            raise
        finally:
            self.bar.close()
            signal.signal(signal.SIGTERM, old_term)
            self.writer.flush()
        return self.done

    def _request_stop(self, signum, _frame):
        self.stop_signal = signum

    def _resume(self):
        """Restore the newest checkpoint if there is one; returns (start epoch, start index)."""
        restored = self.checkpoint.restore(self.sess)
        self._start_average(restored)
        if restored is None:
            tqdm.write(' [*] No checkpoint in %s: training from scratch' % self.checkpoint.folder)
            return 0, 0
        prefix, step = restored
        self.done = self.last_saved = step
        self.checkpoint.keep_track_of_older()
        tqdm.write(' [*] Resumed from %s (step %d)' % (prefix, step))
        iteration = self.config.train.iteration
        return step // iteration, step % iteration

    def _start_average(self, restored):
        """--ema_decay: the averaged generator weights start equal to the weights, unless the
        checkpoint restored them."""
        average = self.ops.average
        if average is None or (restored is not None and not self.checkpoint.not_restored):
            return
        self.sess.run(average.reset)
        if restored is not None:
            tqdm.write(' [*] %s holds no averaged generator weights: they start from its weights now (--ema_decay %s)'
                       % (restored[0], average.decay))

    def _iteration(self, epoch, idx, lr):
        """One D step (and G step), then the NaN guard, samples, saves and the stop request."""
        t = self.config.train
        d_loss, g_loss, sample = self._step(lr)
        self.bar.update(1)
        self.bar.set_postfix(epoch=epoch, step=self.done, d_loss='%.4f' % d_loss,
                             g_loss='%.4f' % g_loss, lr='%.2e' % lr, refresh=False)
        if not (np.isfinite(d_loss) and np.isfinite(g_loss)):
            self._diverged('d_loss %s, g_loss %s' % (d_loss, g_loss))
        if (idx + 1) % t.print_freq == 0:
            if sample is None:  # G step skipped (n_critic > 1): fetch images now
                sample = self.sess.run(self.ops.images)
            path = os.path.join(self.sample_dir, 'sample_{:03d}_{:05d}.png'.format(epoch, idx + 1))
            save_sample_grid(sample, path)
            tqdm.write('epoch %d step %d/%d d_loss %.6f g_loss %.6f lr %.2e sample %s'
                       % (epoch, idx + 1, t.iteration, d_loss, g_loss, lr, path))
        if (idx + 1) % t.save_freq == 0:
            self._save()
        if self.evaluator is not None and self.evaluator.due(self.done):
            self.evaluator.run(self.sess, self.writer, self.done)
        if self.stop_signal is not None:
            raise Stopped(self.stop_signal)

    def _step(self, lr):
        """Run the D step and, every n_critic steps, the G step; returns (d_loss, g_loss, sample
        images or None). Without a G step g_loss is the last one."""
        ops, feed = self.ops, {self.ops.lr: lr}
        step = self.done + 1
        _, d_loss, summary = self.sess.run([ops.D_optim, ops.Discriminator_loss, ops.d_summary], feed_dict=feed)
        self.writer.add_summary(summary, step)
        sample = None
        if self.done % self.config.train.n_critic == 0:
            sample, _, self.past_g_loss, summary = self.sess.run(
                [ops.images, ops.G_optim, ops.Generator_loss, ops.g_summary], feed_dict=feed)
            self.writer.add_summary(summary, step)
        self.done = step
        return d_loss, self.past_g_loss, sample

    def _save(self):
        """Save the weights as the checkpoint of step self.done, unless they are not finite.
        Under TF_CONFIG only worker 0 saves; the others only note the step."""
        if not self.placement.writes_checkpoints:
            self.last_saved = self.done
            return
        if not self.sess.run(self.finite):
            self._diverged('a weight is no longer finite')
        self.checkpoint.save(self.sess, self.done)
        self.last_saved = self.done

    def _diverged(self, what):
        """Stop with a message: nothing is saved, the newest checkpoint stays the last finite one."""
        self.last_saved = self.done  # no save on the way out either
        kept = ('the newest checkpoint, of step %d, is the last finite one' % self.checkpoint_step_kept()
                if self.checkpoint_step_kept() else 'no checkpoint was saved')
        raise UserError('training diverged at step %d (%s); these weights are not saved: %s (%s). Try a lower '
                        '--lr; when it diverges within the first steps, look at the training images too.'
                        % (self.done, what, kept, self.checkpoint.folder))

    def checkpoint_step_kept(self):
        """The step of the newest checkpoint in the folder (0: none)."""
        prefix = latest_in_folder(self.checkpoint.folder)
        return checkpoint_step(prefix) if prefix else 0


def save_sample_grid(images, path):
    """One row per batch item: real A | fake B | attention A->B | real B | fake A | attention B->A.

    images: the TrainOps.images values, [N, S, S, 3] in [-1, 1] and heatmaps [N, S/4, S/4]."""
    size = images['real_A'].shape[1]
    rows = []
    for i in range(images['real_A'].shape[0]):
        rows.append(np.concatenate([
            to_uint8(images['real_A'][i]), to_uint8(images['fake_B'][i]),
            heatmap_to_rgb(images['heatmap_A2B'][i], size),
            to_uint8(images['real_B'][i]), to_uint8(images['fake_A'][i]),
            heatmap_to_rgb(images['heatmap_B2A'][i], size)], axis=1))
    imwrite_rgb(path, np.concatenate(rows, axis=0))
