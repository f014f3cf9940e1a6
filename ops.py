"""Layers, normalisations, spectral norm and losses of U-GAT-IT, in TF1 graph style.

Every layer is built from `tf.compat.v1.get_variable` and `tf.nn` ops (no `tf.contrib`, no
`tf.compat.v1.layers`, no Keras), but keeps the variable names of the official TensorFlow code,
so that the officially released checkpoints restore unchanged:

    conv without spectral norm   <scope>/conv2d/{kernel,bias}     (as tf.layers.conv2d named them)
    conv with spectral norm      <scope>/{kernel,u,bias}
    dense (MLP)                  <scope>/dense/{kernel,bias}      (as tf.layers.dense named them)
    CAM dense                    <scope>/{kernel,(u),bias}
    instance norm                <scope>/{beta,gamma}            (as tf.contrib instance_norm)
    layer-instance norm (LIN)    <scope>/{rho,gamma,beta}
    AdaLIN                       <scope>/rho

This file imports nothing application-specific but the names of the adversarial losses
(ugatit/config.py, where the flags read them without importing TensorFlow). Tensors are NHWC float32.
"""

import contextlib
import threading

import numpy as np
import tensorflow as tf

from ugatit.config import GAN_TYPES  # the losses below; declared with the flags, read without TensorFlow

tf1 = tf.compat.v1

# The official initialisers and regulariser (ops.py of the official code).
weight_init = tf1.random_normal_initializer(mean=0.0, stddev=0.02)
WEIGHT_DECAY = 0.0001


def weight_regularizer(w):
    """L2 weight decay as tf.contrib's l2_regularizer(0.0001): 1e-4 * sum(w**2) / 2."""
    return tf.multiply(WEIGHT_DECAY, tf.nn.l2_loss(w), name='l2_regularizer')


##################################################################################
# Layers
##################################################################################

_building = threading.local()  # how convolutions are built (bfloat16_convolutions, winograd_convolutions)


@contextlib.contextmanager
def bfloat16_convolutions(enabled=True):
    """Build the convolutions of the layers made inside in bfloat16 (when `enabled`).

    Only the convolution itself changes: its input and kernel are cast to bfloat16 and its
    output back to float32, so the forward pass and both gradients (the gradient of a cast is a
    cast) run on the CPU's bfloat16 units, while variables, Adam's state, normalisations,
    padding and every other op stay float32 (on CPUs, element-wise bfloat16 ops are slower than
    float32 ones). Disabled, it builds the official float32 graph unchanged: no cast at all.
    """
    previous = _compute_dtype()
    _building.dtype = tf.bfloat16 if enabled else previous
    try:
        yield
    finally:
        _building.dtype = previous


def _compute_dtype():
    return getattr(_building, 'dtype', tf.float32)  # float32 outside bfloat16_convolutions


@contextlib.contextmanager
def winograd_convolutions(library):
    """Build the float32 3x3 stride-1 convolutions made inside, those large enough to gain
    (_winograd_pays), as Winograd F(4x4, 3x3).

    library: the compiled ops WinogradInput, WinogradKernel and WinogradOutput
    (`tf.load_op_library` of ugatit/native, which builds and checks them), or None: the
    official tf.nn.conv2d, unchanged. The ops have no gradient: for graphs that only translate.
    The results differ from tf.nn.conv2d by float rounding (a relative 3e-6 at 256 channels).
    """
    previous = getattr(_building, 'winograd', None)
    _building.winograd = library
    try:
        yield
    finally:
        _building.winograd = previous


def winograd_conv2d(x, w, library):
    """VALID 3x3 stride-1 convolution x [N, H, W, C] * w [3, 3, C, K] -> [N, H-2, W-2, K] by
    the Winograd ops of `library`: the input's and the kernel's 6x6 tiles, 36 matrix products
    [T, C] @ [C, K] (T tiles of 4x4 outputs), the output's tiles put back together."""
    size = tf.shape(x)
    tiles = tf.matmul(library.winograd_input(x), library.winograd_kernel(w))
    y = library.winograd_output(tiles, tf.stack([size[0], size[1] - 2, size[2] - 2]))
    n, h, width, _ = x.get_shape().as_list()
    y.set_shape([n, None if h is None else h - 2, None if width is None else width - 2, w.get_shape()[-1]])
    return y


