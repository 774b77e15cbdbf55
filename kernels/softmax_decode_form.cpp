// decode/cuda for softmax: a KV cache of capacity T on the device. decode_step:
// prepare fills cache rows 0..T-2 with the context; run() appends token T-1 and
// attends with its query (flash-decoding, one launch appending and attending, plus a
// combine when the cache is split). sequence: run() does so for every token in turn. As variants/cpu/softmax_decode_cpu.cpp.
#include "cuda_forms.hpp"
#include "cuda_prepared.hpp"
#include "device_inputs.hpp"
#include "softmax_decode_kernel.cuh"

namespace dfw {
namespace {

template <class T>
class SoftmaxDecodePrepared final : public CudaPrepared {
 public:
  SoftmaxDecodePrepared(const Problem& p, Mode mode)
      : s_(p.shape), mode_(mode), in_(p, stream()),
        k_cache_(s_.B * s_.H * s_.T * s_.dk), v_cache_(s_.B * s_.H * s_.T * s_.dv),
        partials_(s_.B * s_.H * kSoftmaxDecodeMaxSplits * (s_.dv + 2)),
        y_(s_.B * s_.H * (mode == Mode::sequence ? s_.T : 1) * s_.dv) {
    const int64_t BH = s_.B * s_.H;
    if (mode == Mode::decode_step && s_.T > 1) {  // the first T - 1 tokens are the context
      const std::size_t row = sizeof(T) * s_.T;
      DFW_CUDA_CHECK(cudaMemcpy2DAsync(k_cache_.data(), row * s_.dk, in_.k.data(), row * s_.dk,
                                       sizeof(T) * (s_.T - 1) * s_.dk, BH, cudaMemcpyDeviceToDevice, stream()));
      DFW_CUDA_CHECK(cudaMemcpy2DAsync(v_cache_.data(), row * s_.dv, in_.v.data(), row * s_.dv,
                                       sizeof(T) * (s_.T - 1) * s_.dv, BH, cudaMemcpyDeviceToDevice, stream()));
      synchronize();
    }
    base_.BH = BH;
    base_.T_cap = s_.T;
    base_.dk = int(s_.dk);
    base_.dv = int(s_.dv);
    base_.q = in_.q.data();
    base_.k = in_.k.data();
    base_.v = in_.v.data();
    base_.k_cache = k_cache_.data();
    base_.v_cache = v_cache_.data();
    base_.partials = partials_.data();
    base_.y = y_.data();
    base_.y_tokens = mode == Mode::sequence ? s_.T : 1;
  }

  void run() override {
    if (mode_ == Mode::decode_step) {
      if (s_.T > 0) token(s_.T - 1, 0);
      return;
    }
    for (int64_t t = 0; t < s_.T; ++t) token(t, t);
  }

  Output output() const override {
    Output o;
    o.y = widen(y_.download(stream()));
    return o;
  }

 private:
  void token(int64_t t, int64_t y_row) {
    SoftmaxDecodeLaunch<T> a = base_;
    a.t = t;
    a.y_row = y_row;
    launch_softmax_decode(a, stream());
  }

  Shape s_;
  Mode mode_;
  DeviceInputs<T> in_;
  DeviceBuffer<T> k_cache_;        // (B, H, T, dk)
  DeviceBuffer<T> v_cache_;        // (B, H, T, dv)
  DeviceBuffer<float> partials_;   // (B, H, kSoftmaxDecodeMaxSplits, dv + 2)
  DeviceBuffer<T> y_;              // (B, H, T or 1, dv)
  SoftmaxDecodeLaunch<T> base_;
};

}  // namespace

std::unique_ptr<Prepared> make_softmax_decode_cuda(const Problem& p, Mode mode, const std::string& dtype) {
  if (p.shape.dk > kDecodeMaxWidth || p.shape.dv > kDecodeMaxWidth)
    throw std::invalid_argument("CUDA softmax decode takes dk and dv <= " + std::to_string(kDecodeMaxWidth));
  if (dtype == "fp32") return std::make_unique<SoftmaxDecodePrepared<float>>(p, mode);
  if (dtype == "fp16") return std::make_unique<SoftmaxDecodePrepared<Fp16>>(p, mode);
  if (dtype == "bf16") return std::make_unique<SoftmaxDecodePrepared<Bf16>>(p, mode);
  throw std::invalid_argument("CUDA forms take fp32, fp16 or bf16, not " + dtype);
}

}  // namespace dfw
