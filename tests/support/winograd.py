"""The Winograd library for the tests: the checked one, or a skip where no compiler can build it;
and a wrong one for negative controls (the compiled ops with the kernel transform scaled)."""


class ScaledKernelWinograd:
    """`library`'s Winograd ops, the transformed kernel multiplied by `factor` (1.001: 0.1 % off)."""

    def __init__(self, library, factor):
        self.winograd_input, self.winograd_output = library.winograd_input, library.winograd_output
        self._kernel, self._factor = library.winograd_kernel, factor

    def winograd_kernel(self, w):
        return self._kernel(w) * self._factor


def winograd_library_or_skip():
    """The checked Winograd library of this process; skips the calling test on a machine with no
    C++ compiler (a failure under CI=true, whose set-up installs g++). A failed build or
    self-check fails the test: that is what the tests are for."""
    import os

    import pytest

    from ugatit import native
    try:
        return native.winograd_library()
    except native.NativeOpError as error:
        if 'compiler' not in str(error) or 'failed' in str(error):
            raise
        if os.environ.get('CI') == 'true':
            pytest.fail('%s (CI=true: make sysdeps installs g++)' % error)
        pytest.skip(str(error))