# Winograd's tile transforms are passes over memory that only large convolutions repay.
# Measured per convolution (2 threads, Intel Xeon with AVX-512, against tf.nn.conv2d): 256
# channels at 64x64 and at 32x32 2.2x faster; 128 at 64x64 1.6x, at 32x32 1.25x; 64 at 128x128
# 1.3x, at 64x64 1.2x; 32 channels at 128x128 and 256x256 0.8x (slower). So: at least
# WINOGRAD_MIN_CHANNELS in and out, and H * W * C_in * C_out of at least WINOGRAD_MIN_WORK:
# with 2 ** 24 (32x32 at 128 channels included) a 128 px ch 32 generator measured 0.98x.
WINOGRAD_MIN_CHANNELS = 64
WINOGRAD_MIN_WORK = 2 ** 25


def _winograd_pays(x, w, strides):
    """Whether the convolution of x by w is one Winograd computes (3x3, stride 1, static
    sizes) and large enough to gain from it."""
    height, width, c_in = x.get_shape().as_list()[1:]
    kernel_h, kernel_w, _, c_out = w.get_shape().as_list()
    if list(strides) != [1, 1, 1, 1] or (kernel_h, kernel_w) != (3, 3) or None in (height, width):
        return False
    return min(c_in, c_out) >= WINOGRAD_MIN_CHANNELS and height * width * c_in * c_out >= WINOGRAD_MIN_WORK


def _conv2d(x, w, strides):
    """VALID tf.nn.conv2d of x [N, H, W, C_in] and kernel w [k, k, C_in, C_out], in bfloat16
    inside bfloat16_convolutions, by Winograd inside winograd_convolutions where it pays:
    float32 in and out."""
    dtype = _compute_dtype()
    winograd = getattr(_building, 'winograd', None)
    if dtype == tf.float32 and winograd is not None and _winograd_pays(x, w, strides):
        return winograd_conv2d(x, w, winograd)
    if dtype == tf.float32:
        return tf.nn.conv2d(x, w, strides=strides, padding='VALID')
    y = tf.nn.conv2d(tf.cast(x, dtype), tf.cast(w, dtype), strides=strides, padding='VALID')
    return tf.cast(y, tf.float32)


def bfloat16_convolution_error(size=16, channels=64, seed=0):
    """Relative error of this CPU's bfloat16 convolution against float32, in a graph of its own.

    One 3x3 convolution x [1, size, size, channels] * w [3, 3, channels, channels], as
    _conv2d builds it, and its two gradients (of sum(y * r), r random): returns
    {'forward': e, 'input gradient': e, 'kernel gradient': e}, e = |a - b| / |b| (Frobenius
    norms; a bfloat16, b float32). The kernels behind these ops are the CPU's own (oneDNN picks
    them by instruction set), so this measures what a --bfloat16 run will compute here.
    """
    rng = np.random.default_rng(seed)
    x_value = rng.standard_normal((1, size, size, channels)).astype('float32')
    w_value = (rng.standard_normal((3, 3, channels, channels)) * 0.05).astype('float32')
    r_value = rng.standard_normal((1, size - 2, size - 2, channels)).astype('float32')
    graph = tf.Graph()
    with graph.as_default():
        x, w = tf.constant(x_value), tf.constant(w_value)
        results = {}
        for bfloat16 in (False, True):
            with bfloat16_convolutions(bfloat16):
                y = _conv2d(x, w, [1, 1, 1, 1])
            results[bfloat16] = [y] + tf.gradients(tf.reduce_sum(y * r_value), [x, w])
        with tf1.Session(graph=graph) as sess:
            reference, low = sess.run([results[False], results[True]])
    return {name: float(np.linalg.norm(a - b) / np.linalg.norm(b))
            for name, a, b in zip(('forward', 'input gradient', 'kernel gradient'), low, reference)}


