// Winograd F(4x4, 3x3) transforms of a stride-1 3x3 convolution (Lavin and Gray, 2016), plain
// C++ with no TensorFlow header: compiled for the CPU that runs it (-march=native), which
// TensorFlow's own headers do not allow (its Eigen breaks on some AVX-512 extensions).
//
// A VALID 3x3 convolution of x [N, Hp, Wp, C] to y [N, H, W, K] (H = Hp - 2, W = Wp - 2) is
//   v = InputTiles(x)       [36, T, C]  one 6x6 tile of x for each 4x4 block of y, T tiles
//   u = KernelTiles(w)      [36, C, K]  from w [3, 3, C, K]
//   m[i] = v[i] @ u[i]      [36, T, K]  36 matrix products (done by the caller)
//   y = OutputTiles(m)      [N, H, W, K]
// The 36 products hold 36 * C * K multiplications per 16 outputs against 144 * C * K directly.
#ifndef UGATIT_NATIVE_WINOGRAD_KERNELS_H_
#define UGATIT_NATIVE_WINOGRAD_KERNELS_H_

#include <cstdint>

namespace winograd {

// Tiles per image along a side of `out` outputs: ceil(out / 4).
inline std::int64_t TilesAlong(std::int64_t out) { return (out + 3) / 4; }

// Tiles [tile_begin, tile_end) of v [36, T, C] from x [n, hp, wp, c] (zeros past x's edge).
void InputTiles(const float* x, std::int64_t n, std::int64_t hp, std::int64_t wp, std::int64_t c,
                float* v, std::int64_t tile_begin, std::int64_t tile_end);

// Input channels [c_begin, c_end) of u [36, C, K] from w [3, 3, C, K].
void KernelTiles(const float* w, std::int64_t c, std::int64_t k, float* u,
                 std::int64_t c_begin, std::int64_t c_end);

// Tiles [tile_begin, tile_end) of y [n, h, w, k] from m [36, T, k].
void OutputTiles(const float* m, std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t k,
                 float* y, std::int64_t tile_begin, std::int64_t tile_end);

}  // namespace winograd

#endif  // UGATIT_NATIVE_WINOGRAD_KERNELS_H_
