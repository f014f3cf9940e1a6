"""Unit tests of ops.py: layer shapes, normalisations against NumPy, spectral norm against an SVD,
and every loss against its formula."""

import numpy as np
import pytest
import tensorflow as tf

import ops

tf1 = tf.compat.v1
rng = np.random.default_rng(0)


def var(name):
    """The global variable called `name` (no ':0')."""
    return next(v for v in tf1.global_variables() if v.op.name == name)


def run_init(sess, fetches, feed=None):
    sess.run(tf1.global_variables_initializer())
    return sess.run(fetches, feed)


@pytest.mark.parametrize('kernel,stride,pad,size_in,size_out', [
    (7, 1, 3, 16, 16),   # generator stem
    (3, 2, 1, 16, 8),    # generator downsampling: asymmetric pad (1, 0)
    (4, 2, 1, 16, 8),    # discriminator downsampling
    (4, 1, 1, 8, 8),     # discriminator conv_last/D_logit: asymmetric pad (1, 2)
    (1, 1, 0, 8, 8),     # conv_1x1
])
def test_conv_output_shapes_and_names(graph, kernel, stride, pad, size_in, size_out):
    x = tf.constant(rng.normal(size=(2, size_in, size_in, 3)).astype(np.float32))
    y = ops.conv(x, 5, kernel=kernel, stride=stride, pad=pad, pad_type='reflect', scope='c')
    ys = ops.conv(x, 5, kernel=kernel, stride=stride, pad=pad, pad_type='reflect', sn=True, scope='s')
    assert y.shape.as_list() == [2, size_out, size_out, 5] == ys.shape.as_list()
    names = [v.op.name for v in tf1.global_variables()]
    assert names == ['c/conv2d/kernel', 'c/conv2d/bias', 's/kernel', 's/u', 's/bias']


def test_asymmetric_reflect_padding_matches_numpy(graph):
    """k=4, s=1, pad=1: reflect pad (top 1, bottom 2), as the official conv."""
    x = rng.normal(size=(1, 5, 5, 1)).astype(np.float32)
    y = ops.conv(tf.constant(x), 1, kernel=4, stride=1, pad=1, pad_type='reflect', use_bias=False, scope='c')
    k = var('c/conv2d/kernel')
    kernel = run_init(graph, k)
    xp = np.pad(x[0, :, :, 0], ((1, 2), (1, 2)), mode='reflect')
    want = np.array([[np.sum(xp[i:i + 4, j:j + 4] * kernel[:, :, 0, 0]) for j in range(5)] for i in range(5)])
    np.testing.assert_allclose(graph.run(y)[0, :, :, 0], want, atol=1e-5)


def _in(x, eps=1e-5):
    m, v = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    return (x - m) / np.sqrt(v + eps)


def _ln(x, eps=1e-5):
    m, v = x.mean(axis=(1, 2, 3), keepdims=True), x.var(axis=(1, 2, 3), keepdims=True)
    return (x - m) / np.sqrt(v + eps)


def test_instance_norm_matches_numpy(graph):
    x = rng.normal(2, 3, size=(2, 6, 6, 4)).astype(np.float32)
    y = ops.instance_norm(tf.constant(x), scope='n')
    assert [v.op.name for v in tf1.global_variables()] == ['n/beta', 'n/gamma']
    graph.run(tf1.global_variables_initializer())
    graph.run([var('n/gamma').assign([1, 2, 3, 4]), var('n/beta').assign([0, 1, 0, -1])])
    np.testing.assert_allclose(graph.run(y), _in(x) * [1, 2, 3, 4] + [0, 1, 0, -1], atol=1e-4)


def test_layer_instance_norm_matches_numpy(graph):
    x = rng.normal(size=(2, 5, 5, 3)).astype(np.float32)
    y = ops.layer_instance_norm(tf.constant(x), scope='lin')
    assert [v.op.name for v in tf1.global_variables()] == ['lin/rho', 'lin/gamma', 'lin/beta']
    graph.run(tf1.global_variables_initializer())
    rho = np.array([0.0, 0.3, 1.0], np.float32)
    graph.run(var('lin/rho').assign(rho))
    want = rho * _in(x) + (1 - rho) * _ln(x)
    np.testing.assert_allclose(graph.run(y), want, atol=1e-4)