def conv(x, channels,
         kernel=4,           # square kernel size
         stride=2,           # stride in both directions
         pad=0,              # padding added before the VALID convolution
         pad_type='zero',    # 'zero' or 'reflect'
         use_bias=True,      # add a bias after the convolution
         sn=False,           # spectral-normalise the kernel (discriminators)
         scope='conv_0'):
    """2-D convolution with the official explicit padding.

    x: [N, H, W, C_in] -> [N, H', W', channels]. When (kernel - stride) is odd the padding is
    asymmetric (top/left `pad`, bottom/right `kernel - stride - pad`), as in the official code.
    """
    with tf1.variable_scope(scope):
        if pad > 0:
            if (kernel - stride) % 2 == 0:
                pad_top = pad_bottom = pad_left = pad_right = pad
            else:
                pad_top = pad_left = pad
                pad_bottom = pad_right = kernel - stride - pad
            paddings = [[0, 0], [pad_top, pad_bottom], [pad_left, pad_right], [0, 0]]
            x = tf.pad(x, paddings, mode='REFLECT' if pad_type == 'reflect' else 'CONSTANT')

        in_channels = x.get_shape()[-1]
        strides = [1, stride, stride, 1]
        if sn:
            w = tf1.get_variable('kernel', [kernel, kernel, in_channels, channels],
                                 initializer=weight_init, regularizer=weight_regularizer)
            # conv(x, w) / sigma equals conv(x, w / sigma) (a convolution is linear in its kernel)
            # without a normalised copy of the kernel, kept from the forward to the backward
            # pass: 134 MB for each 256 px global discriminator's conv_last.
            x = _conv2d(x, w, strides) / spectral_norm_sigma(w)
            if use_bias:
                b = tf1.get_variable('bias', [channels], initializer=tf1.constant_initializer(0.0))
                x = tf.nn.bias_add(x, b)
        else:
            # Official: tf.layers.conv2d, whose variables live in a 'conv2d' sub-scope.
            with tf1.variable_scope('conv2d'):
                w = tf1.get_variable('kernel', [kernel, kernel, in_channels, channels],
                                     initializer=weight_init, regularizer=weight_regularizer)
                x = _conv2d(x, w, strides)
                if use_bias:
                    b = tf1.get_variable('bias', [channels], initializer=tf1.zeros_initializer())
                    x = tf.nn.bias_add(x, b)
        return x


def flatten(x):
    """[N, ...] -> [N, prod(...)], keeping the static feature size (tf.layers.flatten)."""
    shape = x.get_shape().as_list()
    features = 1
    for d in shape[1:]:
        features *= d
    return tf.reshape(x, [-1, features])


def fully_connected(x, units,
                    use_bias=True,   # add a bias
                    scope='linear'):
    """Dense layer as the official MLP's tf.layers.dense: [N, ...] -> [N, units]."""
    with tf1.variable_scope(scope):
        x = flatten(x)
        with tf1.variable_scope('dense'):
            w = tf1.get_variable('kernel', [x.get_shape()[-1], units],
                                 initializer=weight_init, regularizer=weight_regularizer)
            x = tf.matmul(x, w)
            if use_bias:
                b = tf1.get_variable('bias', [units], initializer=tf1.zeros_initializer())
                x = tf.nn.bias_add(x, b)
        return x


def fully_connected_with_w(x,
                           use_bias=True,   # add a bias
                           sn=False,        # spectral-normalise the kernel
                           reuse=False,     # share the variables of an earlier call
                           scope='linear'):
    """One-unit dense layer of the CAM head that also returns its weights.

    x: [N, C] -> (logit [N, 1], weights [C]), where weights = kernel + bias (the official code
    adds the bias to every kernel entry), used to weight the C feature maps.
    """
    with tf1.variable_scope(scope, reuse=reuse):
        x = flatten(x)
        channels = x.get_shape()[-1]
        w = tf1.get_variable('kernel', [channels, 1], initializer=weight_init,
                             regularizer=weight_regularizer)
        if sn:
            w = spectral_norm(w)
        if use_bias:
            b = tf1.get_variable('bias', [1], initializer=tf1.constant_initializer(0.0))
            logit = tf.matmul(x, w) + b
            weights = tf.gather(tf.transpose(tf.nn.bias_add(w, b)), 0)
        else:
            logit = tf.matmul(x, w)
            weights = tf.gather(tf.transpose(w), 0)
        return logit, weights


##################################################################################
# Residual blocks
##################################################################################

