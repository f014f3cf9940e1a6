// See winograd_kernels.h. The matrices are those of F(4x4, 3x3) with the points 0, +-1, +-2
// and infinity; every transform runs on blocks of kBlock channels so that the inner loops
// are vectorised over channels (NHWC keeps them contiguous).
#include "winograd_kernels.h"

#include <algorithm>

namespace winograd {
namespace {

using int64 = std::int64_t;
constexpr int kBlock = 64;

// r[k] = sum_i BT[k][i] d[i] for 6 rows d[i] (cb floats each, `stride` apart).
inline void InputRows(const float* d, int64 stride, float* r, int64 rstride, int cb) {
  const float *d0 = d, *d1 = d + stride, *d2 = d + 2 * stride, *d3 = d + 3 * stride,
              *d4 = d + 4 * stride, *d5 = d + 5 * stride;
  float *r0 = r, *r1 = r + rstride, *r2 = r + 2 * rstride, *r3 = r + 3 * rstride,
        *r4 = r + 4 * rstride, *r5 = r + 5 * rstride;
  for (int c = 0; c < cb; ++c) {
    r0[c] = 4.f * d0[c] - 5.f * d2[c] + d4[c];
    r1[c] = -4.f * (d1[c] + d2[c]) + d3[c] + d4[c];
    r2[c] = 4.f * (d1[c] - d2[c]) - d3[c] + d4[c];
    r3[c] = 2.f * (d3[c] - d1[c]) - d2[c] + d4[c];
    r4[c] = 2.f * (d1[c] - d3[c]) - d2[c] + d4[c];
    r5[c] = 4.f * d1[c] - 5.f * d3[c] + d5[c];
  }
}

// r[k] = sum_i G[k][i] g[i] for 3 rows g[i] -> 6 rows r[k].
inline void KernelRows(const float* g, int64 stride, float* r, int64 rstride, int cb) {
  const float *g0 = g, *g1 = g + stride, *g2 = g + 2 * stride;
  for (int c = 0; c < cb; ++c) {
    const float even = g0[c] + g2[c];
    r[c] = 0.25f * g0[c];
    r[rstride + c] = -(even + g1[c]) / 6.f;
    r[2 * rstride + c] = -(even - g1[c]) / 6.f;
    r[3 * rstride + c] = g0[c] / 24.f + g1[c] / 12.f + g2[c] / 6.f;
    r[4 * rstride + c] = g0[c] / 24.f - g1[c] / 12.f + g2[c] / 6.f;
    r[5 * rstride + c] = g2[c];
  }
}

// o[k] = sum_i AT[k][i] m[i] for 6 rows m[i] -> 4 rows o[k].
inline void OutputRows(const float* m, int64 stride, float* o, int64 ostride, int cb) {
  const float *m0 = m, *m1 = m + stride, *m2 = m + 2 * stride, *m3 = m + 3 * stride,
              *m4 = m + 4 * stride, *m5 = m + 5 * stride;
  float *o0 = o, *o1 = o + ostride, *o2 = o + 2 * ostride, *o3 = o + 3 * ostride;
  for (int c = 0; c < cb; ++c) {
    const float a = m1[c] + m2[c], b = m1[c] - m2[c], p = m3[c] + m4[c], q = m3[c] - m4[c];
    o0[c] = m0[c] + a + p;
    o1[c] = b + 2.f * q;
    o2[c] = a + 4.f * p;
    o3[c] = b + 8.f * q + m5[c];
  }
}

}  // namespace

void InputTiles(const float* x, int64 n, int64 hp, int64 wp, int64 c, float* v,
                int64 tile_begin, int64 tile_end) {
  const int64 th = TilesAlong(hp - 2), tw = TilesAlong(wp - 2), tiles = n * th * tw;
  float d[36 * kBlock], t[36 * kBlock], u[36 * kBlock];
  for (int64 tile = tile_begin; tile < tile_end; ++tile) {
    const int64 img = tile / (th * tw), ty = (tile / tw) % th, tx = tile % tw;
    for (int64 c0 = 0; c0 < c; c0 += kBlock) {
      const int cb = static_cast<int>(std::min<int64>(kBlock, c - c0));
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) {
          const int64 row = ty * 4 + i, col = tx * 4 + j;
          float* dst = d + (i * 6 + j) * kBlock;
          if (row < hp && col < wp) {
            const float* src = x + ((img * hp + row) * wp + col) * c + c0;
            std::copy(src, src + cb, dst);
          } else {
            std::fill(dst, dst + cb, 0.f);
          }
        }
      for (int j = 0; j < 6; ++j)  // down the columns, then along the rows: BT d B
        InputRows(d + j * kBlock, 6 * kBlock, t + j * kBlock, 6 * kBlock, cb);
      for (int i = 0; i < 6; ++i)
        InputRows(t + i * 6 * kBlock, kBlock, u + i * 6 * kBlock, kBlock, cb);
      for (int ij = 0; ij < 36; ++ij)
        std::copy(u + ij * kBlock, u + ij * kBlock + cb, v + (ij * tiles + tile) * c + c0);
    }
  }
}

void KernelTiles(const float* w, int64 c, int64 k, float* u, int64 c_begin, int64 c_end) {
  float t[18 * kBlock], r[36 * kBlock];  // t: G g [6][3], r: G g GT [6][6]
  for (int64 ci = c_begin; ci < c_end; ++ci)
    for (int64 k0 = 0; k0 < k; k0 += kBlock) {
      const int kb = static_cast<int>(std::min<int64>(kBlock, k - k0));
      const float* g = w + ci * k + k0;  // g[i][j] at g + (i * 3 + j) * c * k
      for (int j = 0; j < 3; ++j)
        KernelRows(g + j * c * k, 3 * c * k, t + j * kBlock, 3 * kBlock, kb);
      for (int i = 0; i < 6; ++i)
        KernelRows(t + i * 3 * kBlock, kBlock, r + i * 6 * kBlock, kBlock, kb);
      for (int ij = 0; ij < 36; ++ij)
        std::copy(r + ij * kBlock, r + ij * kBlock + kb, u + (ij * c + ci) * k + k0);
    }
}

void OutputTiles(const float* m, int64 n, int64 h, int64 w, int64 k, float* y,
                 int64 tile_begin, int64 tile_end) {
  const int64 th = TilesAlong(h), tw = TilesAlong(w), tiles = n * th * tw;
  float a[36 * kBlock], t[24 * kBlock], o[16 * kBlock];
  for (int64 tile = tile_begin; tile < tile_end; ++tile) {
    const int64 img = tile / (th * tw), ty = (tile / tw) % th, tx = tile % tw;
    for (int64 k0 = 0; k0 < k; k0 += kBlock) {
      const int kb = static_cast<int>(std::min<int64>(kBlock, k - k0));
      for (int ij = 0; ij < 36; ++ij) {
        const float* src = m + (ij * tiles + tile) * k + k0;
        std::copy(src, src + kb, a + ij * kBlock);
      }
      for (int j = 0; j < 6; ++j)  // down the columns, then along the rows: AT m A
        OutputRows(a + j * kBlock, 6 * kBlock, t + j * kBlock, 6 * kBlock, kb);
      for (int i = 0; i < 4; ++i)
        OutputRows(t + i * 6 * kBlock, kBlock, o + i * 4 * kBlock, kBlock, kb);
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          const int64 row = ty * 4 + i, col = tx * 4 + j;
          if (row < h && col < w) {
            const float* src = o + (i * 4 + j) * kBlock;
            std::copy(src, src + kb, y + ((img * h + row) * w + col) * k + k0);
          }
        }
    }
  }
}

}  // namespace winograd