@pytest.mark.parametrize('smoothing', [True, False])
def test_adalin_matches_numpy(graph, smoothing):
    x = rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    gamma = rng.normal(size=(2, 1, 1, 3)).astype(np.float32)
    beta = rng.normal(size=(2, 1, 1, 3)).astype(np.float32)
    y = ops.adaptive_instance_layer_norm(tf.constant(x), gamma, beta, smoothing=smoothing, scope='ada')
    graph.run(tf1.global_variables_initializer())
    rho = np.array([0.05, 0.5, 1.0], np.float32)
    graph.run(var('ada/rho').assign(rho))
    r = np.clip(rho - 0.1, 0, 1) if smoothing else rho
    want = (r * _in(x) + (1 - r) * _ln(x)) * gamma + beta
    np.testing.assert_allclose(graph.run(y), want, atol=1e-4)


def _official_in(x):
    """IN(x) with TensorFlow's own ops, as the official code computes it (for autodiff)."""
    m, v = tf.nn.moments(x, axes=[1, 2], keepdims=True)
    return (x - m) / tf.sqrt(v + 1e-5)


def _official_ln(x):
    m, v = tf.nn.moments(x, axes=[1, 2, 3], keepdims=True)
    return (x - m) / tf.sqrt(v + 1e-5)


def _normalisation_and_official(layer, x, relu):
    """(ops' layer output, the official formula on the same variables, [parameters])."""
    if layer == 'instance_norm':
        y = ops.instance_norm(x, relu=relu, scope='n')
        params = [var('n/gamma'), var('n/beta')]
        official = _official_in(x) * params[0] + params[1]
    elif layer == 'layer_instance_norm':
        y = ops.layer_instance_norm(x, relu=relu, scope='n')
        rho, gamma, beta = params = [var('n/rho'), var('n/gamma'), var('n/beta')]
        official = (rho * _official_in(x) + (1 - rho) * _official_ln(x)) * gamma + beta
    else:  # AdaLIN, with per-instance gamma and beta from the MLP
        gamma = tf.constant(rng.normal(1, 0.5, size=(2, 1, 1, 4)).astype(np.float32))
        beta = tf.constant(rng.normal(size=(2, 1, 1, 4)).astype(np.float32))
        y = ops.adaptive_instance_layer_norm(x, gamma, beta, smoothing=True, relu=relu, scope='n')
        rho = tf.clip_by_value(var('n/rho') - 0.1, 0.0, 1.0)
        params = [var('n/rho'), gamma, beta]
        official = (rho * _official_in(x) + (1 - rho) * _official_ln(x)) * gamma + beta
    return y, (tf.nn.relu(official) if relu else official), params


def _randomise_parameters(sess):
    sess.run(tf1.global_variables_initializer())
    for v in tf1.global_variables():  # rho inside (0.1, 1) so that every branch has a gradient
        low, high = (0.2, 0.9) if 'rho' in v.op.name else (-1.5, 1.5)
        sess.run(v.assign(rng.uniform(low, high, size=v.shape.as_list()).astype(np.float32)))


NORMALISATIONS = ['instance_norm', 'layer_instance_norm', 'adaptive_instance_layer_norm']


@pytest.mark.parametrize('relu', [False, True])
@pytest.mark.parametrize('layer', NORMALISATIONS)
def test_normalisation_gradients_equal_autodiff_of_the_official_formula(graph, layer, relu):
    """The hand-written backward pass (recomputed from x, per-channel coefficients) gives
    TensorFlow's gradients of the official ops, for x and every parameter."""
    x = tf.constant(rng.normal(0.5, 2.0, size=(2, 5, 6, 4)).astype(np.float32))
    y, official, params = _normalisation_and_official(layer, x, relu)
    dy = tf.constant(rng.normal(size=(2, 5, 6, 4)).astype(np.float32))
    got = tf.gradients(y, [x] + params, grad_ys=dy)
    want = tf.gradients(official, [x] + params, grad_ys=dy)
    _randomise_parameters(graph)
    y_v, official_v, got_v, want_v = graph.run([y, official, got, want])
    np.testing.assert_allclose(y_v, official_v, atol=1e-5)
    for g, w in zip(got_v, want_v):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, atol=1e-5 * np.abs(w).max())


