// One implementation = one (form, backend, dtype). Every implementation says which
// variants it supports; the harness runs every supported one through the same
// accuracy check and timing loop (the llama.cpp test-backend-ops habit).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "problem.hpp"
#include "variant.hpp"

namespace dfw {

enum class Mode {
  sequence,     // the whole sequence: y for every token and the final state
  decode_step,  // one new token (the last of the problem) against a carried state
                // (stateful rules: s0, the problem has T = 1) or a KV cache holding
                // the first T - 1 tokens (softmax)
};

struct RunOptions {
  Mode mode = Mode::sequence;
  int64_t chunk = 64;  // chunk length of chunked forms
};

struct FormKey {
  std::string form;     // reference | recurrent | chunked | blocked | decode
  std::string backend;  // cpu | cuda
  std::string dtype;    // fp64 | fp32 | fp16 | bf16
  std::string str() const { return form + "/" + backend + "/" + dtype; }
};

// Thrown by a form that cannot get the memory a case needs (host or device), so a
// sweep can record the case as OOM and go on.
class OutOfMemory : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A case made ready to run: inputs copied into the form's own (tracked) buffers.
class Prepared {
 public:
  virtual ~Prepared() = default;
  virtual void run() = 0;                  // the timed work; repeatable
  virtual void synchronize() {}            // wait for asynchronous work (GPU)
  virtual Output output() const = 0;       // results of the last run(), float64 copies
  // One timed run in milliseconds on the backend's own clock. CPU: wall clock
  // around run(). CUDA forms override it: L2 flushed first, then CUDA events.
  virtual double timed_run_ms();
};

class Impl {
 public:
  virtual ~Impl() = default;
  virtual FormKey key() const = 0;
  // Empty when supported; otherwise why not (shown as UNSUPPORTED).
  virtual std::string unsupported_reason(const Variant& v, Mode mode) const = 0;
  // The problem must outlive the returned case. Throws std::invalid_argument /
  // std::runtime_error on bad input or failure (std::bad_alloc when out of memory).
  virtual std::unique_ptr<Prepared> prepare(const Variant& v, const Problem& p, const RunOptions& opts) const = 0;
  // The chunk length the form computes with when asked for `chunk` (the CPU chunked
  // form caps it at 16): check runs each distinct one once.
  virtual int64_t effective_chunk(int64_t chunk) const { return chunk; }
};

// Every implementation, CPU first, then CUDA ones when built with CUDA.
const std::vector<const Impl*>& all_impls();
// nullptr when no implementation has that key.
const Impl* find_impl(const std::string& form, const std::string& backend, const std::string& dtype);

// Empty when CUDA forms can run here; otherwise why not ("built without CUDA",
// or the driver's reason such as "no CUDA-capable device is detected").
std::string cuda_unavailable_reason();
// True when the CUDA forms run on the emulated device (kernels/emu): correct
// results, meaningless times (check labels its rows cuda-emu; bench refuses).
bool cuda_device_emulated();

// Where a new implementation is listed (impl_registry.cpp).
std::unique_ptr<Impl> make_reference_impl();
std::unique_ptr<Impl> make_recurrent_cpu_impl();
std::unique_ptr<Impl> make_chunked_cpu_impl();
std::unique_ptr<Impl> make_softmax_blocked_cpu_impl();
std::unique_ptr<Impl> make_decode_cpu_impl();

}  // namespace dfw
