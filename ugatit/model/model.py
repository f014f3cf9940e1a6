"""The UGATIT class: builds the U-GAT-IT graph (TF1 style) on input tensors, and nothing else.

The networks (generator, local and global discriminators with CAM heads), the four losses and
the optimiser steps. Training loops, checkpoints and input pipelines live elsewhere
(ugatit/train/train.py, ugatit/model/checkpoint.py, ugatit/train/data.py); translating with a restored model is
ugatit/infer/translator.py.

Official checkpoint quirks kept on purpose (they are the variable names of the released
selfie2anime checkpoints):
  * scope `generator_B` translates A -> B and `generator_A` translates B -> A;
  * the decoder blocks are `adaptive_resblock0..3` (no underscore) while the encoder blocks are
    `resblock_0..3` (with one);
  * the G optimiser is created first, so its Adam powers are `beta1_power`/`beta2_power` and the
    D optimiser's are `beta1_power_1`/`beta2_power_1`.
"""

import dataclasses

import tensorflow as tf

from ops import (L1_loss, adaptive_ins_layer_resblock, cam_non_source_loss, cam_source_loss, conv,
                 discriminator_loss, fully_connected, fully_connected_with_w, generator_loss,
                 global_avg_pooling, global_max_pooling, gradient_penalty, instance_norm,
                 layer_instance_norm, lrelu, regularization_loss, relu, resblock, tanh, up_sample)
from ugatit.config import DIRECTIONS, ModelConfig, TrainConfig
from ugatit.model.average import GeneratorAverage
from ugatit.model.diffaugment import diff_augment

tf1 = tf.compat.v1

# Loss terms returned by build_losses(); each becomes a TensorBoard scalar of the same name.
G_SUMMARIES = ('G_A_loss', 'G_A_gan', 'G_A_cycle', 'G_A_identity', 'G_A_cam',
               'G_B_loss', 'G_B_gan', 'G_B_cycle', 'G_B_identity', 'G_B_cam', 'Generator_loss')
D_SUMMARIES = ('D_A_loss', 'D_B_loss', 'Discriminator_loss')

@dataclasses.dataclass
class TrainOps:
    """The training graph's handles, from UGATIT.build_train_ops."""
    lr: tf.Tensor                   # float32 scalar placeholder: the learning rate of this step
    D_optim: tf.Operation           # one discriminator step
    G_optim: tf.Operation           # one generator step
    losses: dict                    # summary name -> scalar loss tensor
    images: dict                    # real_A, fake_B, heatmap_A2B, real_B, fake_A, heatmap_B2A
    d_summary: tf.Tensor            # merged TensorBoard summaries of the D step
    g_summary: tf.Tensor            # merged TensorBoard summaries of the G step
    average: object = None          # GeneratorAverage with --ema_decay (G_optim then updates it), else None

    @property
    def Generator_loss(self):
        return self.losses['Generator_loss']

    @property
    def Discriminator_loss(self):
        return self.losses['Discriminator_loss']