def test_normalisation_gradients_are_as_accurate_as_tensorflows_own(graph):
    """Against float64, the hand-written float32 gradients of LIN + ReLU carry about the error of
    TensorFlow's float32 gradients of the official ops, also in sum(dx) over H and W (what a conv
    bias before the norm receives, a sum whose terms cancel), on inputs with large channel means;
    in float64 both are the same to 1e-9."""
    draw = np.random.default_rng(1)
    x = draw.normal(size=(2, 16, 16, 8)) * draw.uniform(0.1, 3, 8) + draw.normal(0, 20, 8)
    dy = draw.normal(0.3, 1, size=(2, 16, 16, 8))
    rho, gamma, beta = draw.uniform(0.1, 0.9, 8), draw.normal(1, 0.5, 8), draw.normal(0, 0.5, 8)

    def gradients(dtype, hand_written):
        args = [tf.constant(v, dtype) for v in (x, rho, gamma, beta)]
        if hand_written:
            y = ops._normalisation_op(ops._instance_layer_mix, relu=True)(*args)
        else:
            r, g, b = args[1:]
            y = tf.nn.relu((r * _official_in(args[0]) + (1 - r) * _official_ln(args[0])) * g + b)
        grads = graph.run(tf.gradients(y, args, grad_ys=tf.constant(dy, dtype)))
        return grads + [grads[0].sum(axis=(1, 2))]

    exact = gradients(tf.float64, hand_written=False)
    for o, e in zip(gradients(tf.float64, hand_written=True), exact):
        np.testing.assert_allclose(o, e, rtol=1e-9, atol=1e-9 * np.abs(e).max())
    ours, tensorflows = gradients(tf.float32, True), gradients(tf.float32, False)
    for o, t, e in zip(ours, tensorflows, exact):
        # RMS errors. Over 12 draws like this one the ratio ours/TensorFlow's had medians 0.55
        # to 1.01 and a maximum of 3.5 (drho, one draw); summing dy * x - mean * dy instead of
        # dy * (x - mean) fails here (5.4 for dx).
        rms = lambda a: np.sqrt(np.mean((a - e) ** 2))  # noqa: E731
        assert rms(o) <= 3 * rms(t), (rms(o), rms(t))


@pytest.mark.parametrize('layer', NORMALISATIONS)
def test_normalisation_gradient_keeps_no_forward_tensor_but_its_input(graph, layer):
    """What makes the training step lean: the backward pass of a normalisation (with its fused
    ReLU) reads no [N, H, W, C] tensor of the forward pass except the input x."""
    x = tf.identity(tf.constant(rng.normal(size=(2, 5, 6, 4)).astype(np.float32)))
    before = set(graph.graph.get_operations())
    y, _, params = _normalisation_and_official(layer, x, relu=True)
    forward = set(graph.graph.get_operations()) - before
    grads = tf.gradients(y, [x] + params, grad_ys=tf.ones_like(y))
    backward, stack = set(), [g.op for g in grads]
    while stack:  # every op that computing the gradients runs
        op = stack.pop()
        if op in backward or op in forward:
            continue
        backward.add(op)
        stack.extend([t.op for t in op.inputs] + list(op.control_inputs))
    read = {t.name for op in backward for t in op.inputs
            if t.op in forward and t.shape.as_list() == [2, 5, 6, 4]}
    assert read == set()


def test_rho_is_clipped_to_unit_interval_after_an_optimiser_step(graph):
    x = tf.constant(rng.normal(size=(1, 4, 4, 2)).astype(np.float32))
    y = ops.layer_instance_norm(x, scope='lin')
    step = tf1.train.GradientDescentOptimizer(1e6).minimize(tf.reduce_sum(y * x))
    graph.run(tf1.global_variables_initializer())
    graph.run(step)
    rho = graph.run(var('lin/rho'))
    assert np.all((rho >= 0) & (rho <= 1))


def test_spectral_norm_converges_to_unit_top_singular_value(graph):
    w_np = rng.normal(size=(4, 4, 3, 8)).astype(np.float32)
    w = tf.constant(w_np)
    with tf1.variable_scope('sn'):
        w_norm = ops.spectral_norm(w)
    graph.run(tf1.global_variables_initializer())
    # Every run does one power iteration and stores u. u starts random (unseeded), and the error
    # shrinks as (sigma_2 / sigma_1) ** (2 * runs): 100 runs left 0.7 % once, 400 leave < 1e-6.
    for _ in range(400):
        out = graph.run(w_norm)
    top = np.linalg.svd(w_np.reshape(-1, 8), compute_uv=False)[0]
    np.testing.assert_allclose(np.linalg.svd(out.reshape(-1, 8), compute_uv=False)[0], 1.0, rtol=1e-3)
    np.testing.assert_allclose(out, w_np / top, rtol=1e-3, atol=1e-5)


