// cudnn/cuda for softmax: causal attention as NVIDIA ships it, through cuDNN's fused
// scaled-dot-product attention (the cuDNN frontend's sdpa graph: fp16 / bf16 q, k, v
// and y, fp32 softmax and accumulation, scale 1/sqrt(dk)), beside dfwbench's own
// flash kernels (forms blocked and decode).
//   sequence: causal prefill over whole sequences, y for every token.
//   decode_step: a KV cache of capacity T on the device holds the first T - 1 tokens
//     after prepare; run() appends token T - 1's k and v (two strided copies) and
//     attends with its query (one sdpa launch, no mask: the newest query sees every
//     cached key), as the decode form does with its own kernel.
// The graph is built and its plan chosen (heuristics mode A) in prepare, never in the
// timed run. libcudnn is opened at run time (NV_CUDNN_FRONTEND_USE_DYNAMIC_LOADING): from
// the directory CMake found it in (DFW_CUDNN_LIBRARY_DIR), else by the loader's search;
// where it cannot be opened, or cuDNN has no engine for a shape, the form says why.
#include <dlfcn.h>

#include <cudnn_frontend.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "cuda_forms.hpp"
#include "cuda_prepared.hpp"
#include "device_inputs.hpp"

namespace cudnn_frontend {
void* cudnn_dlhandle = nullptr;  // the frontend's symbols resolve through it
}  // namespace cudnn_frontend

namespace dfw {
namespace {

namespace fe = cudnn_frontend;

// Opens libcudnn once, and has the frontend open the CUDA runtime this binary was built
// for (it would take a CUDA 12 one first where one is on the loader's path): "" on
// success, else what failed, each attempt's loader message included.
const std::string& cudnn_library_problem() {
  static const std::string problem = []() -> std::string {
    setenv("CUDNN_FRONTEND_CUDART_LIB_NAME", ("libcudart.so." + std::to_string(CUDART_VERSION / 1000)).c_str(), 0);
    const std::string name = "libcudnn.so.9";
    const std::string dir = DFW_CUDNN_LIBRARY_DIR;  // "" when CMake found the headers only
    std::string errors;
    for (const std::string& path : {dir.empty() ? name : dir + "/" + name, name}) {
      if ((fe::cudnn_dlhandle = dlopen(path.c_str(), RTLD_NOW))) break;
      const char* err = dlerror();
      errors += (errors.empty() ? "" : "; ") + (err ? std::string(err) : path + ": not found");
    }
    if (!fe::cudnn_dlhandle)
      return "cuDNN is not loadable (" + errors + "); bash scripts/setup_cudnn.sh installs it";
    if (const auto v = fe::detail::get_backend_version(); v < 90000)
      return "cuDNN " + std::to_string(v) + " was loaded; the cudnn form needs cuDNN 9";
    try {
      if (fe::detail::get_cuda_runtime_version() == 0) return "cuDNN's frontend found no CUDA runtime";
    } catch (const std::exception& e) {
      return std::string("cuDNN's frontend: ") + e.what();
    }
    return "";
  }();
  return problem;
}

void check(fe::error_t e, const char* what) {
  if (e.is_bad()) throw std::runtime_error(std::string("cuDNN ") + what + ": " + e.get_message());
}

// cudnnHandle_t, created and destroyed with the case, bound to its stream.
class CudnnHandle {
 public:
  explicit CudnnHandle(cudaStream_t stream) {
    if (const cudnnStatus_t st = fe::detail::create_handle(&h_); st != CUDNN_STATUS_SUCCESS)
      throw std::runtime_error(std::string("cudnnCreate: ") + fe::detail::get_error_string(st));
    if (const cudnnStatus_t st = fe::detail::set_stream(h_, stream); st != CUDNN_STATUS_SUCCESS) {
      fe::detail::destroy_handle(h_);
      throw std::runtime_error(std::string("cudnnSetStream: ") + fe::detail::get_error_string(st));
    }
  }
  ~CudnnHandle() { fe::detail::destroy_handle(h_); }
  CudnnHandle(const CudnnHandle&) = delete;
  CudnnHandle& operator=(const CudnnHandle&) = delete;
  cudnnHandle_t get() const { return h_; }