def resblock(x_init, channels,
             use_bias=True,          # convolution bias
             scope='resblock_0'):
    """Encoder residual block: (reflect-pad 3x3 conv, IN, ReLU) x2 without the last ReLU, + skip.

    [N, H, W, channels] -> same shape.
    """
    with tf1.variable_scope(scope):
        with tf1.variable_scope('res1'):
            x = conv(x_init, channels, kernel=3, stride=1, pad=1, pad_type='reflect', use_bias=use_bias)
            x = instance_norm(x, relu=True)
        with tf1.variable_scope('res2'):
            x = conv(x, channels, kernel=3, stride=1, pad=1, pad_type='reflect', use_bias=use_bias)
            x = instance_norm(x)
        return x + x_init


def adaptive_ins_layer_resblock(x_init, channels, gamma, beta,
                                use_bias=True,      # convolution bias
                                smoothing=True,     # AdaLIN uses clip(rho - 0.1, 0, 1)
                                scope='adaptive_resblock'):
    """Decoder residual block with AdaLIN: [N, H, W, channels] -> same shape.

    gamma, beta: [N, 1, 1, channels] from the generator's MLP.
    """
    with tf1.variable_scope(scope):
        with tf1.variable_scope('res1'):
            x = conv(x_init, channels, kernel=3, stride=1, pad=1, pad_type='reflect', use_bias=use_bias)
            x = adaptive_instance_layer_norm(x, gamma, beta, smoothing, relu=True)
        with tf1.variable_scope('res2'):
            x = conv(x, channels, kernel=3, stride=1, pad=1, pad_type='reflect', use_bias=use_bias)
            x = adaptive_instance_layer_norm(x, gamma, beta, smoothing)
        return x + x_init


##################################################################################
# Sampling and pooling
##################################################################################

def up_sample(x, scale_factor=2):
    """Nearest-neighbour upsampling, [N, H, W, C] -> [N, H*s, W*s, C] (TF1 semantics)."""
    _, h, w, _ = x.get_shape().as_list()
    return tf1.image.resize_nearest_neighbor(x, size=[h * scale_factor, w * scale_factor])


def global_avg_pooling(x):
    """[N, H, W, C] -> [N, C]."""
    return tf.reduce_mean(x, axis=[1, 2])


def global_max_pooling(x):
    """[N, H, W, C] -> [N, C]."""
    return tf.reduce_max(x, axis=[1, 2])


##################################################################################
# Activations
##################################################################################

def lrelu(x, alpha=0.01):
    return tf.nn.leaky_relu(x, alpha)


def relu(x):
    return tf.nn.relu(x)


def tanh(x):
    return tf.tanh(x)


##################################################################################
# Normalisations
##################################################################################
#
# The normalisations run the official forward ops (same numbers), with a gradient of their own
# that keeps only the input x: TensorFlow's gradients of those ops would keep every
# intermediate ([N, H, W, C] centred values, normalised values, mixes, products) from the
# forward pass to the backward pass, most of a training step's memory. The backward pass
# recomputes the per-channel statistics of x and writes every gradient with per-channel
# coefficients (dx = dy * k1 + (x - mean) * k2 + k3), so it needs few [N, H, W, C]
# temporaries either. A ReLU that follows a normalisation is fused in (relu=True) so that
# its output need not be kept for its gradient either: its mask is recomputed from x.

def _clip_0_1(v):
    return tf.clip_by_value(v, clip_value_min=0.0, clip_value_max=1.0)


NORM_EPS = 1e-5  # the official epsilon of every normalisation


def _normalised(x, axes):
    """(x - mean) / sqrt(var + eps) over `axes`, as the official code computes it."""
    mean, variance = tf.nn.moments(x, axes=axes, keepdims=True)
    return (x - mean) / tf.sqrt(variance + NORM_EPS)


def _sum_to(t, like):
    """Sum a [N, 1, 1, C] per-instance gradient to the shape of a parameter: [C] or [N, 1, 1, C]."""
    return tf.reduce_sum(t, axis=[0, 1, 2]) if like.shape.ndims == 1 else t


