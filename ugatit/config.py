"""Flag-derived quantities that need no TensorFlow: model_dir, lr schedule, size limits."""


def learning_rate(epoch, init_lr, decay_flag, decay_epoch, total_epochs):
    """Official schedule: constant, then linear decay to 0 from decay_epoch (when decay_flag)."""
    if not decay_flag or epoch < decay_epoch:
        return init_lr
    return init_lr * (total_epochs - epoch) / (total_epochs - decay_epoch)


def min_img_size(n_dis):
    """Smallest --img_size whose global discriminator (n_dis levels) can be built."""
    size = 8
    while not _discriminator_fits(size, n_dis):
        size += 4
    return size


def _discriminator_fits(img_size, n_dis):
    # n_dis - 1 stride-2 4x4 convs with reflect pad 1 (needs side >= 2), then two 4x4 convs with
    # reflect pad (1, 2) (needs side >= 3; the official code fails there at 64 px with n_dis 6).
    side = img_size
    for _ in range(n_dis - 1):
        if side < 2:
            return False
        side = (side + 2 - 4) // 2 + 1
    return side >= 3


def model_dir_name(args):
    """Official checkpoint/result folder name, e.g.
    UGATIT_light_selfie2anime_lsgan_4resblock_6dis_1_1_10_10_1000_sn_smoothing."""
    model_name = 'UGATIT_light' if args.light else 'UGATIT'
    return '{}_{}_{}_{}resblock_{}dis_{}_{}_{}_{}_{}{}{}'.format(
        model_name, args.dataset, args.gan_type, args.n_res, args.n_dis, args.n_critic,
        args.adv_weight, args.cycle_weight, args.identity_weight, args.cam_weight,
        '_sn' if args.sn else '', '_smoothing' if args.smoothing else '')


def cpu_has_native_bfloat16(cpuinfo='/proc/cpuinfo'):
    """True when the CPU has native bfloat16 instructions (AVX512-BF16 or AMX-BF16), read from
    Linux's /proc/cpuinfo (False elsewhere). --bfloat16 is offered only there: it was measured
    only there."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith('flags'):
                    flags = line.split(':', 1)[1].split()
                    return 'avx512_bf16' in flags or 'amx_bf16' in flags
    except OSError:
        pass
    return False


def session_config(intra_op_threads=0, inter_op_threads=0, xla=False, graph_rewrites=True, bfloat16=False):
    """tf.compat.v1.ConfigProto: thread pools (0 = TensorFlow's choice), optional XLA JIT,
    soft placement (so CPU-only ops fall back on a GPU machine), on-demand GPU memory, whether
    Grappler rewrites the graph before the first run, and whether it runs CPU ops in bfloat16
    (Grappler's oneDNN auto mixed precision: variables stay float32; convolutions, matrix
    products and most other ops, normalisation statistics included, become bfloat16)."""
    import tensorflow as tf
    config = tf.compat.v1.ConfigProto(allow_soft_placement=True,
                                      intra_op_parallelism_threads=intra_op_threads,
                                      inter_op_parallelism_threads=inter_op_threads)
    config.gpu_options.allow_growth = True
    # Two of Grappler's rewrites cost memory here and save no time (measured at 256 px, see
    # README "Speed and memory"): constant folding makes constants, which the session keeps
    # for good, of zero-filled tensors such as the Adam slots' initial values, and variables
    # initialised from them are copied on their first update (0.7 GB more in use after the
    # first training steps); the memory optimiser rewrites each large sum of gradients into an
    # accumulator started from a zero constant of the same size (0.4 GB). Keep only the memory
    # optimiser's GPU swapping.
    rewrite = config.graph_options.rewrite_options
    rewrite.constant_folding = rewrite.OFF
    rewrite.memory_optimization = rewrite.SWAPPING_HEURISTICS
    if bfloat16:
        rewrite.auto_mixed_precision_onednn_bfloat16 = rewrite.ON
    if xla:
        config.graph_options.optimizer_options.global_jit_level = tf.compat.v1.OptimizerOptions.ON_1
    if not graph_rewrites:
        config.graph_options.rewrite_options.disable_meta_optimizer = True
    return config
