"""The UGATIT class: builds the U-GAT-IT graph (TF1 style), trains it and tests it.

Official checkpoint quirks kept on purpose (they are the variable names of the released
selfie2anime checkpoints):
  * scope `generator_B` translates A -> B and `generator_A` translates B -> A;
  * the decoder blocks are `adaptive_resblock0..3` (no underscore) while the encoder blocks are
    `resblock_0..3` (with one);
  * the G optimiser is created first, so its Adam powers are `beta1_power`/`beta2_power` and the
    D optimiser's are `beta1_power_1`/`beta2_power_1`.
"""

import os
import signal
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from ops import (L1_loss, adaptive_ins_layer_resblock, cam_non_source_loss, cam_source_loss, conv,
                 discriminator_loss, flatten, fully_connected, fully_connected_with_w, generator_loss,
                 global_avg_pooling, global_max_pooling, gradient_penalty, instance_norm,
                 layer_instance_norm, lrelu, regularization_loss, relu, resblock, tanh, up_sample)
from ugatit import checkpoint as ckpt
from ugatit.config import learning_rate, model_dir_name  # noqa: F401 (re-exported)
from ugatit.data import domain_folder, make_dataset, scan_images
from ugatit.errors import UserError
from utils import check_folder, heatmap_to_rgb, merge, to_uint8

tf1 = tf.compat.v1

# Loss terms returned by build_losses(); each becomes a TensorBoard scalar of the same name.
G_SUMMARIES = ('G_A_loss', 'G_A_gan', 'G_A_cycle', 'G_A_identity', 'G_A_cam',
               'G_B_loss', 'G_B_gan', 'G_B_cycle', 'G_B_identity', 'G_B_cam', 'Generator_loss')
D_SUMMARIES = ('D_A_loss', 'D_B_loss', 'Discriminator_loss')