def _normalisation_grads(dy, x, rho, gamma, beta, relu):
    """Gradients of [ReLU]((rho * IN(x) + (1 - rho) * LN(x)) * gamma + beta), from x alone.

    dy, x: [N, H, W, C]; rho: [C], or None for IN(x) * gamma + beta (instance norm);
    gamma, beta: [C] or [N, 1, 1, C]. Returns (dx, drho, dgamma, dbeta), drho None without rho.
    """
    count_hw = tf.cast(tf.reduce_prod(tf.shape(x)[1:3]), x.dtype)
    mean_ins, var_ins = tf.nn.moments(x, axes=[1, 2], keepdims=True)
    inv_ins = tf.math.rsqrt(var_ins + NORM_EPS)
    centred = x - mean_ins                                    # IN(x) = centred * inv_ins
    w_ins = gamma if rho is None else rho * gamma             # weight of IN(x) in the output
    slope, offset = w_ins * inv_ins, beta                     # pre-ReLU output = centred * slope + offset
    if rho is not None:
        mean_ln = tf.reduce_mean(mean_ins, axis=3, keepdims=True)
        shift = mean_ins - mean_ln                            # LN(x) = (centred + shift) * inv_ln
        var_ln = tf.reduce_mean(var_ins + tf.square(shift), axis=3, keepdims=True)
        inv_ln = tf.math.rsqrt(var_ln + NORM_EPS)
        w_ln = (1 - rho) * gamma                              # weight of LN(x) in the output
        slope += w_ln * inv_ln
        offset += w_ln * inv_ln * shift
    if relu:
        dy = tf.raw_ops.ReluGrad(gradients=dy, features=centred * slope + offset)

    # Per-instance, per-channel sums over H, W: [N, 1, 1, C].
    sum_dy = tf.reduce_sum(dy, axis=[1, 2], keepdims=True)
    sum_dy_centred = tf.reduce_sum(dy * centred, axis=[1, 2], keepdims=True)
    sum_dy_ins = inv_ins * sum_dy_centred                                            # sum dy * IN(x)
    # IN branch: inv * (g - mean(g) - IN(x) * mean(g * IN(x))) with g = dy * w_ins.
    k_centred = -w_ins * tf.square(inv_ins) * sum_dy_ins / count_hw
    k_const = -w_ins * inv_ins * sum_dy / count_hw
    if rho is None:
        dx = dy * slope + centred * k_centred + k_const
        return dx, None, _sum_to(sum_dy_ins, gamma), _sum_to(sum_dy, beta)

    # LN branch: the same over H, W and C with g = dy * w_ln.
    sum_dy_ln = inv_ln * (sum_dy_centred + shift * sum_dy)                            # sum dy * LN(x)
    count_hwc = count_hw * tf.cast(tf.shape(x)[3], x.dtype)
    mean_g = tf.reduce_sum(w_ln * sum_dy, axis=3, keepdims=True) / count_hwc
    mean_g_ln = tf.reduce_sum(w_ln * sum_dy_ln, axis=3, keepdims=True) / count_hwc
    k_centred -= tf.square(inv_ln) * mean_g_ln
    k_const -= inv_ln * mean_g + shift * tf.square(inv_ln) * mean_g_ln
    dx = dy * slope + centred * k_centred + k_const
    return (dx, _sum_to(gamma * (sum_dy_ins - sum_dy_ln), rho),
            _sum_to(rho * sum_dy_ins + (1 - rho) * sum_dy_ln, gamma), _sum_to(sum_dy, beta))


def _normalisation_op(forward, relu):
    """Custom-gradient op [ReLU](forward(x, [rho,] gamma, beta)) whose gradient keeps only its inputs."""
    @tf.custom_gradient
    def op(x, *params):
        out = forward(x, *params)

        def grad(dy):
            with tf.control_dependencies([dy]):  # recompute late, not alongside the forward pass
                rho, gamma, beta = params if len(params) == 3 else (None,) + params
                grads = _normalisation_grads(dy, x, rho, gamma, beta, relu)
            return [g for g in grads if g is not None] if rho is None else grads

        return (tf.nn.relu(out) if relu else out), grad
    return op


def _instance_layer_mix(x, rho, gamma, beta):
    return (rho * _normalised(x, [1, 2]) + (1 - rho) * _normalised(x, [1, 2, 3])) * gamma + beta


def _instance_norm_affine(x, gamma, beta):
    # As tf.contrib's instance_norm: moments, then tf.nn.batch_normalization.
    mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
    return tf.nn.batch_normalization(x, mean, variance, beta, gamma, NORM_EPS)


