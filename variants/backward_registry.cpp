// The list of backward implementations (backward_impl.hpp), the reference first and
// the CUDA ones last, and what every backward form shares: Gradients::tensors() and
// the default timed run.
#include <chrono>

#include "backward_impl.hpp"

namespace dfw {

std::vector<std::pair<std::string, const std::vector<double>*>> Gradients::tensors() const {
  std::vector<std::pair<std::string, const std::vector<double>*>> out;
  const std::pair<const char*, const std::vector<double>*> all[] = {
      {"q", &q},           {"k", &k},           {"v", &v}, {"gate", &gate}, {"beta", &beta},
      {"gate_v", &gate_v}, {"gate_k", &gate_k}, {"w", &w}, {"b", &b},       {"s0", &s0}};
  for (const auto& [name, t] : all)
    if (!t->empty()) out.emplace_back(name, t);
  return out;
}

double PreparedBackward::timed_run_ms() {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Defined in kernels/ (CUDA build) or kernels/cuda_absent.cpp (none without a CUDA compiler).
void append_cuda_backward_impls(std::vector<std::unique_ptr<BackwardImpl>>& out);

namespace {

const std::vector<std::unique_ptr<BackwardImpl>>& owned() {
  static const auto list = [] {
    std::vector<std::unique_ptr<BackwardImpl>> v;
    v.push_back(make_reference_backward_impl());
    v.push_back(make_recurrent_backward_cpu_impl());
    v.push_back(make_chunked_backward_cpu_impl());
    v.push_back(make_softmax_blocked_backward_cpu_impl());
    append_cuda_backward_impls(v);
    return v;
  }();
  return list;
}

}  // namespace

const std::vector<const BackwardImpl*>& all_backward_impls() {
  static const auto v = [] {
    std::vector<const BackwardImpl*> out;
    for (const auto& p : owned()) out.push_back(p.get());
    return out;
  }();
  return v;
}

const BackwardImpl* find_backward_impl(const std::string& form, const std::string& backend, const std::string& dtype) {
  for (const BackwardImpl* i : all_backward_impls()) {
    const FormKey k = i->key();
    if (k.form == form && k.backend == backend && k.dtype == dtype) return i;
  }
  return nullptr;
}

}  // namespace dfw