class UGATIT(object):
    """U-GAT-IT model bound to a tf.compat.v1.Session.

    Contract: construct with parsed, validated flags (main.py), call build_model() once, then
    train() or test(). All images are float32 NHWC in [-1, 1].
    """

    def __init__(self, sess, args):
        self.sess = sess
        self.args = args
        self.light = args.light
        self.model_name = 'UGATIT_light' if self.light else 'UGATIT'
        self.phase = args.phase
        self.dataset_name = args.dataset
        self.checkpoint_dir = args.checkpoint_dir
        self.result_dir = args.result_dir
        self.log_dir = args.log_dir
        self.sample_dir = os.path.join(args.sample_dir, self.model_dir)

        self.epoch, self.iteration = args.epoch, args.iteration
        self.decay_flag, self.decay_epoch = args.decay_flag, args.decay_epoch
        self.gan_type = args.gan_type
        self.batch_size = args.batch_size
        self.print_freq, self.save_freq = args.print_freq, args.save_freq
        self.init_lr = args.lr
        self.ch = args.ch

        self.adv_weight, self.cycle_weight = args.adv_weight, args.cycle_weight
        self.identity_weight, self.cam_weight = args.identity_weight, args.cam_weight
        self.ld = args.GP_ld
        self.smoothing = args.smoothing

        self.n_res = args.n_res
        self.n_dis, self.n_critic, self.sn = args.n_dis, args.n_critic, args.sn
        self.img_size, self.img_ch = args.img_size, args.img_ch
        self.augment_flag = args.augment_flag

    @property
    def model_dir(self):
        return model_dir_name(self.args)

    ##################################################################################
    # Generator
    ##################################################################################

    def generator(self, x_init, reuse=False, scope='generator'):
        """x_init [N, S, S, img_ch] -> (image [N, S, S, 3] in [-1, 1], CAM logits [N, 2],
        attention heatmap [N, S/4, S/4])."""
        channel = self.ch
        with tf1.variable_scope(scope, reuse=reuse):
            x = conv(x_init, channel, kernel=7, stride=1, pad=3, pad_type='reflect', scope='conv')
            x = instance_norm(x, relu=True, scope='ins_norm')  # IN + ReLU (fused: ops.py)

            # Down-sampling
            for i in range(2):
                x = conv(x, channel * 2, kernel=3, stride=2, pad=1, pad_type='reflect', scope='conv_' + str(i))
                x = instance_norm(x, relu=True, scope='ins_norm_' + str(i))
                channel = channel * 2

            # Down-sampling bottleneck (scopes resblock_0.., with an underscore)
            for i in range(self.n_res):
                x = resblock(x, channel, scope='resblock_' + str(i))

            # Class activation map: one dense layer shared by the GAP and GMP branches.
            cam_gap_logit, cam_x_weight = fully_connected_with_w(global_avg_pooling(x), scope='CAM_logit')
            x_gap = tf.multiply(x, cam_x_weight)
            cam_gmp_logit, cam_x_weight = fully_connected_with_w(global_max_pooling(x), reuse=True, scope='CAM_logit')
            x_gmp = tf.multiply(x, cam_x_weight)

            cam_logit = tf.concat([cam_gap_logit, cam_gmp_logit], axis=-1)
            x = tf.concat([x_gap, x_gmp], axis=-1)
            x = conv(x, channel, kernel=1, stride=1, scope='conv_1x1')
            x = relu(x)
            heatmap = tf.reduce_sum(x, axis=-1)

            # Gamma, beta of AdaLIN
            gamma, beta = self.MLP(x, channel, reuse=reuse)

            # Up-sampling bottleneck (scopes adaptive_resblock0.., no underscore: official names)
            for i in range(self.n_res):
                x = adaptive_ins_layer_resblock(x, channel, gamma, beta, smoothing=self.smoothing,
                                                scope='adaptive_resblock' + str(i))

            # Up-sampling
            for i in range(2):
                x = up_sample(x, scale_factor=2)
                x = conv(x, channel // 2, kernel=3, stride=1, pad=1, pad_type='reflect', scope='up_conv_' + str(i))
                x = layer_instance_norm(x, relu=True, scope='layer_ins_norm_' + str(i))
                channel = channel // 2

            x = conv(x, channels=3, kernel=7, stride=1, pad=3, pad_type='reflect', scope='G_logit')
            x = tanh(x)
            return x, cam_logit, heatmap

    def MLP(self, x, channel, use_bias=True, reuse=False, scope='MLP'):
        """Bottleneck features [N, h, w, C] -> AdaLIN (gamma, beta), each [N, 1, 1, C].

        Light: global average pooling first; full: flatten (C*h*w inputs, 268M weights at 256 px).
        The width is the bottleneck width C = 4*ch (the official code used ch*n_res, equal for
        the default n_res = 4 and unbuildable otherwise).
        """
        if self.light:
            x = global_avg_pooling(x)
        with tf1.variable_scope(scope, reuse=reuse):
            for i in range(2):
                x = fully_connected(x, channel, use_bias, scope='linear_' + str(i))
                x = relu(x)
            gamma = fully_connected(x, channel, use_bias, scope='gamma')
            beta = fully_connected(x, channel, use_bias, scope='beta')
            # -1, not the batch-size flag: the official reshape broke test with --batch_size > 1.
            gamma = tf.reshape(gamma, shape=[-1, 1, 1, channel])
            beta = tf.reshape(beta, shape=[-1, 1, 1, channel])
            return gamma, beta

    ##################################################################################
    # Discriminator
    ##################################################################################

    def discriminator(self, x_init, reuse=False, scope='discriminator'):
        """x_init [N, S, S, 3] -> ([local, global] patch logits, [local, global] CAM logits [N, 2],
        local heatmap, global heatmap)."""
        with tf1.variable_scope(scope, reuse=reuse):
            local_x, local_cam, local_heatmap = self._discriminator_branch(x_init, self.n_dis - 2, scope='local')
            global_x, global_cam, global_heatmap = self._discriminator_branch(x_init, self.n_dis, scope='global')
            return [local_x, global_x], [local_cam, global_cam], local_heatmap, global_heatmap

    def _discriminator_branch(self, x_init, n_levels, scope):
        """One PatchGAN with a CAM head: conv_0, conv_1..conv_{n_levels-2} (stride 2),
        conv_last (stride 1), CAM, conv_1x1, D_logit. The local branch has n_dis - 2 levels,
        the global one n_dis."""
        with tf1.variable_scope(scope):
            channel = self.ch
            x = conv(x_init, channel, kernel=4, stride=2, pad=1, pad_type='reflect', sn=self.sn, scope='conv_0')
            x = lrelu(x, 0.2)
            for i in range(1, n_levels - 1):
                x = conv(x, channel * 2, kernel=4, stride=2, pad=1, pad_type='reflect', sn=self.sn, scope='conv_' + str(i))
                x = lrelu(x, 0.2)
                channel = channel * 2
            x = conv(x, channel * 2, kernel=4, stride=1, pad=1, pad_type='reflect', sn=self.sn, scope='conv_last')
            x = lrelu(x, 0.2)
            channel = channel * 2

            cam_gap_logit, cam_x_weight = fully_connected_with_w(global_avg_pooling(x), sn=self.sn, scope='CAM_logit')
            x_gap = tf.multiply(x, cam_x_weight)
            cam_gmp_logit, cam_x_weight = fully_connected_with_w(global_max_pooling(x), sn=self.sn, reuse=True, scope='CAM_logit')
            x_gmp = tf.multiply(x, cam_x_weight)

            cam_logit = tf.concat([cam_gap_logit, cam_gmp_logit], axis=-1)
            x = tf.concat([x_gap, x_gmp], axis=-1)
            x = conv(x, channel, kernel=1, stride=1, scope='conv_1x1')
            x = lrelu(x, 0.2)
            heatmap = tf.reduce_sum(x, axis=-1)

            x = conv(x, channels=1, kernel=4, stride=1, pad=1, pad_type='reflect', sn=self.sn, scope='D_logit')
            return x, cam_logit, heatmap

    ##################################################################################
    # Model
    ##################################################################################

    def generate_a2b(self, x_A, reuse=False):
        """A -> B with scope generator_B (official naming). Returns (image, CAM logits, heatmap)."""
        return self.generator(x_A, reuse=reuse, scope='generator_B')

    def generate_b2a(self, x_B, reuse=False):
        """B -> A with scope generator_A (official naming). Returns (image, CAM logits, heatmap)."""
        return self.generator(x_B, reuse=reuse, scope='generator_A')

    def _gradient_penalties(self, real, fake, scope):
        """(GP on the patch logits, GP on the CAM logits) of one discriminator, official form."""
        if self.gan_type == 'dragan':
            eps = tf.random.uniform(shape=tf.shape(real), minval=0., maxval=1.)
            _, x_var = tf.nn.moments(real, axes=[0, 1, 2, 3])
            fake = real + 0.5 * tf.sqrt(x_var) * eps
        alpha = tf.random.uniform(shape=[tf.shape(real)[0], 1, 1, 1], minval=0., maxval=1.)
        interpolated = real + alpha * (fake - real)
        logit, cam_logit, _, _ = self.discriminator(interpolated, reuse=True, scope=scope)
        return (gradient_penalty(self.gan_type, logit, interpolated, self.ld),
                gradient_penalty(self.gan_type, cam_logit, interpolated, self.ld))

    def build_losses(self, domain_A, domain_B):
        """Build generators, discriminators and the four losses on [N, S, S, 3] batches.

        Returns (losses, images, gradients): losses maps every official summary name
        (G_SUMMARIES, D_SUMMARIES, plus the regularisation terms) to a scalar tensor; images
        holds the tensors drawn in sample grids; gradients['generator'] and
        gradients['discriminator'] are [(gradient, variable)] lists of Generator_loss and
        Discriminator_loss for the generators' and the discriminators' trainable variables.

        The generator loss is a sum of terms that each depend on one input domain: the A terms
        (A -> B -> A cycle, A -> A identity, D_B on the fake B, the CAM logits of those passes)
        share no activation with the B terms. Their gradients are computed one half after the
        other (the B passes wait for the A half's gradients), so the G step holds the
        activations of three generator passes instead of six, with the official numbers.
        Likewise discriminator_B's gradients wait for discriminator_A's, so that the two never
        hold their kernel-sized gradient temporaries at the same time.
        """
        # The first passes create generator_B then generator_A, the official variable order.
        x_ab, cam_ab, heat_ab = self.generate_a2b(domain_A)
        x_ba, cam_ba, heat_ba = self.generate_b2a(domain_B)

        real_A_logit, real_A_cam_logit, _, _ = self.discriminator(domain_A, scope='discriminator_A')
        real_B_logit, real_B_cam_logit, _, _ = self.discriminator(domain_B, scope='discriminator_B')
        fake_A_logit, fake_A_cam_logit, _, _ = self.discriminator(x_ba, reuse=True, scope='discriminator_A')
        fake_B_logit, fake_B_cam_logit, _, _ = self.discriminator(x_ab, reuse=True, scope='discriminator_B')

        if 'wgan' in self.gan_type or self.gan_type == 'dragan':
            GP_A, GP_CAM_A = self._gradient_penalties(domain_A, x_ba, 'discriminator_A')
            GP_B, GP_CAM_B = self._gradient_penalties(domain_B, x_ab, 'discriminator_B')
        else:
            GP_A = GP_CAM_A = GP_B = GP_CAM_B = 0
        D_ad_loss_A = (discriminator_loss(self.gan_type, real_A_logit, fake_A_logit)
                       + discriminator_loss(self.gan_type, real_A_cam_logit, fake_A_cam_logit) + GP_A + GP_CAM_A)
        D_ad_loss_B = (discriminator_loss(self.gan_type, real_B_logit, fake_B_logit)
                       + discriminator_loss(self.gan_type, real_B_cam_logit, fake_B_cam_logit) + GP_B + GP_CAM_B)

        G_vars = [var for var in tf1.trainable_variables() if 'generator' in var.name]
        L = {'regularization_loss_generator': regularization_loss('generator'),
             'regularization_loss_discriminator': regularization_loss('discriminator')}
        from_A = self._generator_terms(domain_A, x_ab, cam_ab, fake_B_logit, fake_B_cam_logit, self.generate_b2a)
        grads_A = tf.gradients(from_A['total'] + L['regularization_loss_generator'], G_vars)
        with tf.control_dependencies([g for g in grads_A if g is not None]):
            # The B terms' own passes (the D step uses x_ba above, which waits for nothing).
            x_ba_g, cam_ba_g, heat_ba_g = self.generate_b2a(domain_B, reuse=True)
            fake_A_logit_g, fake_A_cam_logit_g, _, _ = self.discriminator(x_ba_g, reuse=True, scope='discriminator_A')
            from_B = self._generator_terms(domain_B, x_ba_g, cam_ba_g, fake_A_logit_g, fake_A_cam_logit_g,
                                           self.generate_a2b)
        grads_B = tf.gradients(from_B['total'], G_vars)
        generator_gradients = [(_add(a, b), var) for a, b, var in zip(grads_A, grads_B, G_vars)]

        # Official grouping: generator "A" (scope generator_A, B -> A) owns reconstruction_B, and
        # cam_A = cam_loss(source=cam_ba, non_source=cam_aa).
        L['G_A_gan'] = self.adv_weight * from_B['gan']
        L['G_A_cycle'] = self.cycle_weight * from_B['cycle']
        L['G_A_identity'] = self.identity_weight * from_A['identity']
        L['G_A_cam'] = self.cam_weight * (from_B['cam_source'] + from_A['cam_non_source'])
        L['G_B_gan'] = self.adv_weight * from_A['gan']
        L['G_B_cycle'] = self.cycle_weight * from_A['cycle']
        L['G_B_identity'] = self.identity_weight * from_B['identity']
        L['G_B_cam'] = self.cam_weight * (from_A['cam_source'] + from_B['cam_non_source'])
        L['G_A_loss'] = L['G_A_gan'] + L['G_A_cycle'] + L['G_A_identity'] + L['G_A_cam']
        L['G_B_loss'] = L['G_B_gan'] + L['G_B_cycle'] + L['G_B_identity'] + L['G_B_cam']
        L['D_A_loss'] = self.adv_weight * D_ad_loss_A
        L['D_B_loss'] = self.adv_weight * D_ad_loss_B
        L['Generator_loss'] = L['G_A_loss'] + L['G_B_loss'] + L['regularization_loss_generator']
        L['Discriminator_loss'] = L['D_A_loss'] + L['D_B_loss'] + L['regularization_loss_discriminator']

        images = {'real_A': domain_A, 'real_B': domain_B, 'fake_A': x_ba_g, 'fake_B': x_ab,
                  'heatmap_A2B': heat_ab, 'heatmap_B2A': heat_ba_g}
        gradients = {'generator': generator_gradients,
                     'discriminator': self._discriminator_gradients(L['D_A_loss'], L['D_B_loss'])}
        return L, images, gradients

    def _discriminator_gradients(self, D_A_loss, D_B_loss):
        """[(gradient, variable)] of Discriminator_loss for every discriminator variable, in the
        official variable order: D_A's loss (and L2 terms) depend on D_A's variables only, so its
        gradients are computed first and D_B's after them."""
        gradients = []
        done = []
        for name, loss in (('discriminator_A', D_A_loss), ('discriminator_B', D_B_loss)):
            variables = [var for var in tf1.trainable_variables() if var.name.startswith(name + '/')]
            with tf.control_dependencies(done):
                grads = tf.gradients(loss + regularization_loss(name + '/'), variables)
            gradients += list(zip(grads, variables))
            done = [g for g in grads if g is not None]
        return gradients

    def _generator_terms(self, real, fake, fake_cam, fake_logit, fake_cam_logit, generate_back):
        """Unweighted generator loss terms that depend on one input domain X only.

        real: [N, S, S, 3] images of X; fake, fake_cam: G_{X->Y}(real) and its CAM logits;
        fake_logit, fake_cam_logit: D_Y's [local, global] outputs on fake; generate_back: the
        Y -> X generator. Returns the scalars gan, cycle, identity, cam_source (G_{X->Y}'s CAM
        on X should say 'other domain'), cam_non_source (G_{Y->X}'s CAM on X should say 'own
        domain'), and total: their weighted sum, as they enter Generator_loss.
        """
        back, _, _ = generate_back(fake, reuse=True)
        same, same_cam, _ = generate_back(real, reuse=True)
        terms = {'gan': generator_loss(self.gan_type, fake_logit) + generator_loss(self.gan_type, fake_cam_logit),
                 'cycle': L1_loss(back, real),
                 'identity': L1_loss(same, real),
                 'cam_source': cam_source_loss(fake_cam),
                 'cam_non_source': cam_non_source_loss(same_cam)}
        terms['total'] = (self.adv_weight * terms['gan'] + self.cycle_weight * terms['cycle']
                          + self.identity_weight * terms['identity']
                          + self.cam_weight * (terms['cam_source'] + terms['cam_non_source']))
        return terms

    def build_model(self, directions=('a2b', 'b2a')):
        """Build the train graph (phase 'train') or the test graph (any other phase).

        Train: input pipeline from <dataset_dir>/<dataset>/train{A,B}; self.domain_A/B can be fed
        [N, S, S, 3] arrays instead. Test: only the generators named in `directions` are built,
        fed through self.test_domain_A / self.test_domain_B ([N, S, S, 3] placeholders).
        """
        if self.phase == 'train':
            self._build_train_graph()
        else:
            self._build_test_graph(directions)

    def _build_train_graph(self):
        self.lr = tf1.placeholder(tf.float32, name='learning_rate')
        args = self.args
        shape = [self.batch_size, self.img_size, self.img_size, self.img_ch]
        trainA, badA = scan_images(domain_folder(args.dataset_dir, self.dataset_name, 'trainA'), 'trainA')
        trainB, badB = scan_images(domain_folder(args.dataset_dir, self.dataset_name, 'trainB'), 'trainB')
        for path, reason in badA + badB:
            tqdm.write('warning: skipping unreadable training image: %s' % reason)
        self.skipped_files = badA + badB
        self.dataset_num = max(len(trainA), len(trainB))
        self.trainA_dataset, self.trainB_dataset = trainA, trainB
        iterA = tf1.data.make_one_shot_iterator(make_dataset(
            trainA, self.img_size, self.batch_size, self.augment_flag, self.dataset_num))
        iterB = tf1.data.make_one_shot_iterator(make_dataset(
            trainB, self.img_size, self.batch_size, self.augment_flag, self.dataset_num))
        # placeholder_with_default: the pipeline feeds training, tests can feed fixed batches.
        self.domain_A = tf1.placeholder_with_default(iterA.get_next(), shape, name='domain_A')
        self.domain_B = tf1.placeholder_with_default(iterB.get_next(), shape, name='domain_B')
        self._build_train_ops()

    def build_train_graph_on_placeholders(self):
        """Train graph fed with arrays instead of the dataset pipeline (tests, benchmarks):
        feed self.domain_A / self.domain_B with [batch_size, S, S, 3] float32 in [-1, 1]."""
        self.lr = tf1.placeholder(tf.float32, name='learning_rate')
        shape = [self.batch_size, self.img_size, self.img_size, self.img_ch]
        self.domain_A = tf1.placeholder(tf.float32, shape, name='domain_A')
        self.domain_B = tf1.placeholder(tf.float32, shape, name='domain_B')
        self._build_train_ops()

    def _build_train_ops(self):
        self.losses, self.images, gradients = self.build_losses(self.domain_A, self.domain_B)
        self.Generator_loss = self.losses['Generator_loss']
        self.Discriminator_loss = self.losses['Discriminator_loss']

        # G's optimiser first: its powers are beta1_power/beta2_power, D's get the _1 suffix.
        # Both take their gradients from build_losses (tf.gradients, ungated: the optimisers'
        # default GATE_OP wraps every op's gradients in tuple() groups, a third of the
        # graph-construction time, and changes no number).
        self.G_optim = tf1.train.AdamOptimizer(self.lr, beta1=0.5, beta2=0.999).apply_gradients(gradients['generator'])
        self.D_optim = tf1.train.AdamOptimizer(self.lr, beta1=0.5, beta2=0.999).apply_gradients(gradients['discriminator'])

        g_summaries = [tf1.summary.scalar(name, self.losses[name]) for name in G_SUMMARIES]
        for var in tf1.trainable_variables():
            if 'rho' in var.name:
                g_summaries.append(tf1.summary.histogram(var.op.name, var))
                g_summaries.append(tf1.summary.scalar(var.op.name + '_min', tf.reduce_min(var)))
                g_summaries.append(tf1.summary.scalar(var.op.name + '_max', tf.reduce_max(var)))
                g_summaries.append(tf1.summary.scalar(var.op.name + '_mean', tf.reduce_mean(var)))
        self.G_loss = tf1.summary.merge(g_summaries)
        self.D_loss = tf1.summary.merge([tf1.summary.scalar(name, self.losses[name]) for name in D_SUMMARIES])

    def _build_test_graph(self, directions):
        shape = [None, self.img_size, self.img_size, self.img_ch]
        self.test_outputs = {}
        if 'a2b' in directions:
            self.test_domain_A = tf1.placeholder(tf.float32, shape, name='test_domain_A')
            self.test_fake_B, _, self.test_heatmap_B = self.generate_a2b(self.test_domain_A)
            self.test_outputs['a2b'] = (self.test_domain_A, self.test_fake_B, self.test_heatmap_B)
        if 'b2a' in directions:
            self.test_domain_B = tf1.placeholder(tf.float32, shape, name='test_domain_B')
            self.test_fake_A, _, self.test_heatmap_A = self.generate_b2a(self.test_domain_B)
            self.test_outputs['b2a'] = (self.test_domain_B, self.test_fake_A, self.test_heatmap_A)

    ##################################################################################
    # Checkpoints
    ##################################################################################

    def save(self, checkpoint_dir, step):
        """Save all variables as <checkpoint_dir>/<model_dir>/<model_name>.model-<step>."""
        folder = check_folder(os.path.join(checkpoint_dir, self.model_dir))
        self.saver.save(self.sess, os.path.join(folder, self.model_name + '.model'), global_step=step)

    def load(self, checkpoint_arg=None, required=False):
        """Restore the checkpoint named by --checkpoint or found in <checkpoint_dir>/<model_dir>.

        Returns (loaded, step). Raises UserError when required and none is found, or when the
        checkpoint does not fit the flags (naming the flags to change).
        """
        prefix, tried = ckpt.find_checkpoint(checkpoint_arg, self.checkpoint_dir, self.model_dir)
        if prefix is None:
            if required:
                raise UserError(
                    'no checkpoint found. Tried: %s\nExpected a folder named %s (made from the '
                    'flags --light --dataset --gan_type --n_res --n_dis --n_critic and the loss '
                    'weights) holding %s.model-<step>.index/.data-*, or pass --checkpoint PATH '
                    '(a checkpoint prefix or folder).'
                    % (', '.join(tried), self.model_dir, self.model_name))
            return False, 0
        ckpt.check_compatible(prefix, self.saver._var_list if isinstance(self.saver._var_list, list)
                              else list(self.saver._var_list.values()), self.args)
        self.saver.restore(self.sess, prefix)
        self.loaded_checkpoint = prefix
        return True, ckpt.checkpoint_step(prefix)

    ##################################################################################
    # Train
    ##################################################################################

    def train(self):
        """Train from scratch or resume from the latest checkpoint of model_dir.

        Saves every save_freq steps, at the end of every epoch and on Ctrl-C / SIGTERM, so a
        run never loses more than save_freq steps. Writes sample grids every print_freq steps.
        """
        self.sess.run(tf1.global_variables_initializer())
        self.saver = tf1.train.Saver(max_to_keep=5)
        self.writer = tf1.summary.FileWriter(os.path.join(self.log_dir, self.model_dir), self.sess.graph)
        check_folder(self.sample_dir)

        could_load, checkpoint_counter = self.load(self.args.checkpoint)
        if could_load:
            start_epoch = checkpoint_counter // self.iteration
            start_batch_id = checkpoint_counter - start_epoch * self.iteration
            counter = checkpoint_counter
            tqdm.write(' [*] Resumed from %s (step %d)' % (self.loaded_checkpoint, counter))
        else:
            start_epoch, start_batch_id, counter = 0, 0, 1
            tqdm.write(' [*] No checkpoint in %s: training from scratch'
                       % os.path.join(self.checkpoint_dir, self.model_dir))

        total = self.epoch * self.iteration
        done_before = start_epoch * self.iteration + start_batch_id
        past_g_loss = float('nan')
        last_saved = counter if could_load else None
        stop = {'signal': None}

        def request_stop(signum, _frame):
            stop['signal'] = signum

        old_term = signal.signal(signal.SIGTERM, request_stop)
        bar = tqdm(total=max(total - done_before, 0), unit='step', dynamic_ncols=True,
                   desc='train', mininterval=1.0)
        try:
            for epoch in range(start_epoch, self.epoch):
                lr = learning_rate(epoch, self.init_lr, self.decay_flag, self.decay_epoch, self.epoch)
                for idx in range(start_batch_id, self.iteration):
                    feed = {self.lr: lr}
                    _, d_loss, summary_str = self.sess.run(
                        [self.D_optim, self.Discriminator_loss, self.D_loss], feed_dict=feed)
                    self.writer.add_summary(summary_str, counter)

                    g_loss = None
                    sample = None
                    if (counter - 1) % self.n_critic == 0:
                        sample, _, g_loss, summary_str = self.sess.run(
                            [self.images, self.G_optim, self.Generator_loss, self.G_loss], feed_dict=feed)
                        self.writer.add_summary(summary_str, counter)
                        past_g_loss = g_loss
                    counter += 1
                    if g_loss is None:
                        g_loss = past_g_loss
                    bar.update(1)
                    bar.set_postfix(epoch=epoch, step=counter - 1, d_loss='%.4f' % d_loss,
                                    g_loss='%.4f' % g_loss, lr='%.2e' % lr, refresh=False)
                    if not (np.isfinite(d_loss) and np.isfinite(g_loss)):
                        self.save(self.checkpoint_dir, counter)
                        raise UserError('training diverged at step %d (d_loss %s, g_loss %s); '
                                        'checkpoint saved. Try a lower --lr.' % (counter - 1, d_loss, g_loss))

                    if (idx + 1) % self.print_freq == 0:
                        if sample is None:  # G step skipped (n_critic > 1): fetch images now
                            sample = self.sess.run(self.images)
                        path = os.path.join(self.sample_dir, 'sample_{:03d}_{:05d}.png'.format(epoch, idx + 1))
                        self.save_sample_grid(sample, path)
                        tqdm.write('epoch %d step %d/%d d_loss %.6f g_loss %.6f lr %.2e sample %s'
                                   % (epoch, idx + 1, self.iteration, d_loss, g_loss, lr, path))
                    if (idx + 1) % self.save_freq == 0:
                        self.save(self.checkpoint_dir, counter)
                        last_saved = counter
                    if stop['signal'] is not None:
                        raise KeyboardInterrupt
                start_batch_id = 0
                self.save(self.checkpoint_dir, counter)
                last_saved = counter
        except KeyboardInterrupt:
            bar.close()
            if last_saved != counter:
                self.save(self.checkpoint_dir, counter)
            tqdm.write(' [*] Interrupted: checkpoint saved at step %d in %s'
                       % (counter, os.path.join(self.checkpoint_dir, self.model_dir)))
            raise
        finally:
            bar.close()
            signal.signal(signal.SIGTERM, old_term)
            self.writer.flush()
        self.final_step = counter

    def save_sample_grid(self, images, path):
        """One row per batch item: real A | fake B | attention A->B | real B | fake A | attention B->A."""
        size = images['real_A'].shape[1]
        rows = []
        for i in range(images['real_A'].shape[0]):
            rows.append(np.concatenate([
                to_uint8(images['real_A'][i]), to_uint8(images['fake_B'][i]),
                heatmap_to_rgb(images['heatmap_A2B'][i], size),
                to_uint8(images['real_B'][i]), to_uint8(images['fake_A'][i]),
                heatmap_to_rgb(images['heatmap_B2A'][i], size)], axis=1))
        from utils import imwrite_rgb
        imwrite_rgb(path, np.concatenate(rows, axis=0))

    ##################################################################################
    # Test
    ##################################################################################

    def restore_generators(self):
        """Restore only the variables of the generators built by the test graph.

        No initializer runs first: the restore assigns every variable (check_compatible refuses a
        checkpoint that lacks one), and skipping the random init saves its time and, for the full
        model, a second 1 GB copy of each MLP kernel at the peak.
        """
        self.saver = tf1.train.Saver(var_list=tf1.global_variables())
        return self.load(self.args.checkpoint, required=True)

    def translate(self, direction, images):
        """Run a generator on float images [N, S, S, 3] in [-1, 1], in batches of --batch_size.

        Returns (translated [N, S, S, 3] in [-1, 1], heatmaps [N, S/4, S/4]).
        """
        placeholder, output, heatmap = self.test_outputs[direction]
        outs, heats = [], []
        for start in range(0, len(images), self.batch_size):
            o, h = self.sess.run([output, heatmap], {placeholder: images[start:start + self.batch_size]})
            outs.append(o)
            heats.append(h)
        return np.concatenate(outs), np.concatenate(heats)


def _add(a, b):
    """Sum of two gradients of one variable, either of which may be None (not reached)."""
    if a is None or b is None:
        return b if a is None else a
    return a + b