 private:
  cudnnHandle_t h_ = nullptr;
};

// Strides of (B, H, rows, d) in a row-major (B, H, rows_in_head, d) array.
std::vector<int64_t> bhsd_strides(int64_t H, int64_t rows_in_head, int64_t d) {
  return {H * rows_in_head * d, rows_in_head * d, d, 1};
}

enum Uid : int64_t { kQ = 1, kK, kV, kO };

template <class T>
class SoftmaxCudnnPrepared final : public CudaPrepared {
 public:
  SoftmaxCudnnPrepared(const Problem& p, Mode mode)
      : s_(p.shape), mode_(mode), in_(p, stream()), handle_(stream()),
        k_cache_(mode == Mode::decode_step ? s_.B * s_.H * s_.T * s_.dk : 0),
        v_cache_(mode == Mode::decode_step ? s_.B * s_.H * s_.T * s_.dv : 0),
        y_(s_.B * s_.H * (mode == Mode::sequence ? s_.T : 1) * s_.dv) {
    if (s_.T == 0) return;  // nothing to attend
    const bool decode = mode == Mode::decode_step;
    const int64_t B = s_.B, H = s_.H, len = s_.T, dk = s_.dk, dv = s_.dv, sq = decode ? 1 : len;
    if (decode && len > 1) {  // the first T - 1 tokens are the context
      copy_rows(k_cache_.data(), in_.k.data(), dk, len - 1, 0);
      copy_rows(v_cache_.data(), in_.v.data(), dv, len - 1, 0);
      synchronize();
    }
    const fe::DataType_t io = std::is_same<T, Fp16>::value ? fe::DataType_t::HALF : fe::DataType_t::BFLOAT16;
    graph_.set_io_data_type(io)
        .set_intermediate_data_type(fe::DataType_t::FLOAT)
        .set_compute_data_type(fe::DataType_t::FLOAT);
    auto tensor = [&](const char* name, Uid uid, int64_t rows, int64_t d, int64_t rows_in_head) {
      return graph_.tensor(fe::graph::Tensor_attributes()
                               .set_name(name)
                               .set_uid(uid)
                               .set_dim({B, H, rows, d})
                               .set_stride(bhsd_strides(H, rows_in_head, d)));
    };
    // decode: the query is row T - 1 of q (its pointer offset by T - 1 rows below), one
    // row of a head of T rows; the keys and values the whole cache.
    auto q = tensor("Q", kQ, sq, dk, len), k = tensor("K", kK, len, dk, len), v = tensor("V", kV, len, dv, len);
    auto options = fe::graph::SDPA_attributes()
                       .set_name("causal_attention")
                       .set_generate_stats(false)
                       .set_attn_scale(1.f / std::sqrt(float(dk)))
                       .set_causal_mask(!decode);
    auto outputs = graph_.sdpa(q, k, v, options);
    outputs[0]->set_output(true).set_uid(kO).set_dim({B, H, sq, dv}).set_stride(bhsd_strides(H, sq, dv));
    check(graph_.validate(), "graph");
    check(graph_.build_operation_graph(handle_.get()), "operation graph");
    check(graph_.create_execution_plans({fe::HeurMode_t::A}), "execution plans");
    check(graph_.check_support(), "support");
    check(graph_.build_plans(), "plans");
    int64_t bytes = 0;
    check(graph_.get_workspace_size(bytes), "workspace size");
    workspace_ = DeviceBuffer<unsigned char>(std::size_t(bytes));
    pointers_ = {{kQ, in_.q.data() + (decode ? (len - 1) * dk : 0)},
                 {kK, decode ? k_cache_.data() : in_.k.data()},
                 {kV, decode ? v_cache_.data() : in_.v.data()},
                 {kO, y_.data()}};
  }

  void run() override {
    if (s_.T == 0) return;
    if (mode_ == Mode::decode_step) {  // the KV append of the newest token
      copy_rows(k_cache_.data(), in_.k.data(), s_.dk, 1, s_.T - 1);
      copy_rows(v_cache_.data(), in_.v.data(), s_.dv, 1, s_.T - 1);
    }
    check(graph_.execute(handle_.get(), pointers_, workspace_.empty() ? nullptr : workspace_.data()), "execute");
  }

  Output output() const override {
    Output o;
    o.y = widen(y_.download(stream()));
    return o;
  }

 private:
  // rows [first, first + count) of every head, each head T rows of d, from src to dst.
  void copy_rows(T* dst, const T* src, int64_t d, int64_t count, int64_t first) {
    const std::size_t head = sizeof(T) * std::size_t(s_.T * d), at = sizeof(T) * std::size_t(first * d);
    DFW_CUDA_CHECK(cudaMemcpy2DAsync(reinterpret_cast<char*>(dst) + at, head,
                                     reinterpret_cast<const char*>(src) + at, head, sizeof(T) * count * d,
                                     s_.B * s_.H, cudaMemcpyDeviceToDevice, stream()));
  }

  Shape s_;
  Mode mode_;
  DeviceInputs<T> in_;
  CudnnHandle handle_;
  DeviceBuffer<T> k_cache_;  // (B, H, T, dk), decode_step only
  DeviceBuffer<T> v_cache_;  // (B, H, T, dv), decode_step only
  DeviceBuffer<T> y_;        // (B, H, T or 1, dv)
  DeviceBuffer<unsigned char> workspace_;
  fe::graph::Graph graph_;
  std::unordered_map<int64_t, void*> pointers_;
};

}  // namespace

std::string cudnn_unavailable_reason() { return cudnn_library_problem(); }

std::unique_ptr<Prepared> make_softmax_cudnn(const Problem& p, Mode mode, const std::string& dtype) {
  if (const std::string& r = cudnn_library_problem(); !r.empty()) throw std::runtime_error(r);
  if (p.shape.dk % 8 != 0 || p.shape.dv % 8 != 0 || p.shape.dk > 256 || p.shape.dv > 256)
    throw std::invalid_argument("cuDNN's fused attention takes dk, dv multiples of 8 up to 256, not dk = " +
                                std::to_string(p.shape.dk) + ", dv = " + std::to_string(p.shape.dv));
  if (dtype == "fp16") return std::make_unique<SoftmaxCudnnPrepared<Fp16>>(p, mode);
  if (dtype == "bf16") return std::make_unique<SoftmaxCudnnPrepared<Bf16>>(p, mode);
  throw std::invalid_argument("the cudnn form takes fp16 or bf16, not " + dtype);
}

}  // namespace dfw
