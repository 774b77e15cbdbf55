#include <chrono>
#include <memory>

#include "impl.hpp"

namespace dfw {

// Defined in kernels/ (CUDA build) or kernels/cuda_absent.cpp (no CUDA compiler).
void append_cuda_impls(std::vector<std::unique_ptr<Impl>>& out);

double Prepared::timed_run_ms() {
  const auto start = std::chrono::steady_clock::now();
  run();
  synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

namespace {

const std::vector<std::unique_ptr<Impl>>& owned() {
  static const auto list = [] {
    std::vector<std::unique_ptr<Impl>> v;
    v.push_back(make_reference_impl());
    v.push_back(make_recurrent_cpu_impl());
    v.push_back(make_chunked_cpu_impl());
    v.push_back(make_softmax_blocked_cpu_impl());
    v.push_back(make_decode_cpu_impl());
    append_cuda_impls(v);
    return v;
  }();
  return list;
}

}  // namespace

const std::vector<const Impl*>& all_impls() {
  static const auto v = [] {
    std::vector<const Impl*> out;
    for (const auto& p : owned()) out.push_back(p.get());
    return out;
  }();
  return v;
}

const Impl* find_impl(const std::string& form, const std::string& backend, const std::string& dtype) {
  for (const Impl* i : all_impls()) {
    FormKey k = i->key();
    if (k.form == form && k.backend == backend && k.dtype == dtype) return i;
  }
  return nullptr;
}

}  // namespace dfw