def adaptive_instance_layer_norm(x, gamma, beta,
                                 smoothing=True,    # use clip(rho - 0.1, 0, 1) instead of rho
                                 relu=False,        # apply a ReLU after it (fused, see above)
                                 scope='instance_layer_norm'):
    """AdaLIN: (rho * IN(x) + (1 - rho) * LN(x)) * gamma + beta.

    x: [N, H, W, C]; gamma, beta: [N, 1, 1, C]; rho: trainable [C], initialised to 1 and
    clipped to [0, 1] after every optimiser step (variable constraint).
    """
    with tf1.variable_scope(scope):
        ch = x.get_shape()[-1]
        rho = tf1.get_variable('rho', [ch], initializer=tf1.constant_initializer(1.0),
                               constraint=_clip_0_1)
        if smoothing:
            rho = tf.clip_by_value(rho - tf.constant(0.1), 0.0, 1.0)
        return _normalisation_op(_instance_layer_mix, relu)(x, rho, gamma, beta)


def instance_norm(x,
                  relu=False,   # apply a ReLU after it (fused, see above)
                  scope='instance_norm'):
    """Instance norm with learned affine, as tf.contrib.layers.instance_norm: [N,H,W,C] -> same.

    Variables are created beta first, then gamma, as in tf.contrib.
    """
    with tf1.variable_scope(scope):
        ch = x.get_shape()[-1]
        beta = tf1.get_variable('beta', [ch], initializer=tf1.zeros_initializer())
        gamma = tf1.get_variable('gamma', [ch], initializer=tf1.ones_initializer())
        return _normalisation_op(_instance_norm_affine, relu)(x, gamma, beta)


def layer_instance_norm(x,
                        relu=False,   # apply a ReLU after it (fused, see above)
                        scope='layer_instance_norm'):
    """LIN of the upsampling path: (rho * IN(x) + (1 - rho) * LN(x)) * gamma + beta.

    x: [N, H, W, C]; rho (init 0, clipped to [0, 1]), gamma (init 1), beta (init 0): [C].
    """
    with tf1.variable_scope(scope):
        ch = x.get_shape()[-1]
        rho = tf1.get_variable('rho', [ch], initializer=tf1.constant_initializer(0.0),
                               constraint=_clip_0_1)
        gamma = tf1.get_variable('gamma', [ch], initializer=tf1.constant_initializer(1.0))
        beta = tf1.get_variable('beta', [ch], initializer=tf1.constant_initializer(0.0))
        return _normalisation_op(_instance_layer_mix, relu)(x, rho, gamma, beta)


def spectral_norm(w, iteration=1):
    """Divide a kernel by its largest singular value: w / spectral_norm_sigma(w), same shape."""
    return w / spectral_norm_sigma(w, iteration)


def spectral_norm_sigma(w, iteration=1):
    """Largest singular value of a kernel, estimated by power iteration: a [1, 1] tensor.

    w: any shape [..., C_out], treated as the matrix [prod(...), C_out]. The running estimate
    `u` ([1, C_out], non-trainable) is created next to the kernel and updated by every session
    run that evaluates sigma, as in the official code (so two evaluations in a row differ
    slightly). Gradients do not flow through u and v (official stop_gradient).

    Every call for the same kernel in a graph (a discriminator applied to real, fake and
    interpolated images) returns one shared tensor, so u is read once and assigned once per run:
    every use sees the u stored before the run (with a read per call, the calls raced on the
    assignments; the official numbers are those of every call reading the stored value), and
    back-propagation adds up the calls' gradients before differentiating sigma once. The shared
    tensor is kept in a collection of the graph named after u (sigma_collection).
    """
    u = tf1.get_variable('u', [1, w.shape.as_list()[-1]], initializer=tf1.random_normal_initializer(),
                         trainable=False, use_resource=True)
    shared = tf1.get_collection(sigma_collection(u))
    if shared:
        return shared[0]
    w_matrix = tf.reshape(w, [-1, w.shape.as_list()[-1]])
    u_hat = u.read_value()
    v_hat = None
    for _ in range(iteration):
        v_hat = tf.nn.l2_normalize(tf.matmul(u_hat, w_matrix, transpose_b=True))
        u_hat = tf.nn.l2_normalize(tf.matmul(v_hat, w_matrix))
    u_hat = tf.stop_gradient(u_hat)
    v_hat = tf.stop_gradient(v_hat)
    sigma = tf.matmul(tf.matmul(v_hat, w_matrix), u_hat, transpose_b=True)
    with tf.control_dependencies([u.assign(u_hat)]):
        sigma = tf.identity(sigma)
    tf1.add_to_collection(sigma_collection(u), sigma)
    return sigma