def test_spectral_norm_sigma_is_shared_by_every_use_of_a_kernel(graph):
    """Every use of one kernel shares one sigma, from one power iteration on the stored u."""
    w = tf.constant(rng.normal(size=(6, 4)).astype(np.float32))
    with tf1.variable_scope('sn'):
        a = ops.spectral_norm_sigma(w)
    with tf1.variable_scope('sn', reuse=True):
        b = ops.spectral_norm_sigma(w)
        normalised = ops.spectral_norm(w)
    assert a is b
    graph.run(tf1.global_variables_initializer())
    u = var('sn/u')
    u0 = graph.run(u)
    w_np = graph.run(w)
    v = u0 @ w_np.T  # one power iteration from the stored u
    v /= np.linalg.norm(v)
    u_new = v @ w_np
    u_new /= np.linalg.norm(u_new)
    sigma = (v @ w_np @ u_new.T).item()
    got_sigma, got_normalised = graph.run([a, normalised])
    np.testing.assert_allclose(got_sigma, [[sigma]], rtol=1e-5)
    np.testing.assert_allclose(got_normalised, w_np / sigma, rtol=1e-5)
    np.testing.assert_allclose(graph.run(u), u_new, rtol=1e-5)  # the run stored the new estimate


def test_spectral_norm_conv_is_the_official_conv_with_a_normalised_kernel(graph):
    """conv(x, w) / sigma (ops.conv with sn) equals the official conv(x, w / sigma) in value and
    in the kernel gradient, without building the normalised kernel."""
    x = tf.constant(rng.normal(size=(2, 9, 9, 3)).astype(np.float32))
    y = ops.conv(x, 5, kernel=4, stride=2, pad=1, pad_type='reflect', sn=True, scope='s')
    with tf1.variable_scope('s', reuse=True):
        kernel = tf1.get_variable('kernel')
        padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode='REFLECT')
        official = tf.nn.bias_add(tf.nn.conv2d(padded, ops.spectral_norm(kernel), [1, 2, 2, 1], 'VALID'),
                                  tf1.get_variable('bias'))
    assert not any(op.type == 'RealDiv' and op.outputs[0].shape.as_list() == [4, 4, 3, 5]
                   for op in y.graph.get_operations() if op.name.startswith('s/'))
    dy = tf.constant(rng.normal(size=(2, 4, 4, 5)).astype(np.float32))
    got = tf.gradients(y, kernel, grad_ys=dy)[0]
    want = tf.gradients(official, kernel, grad_ys=dy)[0]
    graph.run(tf1.global_variables_initializer())
    y_v, official_v, got_v, want_v = graph.run([y, official, got, want])  # one run: the same u
    np.testing.assert_allclose(y_v, official_v, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_v, want_v, rtol=1e-5, atol=1e-5 * np.abs(want_v).max())


def test_fully_connected_with_w_returns_kernel_plus_bias(graph):
    x = tf.constant(rng.normal(size=(2, 5)).astype(np.float32))
    logit, weights = ops.fully_connected_with_w(x, scope='cam')
    graph.run(tf1.global_variables_initializer())
    graph.run(var('cam/bias').assign([0.5]))
    k, wv, lv = graph.run([var('cam/kernel'), weights, logit])
    np.testing.assert_allclose(wv, k[:, 0] + 0.5, atol=1e-6)
    np.testing.assert_allclose(lv, graph.run(x) @ k + 0.5, atol=1e-5)


def test_fully_connected_names_and_shape(graph):
    y = ops.fully_connected(tf.zeros([3, 2, 2, 4]), 7, scope='linear_0')
    assert y.shape.as_list() == [3, 7]
    assert [v.op.name for v in tf1.global_variables()] == ['linear_0/dense/kernel', 'linear_0/dense/bias']


def test_up_sample_is_nearest_neighbour(graph):
    x = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    y = graph.run(ops.up_sample(tf.constant(x)))
    np.testing.assert_array_equal(y, x.repeat(2, axis=1).repeat(2, axis=2))


