"""A wrong Winograd library for negative controls: the compiled ops with the kernel transform scaled."""


class ScaledKernelWinograd:
    """`library`'s Winograd ops, the transformed kernel multiplied by `factor` (1.001: 0.1 % off)."""

    def __init__(self, library, factor):
        self.winograd_input, self.winograd_output = library.winograd_input, library.winograd_output
        self._kernel, self._factor = library.winograd_kernel, factor

    def winograd_kernel(self, w):
        return self._kernel(w) * self._factor
