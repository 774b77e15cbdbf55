// Backward forms (docs/MATH.md "Gradients"): given a problem and dy, the gradient of
// L = sum(y * dy) with respect to every input that has one. One implementation =
// one (form, backend, dtype), like the forward Impl; the float64 reference is one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "impl.hpp"

namespace dfw {

// Shaped as Problem's tensors; empty where the input is absent or has no gradient
// (omega is fixed). w, b: summed over the batch (one per head).
struct Gradients {
  std::vector<double> q, k, v, gate, beta, gate_v, gate_k, w, b, s0;
  // Set by the reference only: how much the normaliser's two terms cancel in
  // dphi(q) (RecurrentBackward::normaliser_conditioning, worst head); 1 elsewhere.
  // check scales the limits of q, k, w and b by it; gate_conditioning, the same
  // for the scalar gate's gradient (sum(da) -/+ dc), scales gate's.
  double normaliser_conditioning = 1.0;
  double gate_conditioning = 1.0;

  // Every present tensor by its input name, in Problem's order.
  std::vector<std::pair<std::string, const std::vector<double>*>> tensors() const;
};

// per_bh (B * H, n) -> (H, n): a per-head parameter's gradient summed over the
// batch; empty for an empty input.
template <class T>
std::vector<double> sum_over_batch(const T* per_bh, int64_t B, int64_t H, int64_t n) {
  if (!per_bh) return {};
  std::vector<double> out(H * n, 0.0);
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (int64_t i = 0; i < n; ++i) out[(bh % H) * n + i] += per_bh[bh * n + i];
  return out;
}

// A form's fp32 gradient buffer as Gradients holds it (empty stays empty).
template <class Buffer>
std::vector<double> widened(const Buffer& b) {
  return std::vector<double>(b.data(), b.data() + b.size());
}

// A backward case made ready to run; the problem and dy must outlive it.
class PreparedBackward {
 public:
  virtual ~PreparedBackward() = default;
  virtual void run() = 0;                        // the timed work (forward recompute + backward); repeatable
  virtual void synchronize() {}                  // wait for asynchronous work (GPU)
  virtual Gradients gradients() const = 0;       // of the last run(), float64 copies
  // One timed run in milliseconds on the backend's own clock: CPU, wall clock around
  // run(); CUDA forms override it (L2 flushed, CUDA events).
  virtual double timed_run_ms();
};

class BackwardImpl {
 public:
  virtual ~BackwardImpl() = default;
  virtual FormKey key() const = 0;
  // Empty when supported; otherwise why not (shown as UNSUPPORTED).
  virtual std::string unsupported_reason(const Variant& v) const = 0;
  // Whether opts.chunk changes what the form computes (a checkpoint or chunk length),
  // and the length it computes with when asked for `chunk` (check runs each distinct one once).
  virtual bool takes_chunk() const { return false; }
  virtual int64_t effective_chunk(int64_t chunk) const { return chunk; }
  // dy: (B, H, T, dv). opts.chunk: the checkpoint or chunk length.
  virtual std::unique_ptr<PreparedBackward> prepare(const Variant& v, const Problem& p, const std::vector<float>& dy,
                                                    const RunOptions& opts) const = 0;
};

// Every backward implementation, the reference first.
const std::vector<const BackwardImpl*>& all_backward_impls();
const BackwardImpl* find_backward_impl(const std::string& form, const std::string& backend, const std::string& dtype);

std::unique_ptr<BackwardImpl> make_reference_backward_impl();
std::unique_ptr<BackwardImpl> make_recurrent_backward_cpu_impl();
std::unique_ptr<BackwardImpl> make_chunked_backward_cpu_impl();
std::unique_ptr<BackwardImpl> make_softmax_blocked_backward_cpu_impl();

}  // namespace dfw
