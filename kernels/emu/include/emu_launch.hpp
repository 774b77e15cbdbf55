// What the <<<grid, block, shared, stream>>> rewrite calls: emu::launch copies the
// kernel's arguments once (each emulated thread gets its own copy of the
// parameters, as on the device) and hands the grid to the runtime; plus the
// C++ templates of cudaFuncSetAttribute / cudaFuncGetAttributes that CUDA's
// headers declare for nvcc only.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

namespace emu {

struct LaunchConfig {
  LaunchConfig(dim3 g, dim3 b, std::size_t s = 0, cudaStream_t st = nullptr) : grid(g), block(b), shared(s), stream(st) {}
  dim3 grid, block;
  std::size_t shared;
  cudaStream_t stream;
};

// One launch as the runtime sees it: body(args) runs the kernel for the current thread.
struct GridJob {
  const char* name;  // the kernel expression as written in the .cu
  const char* file;
  int line;
  const void* func;  // identifies the kernel for its attributes
  void (*body)(const void* args);
  const void* args;
};

// Checks the configuration (block size, grid size, dynamic shared memory against
// the kernel's limit), runs every block, and records the outcome as
// cudaGetLastError() will report it.
void run_grid(const GridJob& job, const LaunchConfig& cfg);

template <class... P, class... A>
void launch(const char* name, const char* file, int line, void (*kernel)(P...), const LaunchConfig& cfg,
            A&&... args) {
  using Params = std::tuple<std::decay_t<P>...>;
  struct Bound {
    void (*kernel)(P...);
    Params params;
  };
  const Bound bound{kernel, Params(std::forward<A>(args)...)};
  auto body = [](const void* b) {
    const Bound* x = static_cast<const Bound*>(b);
    std::apply(x->kernel, x->params);
  };
  run_grid(GridJob{name, file, line, reinterpret_cast<const void*>(kernel), body, &bound}, cfg);
}

}  // namespace emu

template <class T>
cudaError_t cudaFuncSetAttribute(T* entry, cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(entry), attr, value);
}
template <class T>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, T* entry) {
  return ::cudaFuncGetAttributes(attr, reinterpret_cast<const void*>(entry));
}