def test_regularization_loss_is_l2_decay(graph):
    with tf1.variable_scope('generator_X'):
        ops.conv(tf.zeros([1, 4, 4, 2]), 3, kernel=3, stride=1, scope='c')
    with tf1.variable_scope('discriminator_X'):
        ops.conv(tf.zeros([1, 4, 4, 2]), 3, kernel=3, stride=1, sn=True, scope='c')
    reg_g, reg_d = ops.regularization_loss('generator'), ops.regularization_loss('discriminator')
    graph.run(tf1.global_variables_initializer())
    kg = graph.run(var('generator_X/c/conv2d/kernel'))
    kd = graph.run(var('discriminator_X/c/kernel'))
    np.testing.assert_allclose(graph.run(reg_g), 1e-4 * np.sum(kg ** 2) / 2, rtol=1e-5)
    np.testing.assert_allclose(graph.run(reg_d), 1e-4 * np.sum(kd ** 2) / 2, rtol=1e-5)
    assert graph.run(ops.regularization_loss('nothing')) == 0


def _sce(logits, label):
    return np.mean(np.maximum(logits, 0) - logits * label + np.log1p(np.exp(-np.abs(logits))))


REAL = [rng.normal(size=(2, 3, 3, 1)).astype(np.float32), rng.normal(size=(2, 2)).astype(np.float32)]
FAKE = [rng.normal(size=(2, 3, 3, 1)).astype(np.float32), rng.normal(size=(2, 2)).astype(np.float32)]

D_FORMULAS = {
    'lsgan': lambda r, f: np.mean((r - 1) ** 2) + np.mean(f ** 2),
    'gan': lambda r, f: _sce(r, 1) + _sce(f, 0),
    'dragan': lambda r, f: _sce(r, 1) + _sce(f, 0),
    'hinge': lambda r, f: np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f)),
    'wgan-gp': lambda r, f: -np.mean(r) + np.mean(f),
    'wgan-lp': lambda r, f: -np.mean(r) + np.mean(f),
}
G_FORMULAS = {
    'lsgan': lambda f: np.mean((f - 1) ** 2),
    'gan': lambda f: _sce(f, 1),
    'dragan': lambda f: _sce(f, 1),
    'hinge': lambda f: -np.mean(f),
    'wgan-gp': lambda f: -np.mean(f),
    'wgan-lp': lambda f: -np.mean(f),
}


@pytest.mark.parametrize('gan_type', ops.GAN_TYPES)
def test_gan_losses_match_formulas(graph, gan_type):
    d = graph.run(ops.discriminator_loss(gan_type, [tf.constant(r) for r in REAL], [tf.constant(f) for f in FAKE]))
    g = graph.run(ops.generator_loss(gan_type, [tf.constant(f) for f in FAKE]))
    np.testing.assert_allclose(d, sum(D_FORMULAS[gan_type](r, f) for r, f in zip(REAL, FAKE)), rtol=1e-5)
    np.testing.assert_allclose(g, sum(G_FORMULAS[gan_type](f) for f in FAKE), rtol=1e-5)


def test_unknown_gan_type_is_refused(graph):
    with pytest.raises(ValueError, match='unknown gan_type'):
        ops.generator_loss('lsgann', [tf.zeros([1])])


def test_cam_and_l1_losses(graph):
    s, n = REAL[1], FAKE[1]
    cam = ops.cam_source_loss(tf.constant(s)) + ops.cam_non_source_loss(tf.constant(n))
    np.testing.assert_allclose(graph.run(cam), _sce(s, 1) + _sce(n, 0), rtol=1e-5)
    np.testing.assert_allclose(graph.run(ops.L1_loss(tf.constant(s), tf.constant(n))), np.mean(np.abs(s - n)), rtol=1e-6)


@pytest.mark.parametrize('gan_type,scale', [('wgan-gp', 3.0), ('wgan-gp', 0.5), ('wgan-lp', 3.0), ('wgan-lp', 0.5)])
def test_gradient_penalty_of_a_linear_critic(graph, gan_type, scale):
    """For logit = scale * sum(x) the gradient norm is scale * sqrt(dim)."""
    x = tf.constant(rng.normal(size=(2, 2, 2, 1)).astype(np.float32))
    gp = graph.run(ops.gradient_penalty(gan_type, [scale * tf.reduce_sum(x, axis=[1, 2, 3])], x, 10))
    norm = scale * np.sqrt(4)
    want = 10 * (max(0, norm - 1) ** 2 if gan_type == 'wgan-lp' else (norm - 1) ** 2)
    np.testing.assert_allclose(gp, want, rtol=1e-5)