def sigma_collection(u):
    """The name of the graph collection that holds the one sigma tensor of the estimate `u`."""
    return 'spectral_norm_sigma/' + u.op.name


##################################################################################
# Losses
##################################################################################

def L1_loss(x, y):
    """Mean absolute difference (scalar)."""
    return tf.reduce_mean(tf.abs(x - y))


# The CAM loss of a generator is cam_source_loss(its logits on the other domain's images) +
# cam_non_source_loss(its logits on its own domain's images), as the official cam_loss; the
# parts are separate so that the G step can back-propagate them with their input domain.

def cam_source_loss(source):
    """Sigmoid cross-entropy of CAM logits [N, 2] against 1 (images of the other domain)."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(source), logits=source))


def cam_non_source_loss(non_source):
    """Sigmoid cross-entropy of CAM logits [N, 2] against 0 (images of the generator's own domain)."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.zeros_like(non_source), logits=non_source))


def regularization_loss(scope_name):
    """Sum of the L2 weight-decay terms whose name contains scope_name (0 if there are none)."""
    items = [item for item in tf1.get_collection(tf1.GraphKeys.REGULARIZATION_LOSSES)
             if scope_name in item.name]
    if not items:
        return tf.constant(0.0)
    return tf.reduce_sum(items)


def discriminator_loss(gan_type, real, fake):
    """Adversarial loss of a discriminator, summed over its [local, global] outputs.

    real, fake: lists of 2 logit tensors. Gradient penalties are added by the caller.
    """
    if gan_type not in GAN_TYPES:
        raise ValueError('unknown gan_type %r; expected one of %s' % (gan_type, ', '.join(GAN_TYPES)))
    loss = []
    for r, f in zip(real, fake):
        if 'wgan' in gan_type:
            real_loss, fake_loss = -tf.reduce_mean(r), tf.reduce_mean(f)
        elif gan_type == 'lsgan':
            real_loss = tf.reduce_mean(tf.math.squared_difference(r, 1.0))
            fake_loss = tf.reduce_mean(tf.square(f))
        elif gan_type in ('gan', 'dragan'):
            real_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(r), logits=r))
            fake_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(f), logits=f))
        else:  # hinge
            real_loss = tf.reduce_mean(relu(1.0 - r))
            fake_loss = tf.reduce_mean(relu(1.0 + f))
        loss.append(real_loss + fake_loss)
    return sum(loss)


def generator_loss(gan_type, fake):
    """Adversarial loss of a generator, summed over the discriminator's [local, global] outputs."""
    if gan_type not in GAN_TYPES:
        raise ValueError('unknown gan_type %r; expected one of %s' % (gan_type, ', '.join(GAN_TYPES)))
    loss = []
    for f in fake:
        if 'wgan' in gan_type or gan_type == 'hinge':
            fake_loss = -tf.reduce_mean(f)
        elif gan_type == 'lsgan':
            fake_loss = tf.reduce_mean(tf.math.squared_difference(f, 1.0))
        else:  # gan, dragan
            fake_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(f), logits=f))
        loss.append(fake_loss)
    return sum(loss)


def gradient_penalty(gan_type, logits, interpolated, ld):
    """Gradient penalty summed over a list of logits, each w.r.t. `interpolated` [N, H, W, C].

    'wgan-gp' and 'dragan': ld * mean((|grad| - 1)^2); 'wgan-lp': ld * mean(max(0, |grad| - 1)^2).
    """
    penalties = []
    for logit in logits:
        grad = tf.gradients(logit, interpolated)[0]
        grad_norm = tf.norm(flatten(grad), axis=1)
        if gan_type == 'wgan-lp':
            penalties.append(ld * tf.reduce_mean(tf.square(tf.maximum(0.0, grad_norm - 1.))))
        else:
            penalties.append(ld * tf.reduce_mean(tf.square(grad_norm - 1.)))
    return sum(penalties)