class UGATIT(object):
    """The U-GAT-IT graph builder. All images are float32 NHWC in [-1, 1].

    model: ModelConfig (architecture); train: TrainConfig (losses and optimiser; only needed by
    build_losses / build_train_ops). Nothing here reads files or owns a session.
    """

    def __init__(self, model=ModelConfig(), train=TrainConfig()):
        self.model = model
        self.train = train

    ##################################################################################
    # Generator
    ##################################################################################

    def generator(self, x_init, reuse=False, scope='generator'):
        """x_init [N, S, S, img_ch] -> (image [N, S, S, 3] in [-1, 1], CAM logits [N, 2],
        attention heatmap [N, S/4, S/4])."""
        channel = self.model.ch
        with tf1.variable_scope(scope, reuse=reuse):
            x = conv(x_init, channel, kernel=7, stride=1, pad=3, pad_type='reflect', scope='conv')
            x = instance_norm(x, relu=True, scope='ins_norm')  # IN + ReLU (fused: ops.py)

            # Down-sampling
            for i in range(2):
                x = conv(x, channel * 2, kernel=3, stride=2, pad=1, pad_type='reflect', scope='conv_' + str(i))
                x = instance_norm(x, relu=True, scope='ins_norm_' + str(i))
                channel = channel * 2

            # Down-sampling bottleneck (scopes resblock_0.., with an underscore)
            for i in range(self.model.n_res):
                x = resblock(x, channel, scope='resblock_' + str(i))

            x, cam_logit, heatmap = cam_attention(x, channel, relu)

            # Gamma, beta of AdaLIN
            gamma, beta = self.MLP(x, channel, reuse=reuse)

            # Up-sampling bottleneck (scopes adaptive_resblock0.., no underscore: official names)
            for i in range(self.model.n_res):
                x = adaptive_ins_layer_resblock(x, channel, gamma, beta, smoothing=self.model.smoothing,
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
        if self.model.light:
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

    def generate(self, direction, x, reuse=False):
        """Translate x [N, S, S, 3] in `direction` ('a2b' or 'b2a').
        Returns (image [N, S, S, 3], CAM logits [N, 2], heatmap [N, S/4, S/4])."""
        return self.generator(x, reuse=reuse, scope=DIRECTIONS[direction].generator_scope)

    def generate_a2b(self, x_A, reuse=False):
        """A -> B with scope generator_B (official naming). Returns (image, CAM logits, heatmap)."""
        return self.generate('a2b', x_A, reuse=reuse)

    def generate_b2a(self, x_B, reuse=False):
        """B -> A with scope generator_A (official naming). Returns (image, CAM logits, heatmap)."""
        return self.generate('b2a', x_B, reuse=reuse)

    ##################################################################################
    # Discriminator
    ##################################################################################

    def discriminator(self, x_init, reuse=False, scope='discriminator'):
        """x_init [N, S, S, 3] -> ([local, global] patch logits, [local, global] CAM logits [N, 2],
        local heatmap, global heatmap)."""
        with tf1.variable_scope(scope, reuse=reuse):
            n_dis = self.model.n_dis
            local_x, local_cam, local_heatmap = self._discriminator_branch(x_init, n_dis - 2, scope='local')
            global_x, global_cam, global_heatmap = self._discriminator_branch(x_init, n_dis, scope='global')
            return [local_x, global_x], [local_cam, global_cam], local_heatmap, global_heatmap

    def _discriminator_branch(self, x_init, n_levels, scope):
        """One PatchGAN with a CAM head: conv_0, conv_1..conv_{n_levels-2} (stride 2),
        conv_last (stride 1), CAM, conv_1x1, D_logit. The local branch has n_dis - 2 levels,
        the global one n_dis."""
        sn = self.model.sn
        with tf1.variable_scope(scope):
            channel = self.model.ch
            x = conv(x_init, channel, kernel=4, stride=2, pad=1, pad_type='reflect', sn=sn, scope='conv_0')
            x = lrelu(x, 0.2)
            for i in range(1, n_levels - 1):
                x = conv(x, channel * 2, kernel=4, stride=2, pad=1, pad_type='reflect', sn=sn, scope='conv_' + str(i))
                x = lrelu(x, 0.2)
                channel = channel * 2
            x = conv(x, channel * 2, kernel=4, stride=1, pad=1, pad_type='reflect', sn=sn, scope='conv_last')
            x = lrelu(x, 0.2)
            channel = channel * 2

            x, cam_logit, heatmap = cam_attention(x, channel, lambda t: lrelu(t, 0.2), sn=sn)

            x = conv(x, channels=1, kernel=4, stride=1, pad=1, pad_type='reflect', sn=sn, scope='D_logit')
            return x, cam_logit, heatmap

    ##################################################################################
    # Losses and optimiser steps
    ##################################################################################

    def _augment(self, x):
        """x [N, S, S, 3] as a discriminator sees it: DiffAugment with --diff_augment (fresh random
        draws per call, differentiable, so the generator's gradient passes through), or x itself
        when the policy is empty: then not one op is added and the graph is the official one."""
        if not self.train.diff_augment:
            return x
        with tf.name_scope('DiffAugment'):
            return diff_augment(x, self.train.diff_augment)

    def _gradient_penalties(self, real, fake, scope):
        """(GP on the patch logits, GP on the CAM logits) of one discriminator, official form.
        real and fake are the images the discriminator saw (augmented with --diff_augment), so
        the penalty constrains it where its loss takes it."""
        if self.train.gan_type == 'dragan':
            eps = tf.random.uniform(shape=tf.shape(real), minval=0., maxval=1.)
            _, x_var = tf.nn.moments(real, axes=[0, 1, 2, 3])
            fake = real + 0.5 * tf.sqrt(x_var) * eps
        alpha = tf.random.uniform(shape=[tf.shape(real)[0], 1, 1, 1], minval=0., maxval=1.)
        interpolated = real + alpha * (fake - real)
        logit, cam_logit, _, _ = self.discriminator(interpolated, reuse=True, scope=scope)
        return (gradient_penalty(self.train.gan_type, logit, interpolated, self.train.GP_ld),
                gradient_penalty(self.train.gan_type, cam_logit, interpolated, self.train.GP_ld))

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
        D_ad_loss_A, _, _ = self._discriminator_terms(domain_A, x_ba, 'discriminator_A')
        D_ad_loss_B, fake_B_logit, fake_B_cam_logit = self._discriminator_terms(domain_B, x_ab, 'discriminator_B')

        G_vars = [var for var in tf1.trainable_variables() if 'generator' in var.name]
        L = {'regularization_loss_generator': regularization_loss('generator'),
             'regularization_loss_discriminator': regularization_loss('discriminator')}
        from_A = self._generator_terms(domain_A, x_ab, cam_ab, fake_B_logit, fake_B_cam_logit, self.generate_b2a)
        grads_A = tf.gradients(from_A['total'] + L['regularization_loss_generator'], G_vars)
        with tf.control_dependencies([g for g in grads_A if g is not None]):
            # The B terms' own passes (the D step uses x_ba above, which waits for nothing).
            x_ba_g, cam_ba_g, heat_ba_g = self.generate_b2a(domain_B, reuse=True)
            fake_A_logit_g, fake_A_cam_logit_g, _, _ = self.discriminator(self._augment(x_ba_g), reuse=True,
                                                                          scope='discriminator_A')
            from_B = self._generator_terms(domain_B, x_ba_g, cam_ba_g, fake_A_logit_g, fake_A_cam_logit_g,
                                           self.generate_a2b)
        grads_B = tf.gradients(from_B['total'], G_vars)
        generator_gradients = [(_add(a, b), var) for a, b, var in zip(grads_A, grads_B, G_vars)]

        L.update(self._official_loss_terms(from_A, from_B, D_ad_loss_A, D_ad_loss_B))
        L['Generator_loss'] = L['G_A_loss'] + L['G_B_loss'] + L['regularization_loss_generator']
        L['Discriminator_loss'] = L['D_A_loss'] + L['D_B_loss'] + L['regularization_loss_discriminator']

        images = {'real_A': domain_A, 'real_B': domain_B, 'fake_A': x_ba_g, 'fake_B': x_ab,
                  'heatmap_A2B': heat_ab, 'heatmap_B2A': heat_ba_g}
        gradients = {'generator': generator_gradients,
                     'discriminator': self._discriminator_gradients(L['D_A_loss'], L['D_B_loss'])}
        return L, images, gradients

    def _discriminator_terms(self, real, fake, scope):
        """One discriminator on real and fake [N, S, S, 3] images (the first call creates its
        variables), each augmented by _augment. Returns (its adversarial loss, gradient penalties
        included, and its [local, global] patch and CAM logits on the augmented fake: the G step
        uses them too, through the augmentation)."""
        gan_type = self.train.gan_type
        real, fake = self._augment(real), self._augment(fake)
        real_logit, real_cam_logit, _, _ = self.discriminator(real, scope=scope)
        fake_logit, fake_cam_logit, _, _ = self.discriminator(fake, reuse=True, scope=scope)
        loss = discriminator_loss(gan_type, real_logit, fake_logit) + discriminator_loss(gan_type, real_cam_logit, fake_cam_logit)
        if 'wgan' in gan_type or gan_type == 'dragan':
            gp, gp_cam = self._gradient_penalties(real, fake, scope)
            loss = loss + gp + gp_cam
        return loss, fake_logit, fake_cam_logit

    def _official_loss_terms(self, from_A, from_B, D_ad_loss_A, D_ad_loss_B):
        """The official summary scalars (G_SUMMARIES, D_SUMMARIES but the two totals) from the
        unweighted terms of each input domain (_generator_terms) and the discriminators' losses.

        Official grouping: generator "A" (scope generator_A, B -> A) owns reconstruction_B, and
        cam_A = cam_loss(source=cam_ba, non_source=cam_aa)."""
        t = self.train
        L = {'G_A_gan': t.adv_weight * from_B['gan'],
             'G_A_cycle': t.cycle_weight * from_B['cycle'],
             'G_A_identity': t.identity_weight * from_A['identity'],
             'G_A_cam': t.cam_weight * (from_B['cam_source'] + from_A['cam_non_source']),
             'G_B_gan': t.adv_weight * from_A['gan'],
             'G_B_cycle': t.cycle_weight * from_A['cycle'],
             'G_B_identity': t.identity_weight * from_B['identity'],
             'G_B_cam': t.cam_weight * (from_A['cam_source'] + from_B['cam_non_source']),
             'D_A_loss': t.adv_weight * D_ad_loss_A,
             'D_B_loss': t.adv_weight * D_ad_loss_B}
        L['G_A_loss'] = L['G_A_gan'] + L['G_A_cycle'] + L['G_A_identity'] + L['G_A_cam']
        L['G_B_loss'] = L['G_B_gan'] + L['G_B_cycle'] + L['G_B_identity'] + L['G_B_cam']
        return L

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
        t = self.train
        terms = {'gan': generator_loss(t.gan_type, fake_logit) + generator_loss(t.gan_type, fake_cam_logit),
                 'cycle': L1_loss(back, real),
                 'identity': L1_loss(same, real),
                 'cam_source': cam_source_loss(fake_cam),
                 'cam_non_source': cam_non_source_loss(same_cam)}
        terms['total'] = (t.adv_weight * terms['gan'] + t.cycle_weight * terms['cycle']
                          + t.identity_weight * terms['identity']
                          + t.cam_weight * (terms['cam_source'] + terms['cam_non_source']))
        return terms

    def build_train_ops(self, domain_A, domain_B):
        """The training graph on two [N, S, S, 3] input tensors (a tf.data pipeline's batches or
        placeholders): losses, both Adam steps and the TensorBoard summaries. Returns TrainOps."""
        lr = tf1.placeholder(tf.float32, name='learning_rate')
        return self.train_ops_from(lr, *self.build_losses(domain_A, domain_B))

    def train_ops_from(self, lr, losses, images, gradients):
        """Both Adam steps (learning rate: the scalar tensor lr) and the TensorBoard summaries on
        build_losses' outputs: one device's, or the towers' averages (ugatit/train/towers.py).
        Returns TrainOps."""
        # G's optimiser first: its powers are beta1_power/beta2_power, D's get the _1 suffix.
        # Both take their gradients from build_losses (tf.gradients, ungated: the optimisers'
        # default GATE_OP wraps every op's gradients in tuple() groups, a third of the
        # graph-construction time, and changes no number).
        G_optim = tf1.train.AdamOptimizer(lr, beta1=0.5, beta2=0.999).apply_gradients(gradients['generator'])
        D_optim = tf1.train.AdamOptimizer(lr, beta1=0.5, beta2=0.999).apply_gradients(gradients['discriminator'])
        average = None
        if self.train.ema_decay > 0:  # after both optimisers: their variables keep the official names
            average = GeneratorAverage([var for _, var in gradients['generator']], self.train.ema_decay)
            G_optim = average.update_after(G_optim)

        g_summaries = [tf1.summary.scalar(name, losses[name]) for name in G_SUMMARIES]
        for var in tf1.trainable_variables():
            if 'rho' in var.name:
                g_summaries.append(tf1.summary.histogram(var.op.name, var))
                for stat, reduce in (('min', tf.reduce_min), ('max', tf.reduce_max), ('mean', tf.reduce_mean)):
                    g_summaries.append(tf1.summary.scalar(var.op.name + '_' + stat, reduce(var)))
        d_summary = tf1.summary.merge([tf1.summary.scalar(name, losses[name]) for name in D_SUMMARIES])
        return TrainOps(lr=lr, D_optim=D_optim, G_optim=G_optim, losses=losses, images=images,
                        d_summary=d_summary, g_summary=tf1.summary.merge(g_summaries), average=average)


def cam_attention(x, channel, activation, sn=False):
    """The CAM head shared by the generator and the discriminators.

    x [N, h, w, C] -> (features [N, h, w, channel], CAM logits [N, 2], heatmap [N, h, w]):
    one auxiliary classifier (CAM_logit) on the global average and global max pooled features,
    whose weights re-weight the feature maps of each branch; the two branches are concatenated
    and mixed back to `channel` maps by conv_1x1 and `activation`.
    """
    cam_gap_logit, cam_x_weight = fully_connected_with_w(global_avg_pooling(x), sn=sn, scope='CAM_logit')
    x_gap = tf.multiply(x, cam_x_weight)
    cam_gmp_logit, cam_x_weight = fully_connected_with_w(global_max_pooling(x), sn=sn, reuse=True, scope='CAM_logit')
    x_gmp = tf.multiply(x, cam_x_weight)

    cam_logit = tf.concat([cam_gap_logit, cam_gmp_logit], axis=-1)
    x = tf.concat([x_gap, x_gmp], axis=-1)
    x = conv(x, channel, kernel=1, stride=1, scope='conv_1x1')
    x = activation(x)
    heatmap = tf.reduce_sum(x, axis=-1)
    return x, cam_logit, heatmap


def _add(a, b):
    """Sum of two gradients of one variable, either of which may be None (not reached)."""
    if a is None or b is None:
        return b if a is None else a
    return a + b
