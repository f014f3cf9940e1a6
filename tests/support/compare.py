"""Per-tensor comparison of gradients (or Adam slots) against a reference, for the golden,
towers and workers tests."""

import numpy as np

# The smallest scale a tensor is compared at, relative to the largest value in its network: the
# exact gradient of a conv bias that feeds a normalisation is zero, and float32 leaves noise
# there of the order of the rounding error of the network's large gradients.
NOISE_FLOOR = 1e-5

# One step split over two devices (towers) or two processes (workers) against one device with
# the whole batch, measured on the tiny model in float32: per-tensor gradient errors
# (relative_errors) median 5e-7, max 0.03 (a conv bias before an instance norm: zero gradient,
# float32 noise at the NOISE_FLOOR scale). Negative control (another B image in tower 1):
# gradient median 5e-2.
SPLIT_GRADIENT_TOLERANCE = {'median': 1e-5, 'max': 0.1}


def network_of(name):
    """'generator' or 'discriminator': the network a variable (or slot) name belongs to."""
    return 'generator' if name.startswith('generator') else 'discriminator'


def loss_errors(got, want):
    """{name: |got - want| / |want|} for dicts of scalar losses (|want| at least 1e-6)."""
    return {k: float(abs(got[k] - want[k]) / max(abs(want[k]), 1e-6)) for k in want}


def relative_errors(got, want):
    """{name: max|got - want| / scale} for dicts of arrays, the scale being the tensor's largest
    |want| but at least NOISE_FLOOR times the largest |want| in its network."""
    largest = {}
    for name, value in want.items():
        largest[network_of(name)] = max(largest.get(network_of(name), 0), np.abs(value).max())
    return {k: float(np.abs(got[k] - want[k]).max() / max(np.abs(want[k]).max(), NOISE_FLOOR * largest[network_of(k)]))
            for k in want}
