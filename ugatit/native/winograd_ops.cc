// TensorFlow CPU ops around winograd_kernels.h: WinogradInput, WinogradKernel, WinogradOutput
// (float32, forward only: they have no gradient and serve inference, ops.winograd_convolutions).
#include "winograd_kernels.h"

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

namespace tensorflow {
namespace {

using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

// Runs fn(begin, end) over [0, total) on the op's CPU threads; cost: rough cycles per unit.
template <typename Fn>
void ParallelFor(OpKernelContext* ctx, int64_t total, int64_t cost, Fn fn) {
  const auto* threads = ctx->device()->tensorflow_cpu_worker_threads();
  Shard(threads->num_threads, threads->workers, total, cost, fn);
}

REGISTER_OP("WinogradInput")
    .Input("x: float")   // [N, Hp, Wp, C]: the convolution's input, padded as it will be used
    .Output("v: float")  // [36, N * ceil((Hp - 2) / 4) * ceil((Wp - 2) / 4), C]
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
      c->set_output(0, c->MakeShape({36, c->UnknownDim(), c->Dim(x, 3)}));
      return OkStatus();
    });

REGISTER_OP("WinogradKernel")
    .Input("w: float")   // [3, 3, C, K]
    .Output("u: float")  // [36, C, K]
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle w;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &w));
      c->set_output(0, c->MakeShape({36, c->Dim(w, 2), c->Dim(w, 3)}));
      return OkStatus();
    });

REGISTER_OP("WinogradOutput")
    .Input("m: float")     // [36, T, K]: the products of the input's and the kernel's tiles
    .Input("size: int32")  // [3]: N, H, W of the convolution's output
    .Output("y: float")    // [N, H, W, K]
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle m;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &m));
      c->set_output(0, c->MakeShape({c->UnknownDim(), c->UnknownDim(), c->UnknownDim(), c->Dim(m, 2)}));
      return OkStatus();
    });

class WinogradInputOp : public OpKernel {
 public:
  explicit WinogradInputOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    OP_REQUIRES(ctx, x.dims() == 4 && x.dim_size(1) >= 3 && x.dim_size(2) >= 3,
                errors::InvalidArgument("WinogradInput: x must be [N, H, W, C] with H, W >= 3"));
    const int64_t n = x.dim_size(0), hp = x.dim_size(1), wp = x.dim_size(2), c = x.dim_size(3);
    const int64_t tiles = n * winograd::TilesAlong(hp - 2) * winograd::TilesAlong(wp - 2);
    Tensor* v = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({36, tiles, c}), &v));
    const float* xp = x.flat<float>().data();
    float* vp = v->flat<float>().data();
    ParallelFor(ctx, tiles, 200 * c, [&](int64_t begin, int64_t end) {
      winograd::InputTiles(xp, n, hp, wp, c, vp, begin, end);
    });
  }
};

class WinogradKernelOp : public OpKernel {
 public:
  explicit WinogradKernelOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& w = ctx->input(0);
    OP_REQUIRES(ctx, w.dims() == 4 && w.dim_size(0) == 3 && w.dim_size(1) == 3,
                errors::InvalidArgument("WinogradKernel: w must be [3, 3, C, K]"));
    const int64_t c = w.dim_size(2), k = w.dim_size(3);
    Tensor* u = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({36, c, k}), &u));
    const float* wp = w.flat<float>().data();
    float* up = u->flat<float>().data();
    ParallelFor(ctx, c, 150 * k, [&](int64_t begin, int64_t end) {
      winograd::KernelTiles(wp, c, k, up, begin, end);
    });
  }
};

class WinogradOutputOp : public OpKernel {
 public:
  explicit WinogradOutputOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& m = ctx->input(0);
    const Tensor& size = ctx->input(1);
    OP_REQUIRES(ctx, m.dims() == 3 && m.dim_size(0) == 36 && size.NumElements() == 3,
                errors::InvalidArgument("WinogradOutput: m must be [36, T, K] and size [N, H, W]"));
    const auto s = size.flat<int32>();
    const int64_t n = s(0), h = s(1), w = s(2), k = m.dim_size(2);
    const int64_t tiles = n * winograd::TilesAlong(h) * winograd::TilesAlong(w);
    OP_REQUIRES(ctx, n > 0 && h > 0 && w > 0 && m.dim_size(1) == tiles,
                errors::InvalidArgument("WinogradOutput: size does not match the tiles of m"));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({n, h, w, k}), &y));
    const float* mp = m.flat<float>().data();
    float* yp = y->flat<float>().data();
    ParallelFor(ctx, tiles, 150 * k, [&](int64_t begin, int64_t end) {
      winograd::OutputTiles(mp, n, h, w, k, yp, begin, end);
    });
  }
};

REGISTER_KERNEL_BUILDER(Name("WinogradInput").Device(DEVICE_CPU), WinogradInputOp);
REGISTER_KERNEL_BUILDER(Name("WinogradKernel").Device(DEVICE_CPU), WinogradKernelOp);
REGISTER_KERNEL_BUILDER(Name("WinogradOutput").Device(DEVICE_CPU).HostMemory("size"), WinogradOutputOp);

}  // namespace
}  // namespace tensorflow
