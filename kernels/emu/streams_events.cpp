// Streams and events of the emulated runtime. Every kernel and copy completes
// before its call returns, so streams only need to exist (and be checked), and
// an event records the host clock when it is recorded.
#include <chrono>
#include <mutex>
#include <set>

#include "runtime_state.hpp"

struct CUstream_st {
  unsigned flags = 0;
};

struct CUevent_st {
  std::chrono::steady_clock::time_point at;
  bool recorded = false;
};

namespace emu {
namespace {

std::mutex g_mutex;
std::set<cudaStream_t> g_streams;
std::set<cudaEvent_t> g_events;

bool is_event(cudaEvent_t e) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_events.count(e) > 0;
}

}  // namespace

bool is_stream(cudaStream_t s) {
  if (!s) return true;
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_streams.count(s) > 0;
}

}  // namespace emu

using emu::record;

extern "C" {

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (cudaError_t e = emu::sticky_error()) return e;
  if (!stream) return record(cudaErrorInvalidValue);
  *stream = new CUstream_st{flags};
  std::lock_guard<std::mutex> lock(emu::g_mutex);
  emu::g_streams.insert(*stream);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(emu::g_mutex);
  if (!stream || !emu::g_streams.erase(stream)) return record(cudaErrorInvalidResourceHandle);
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (cudaError_t e = emu::sticky_error()) return e;
  return emu::is_stream(stream) ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaDeviceSynchronize(void) { return emu::sticky_error(); }

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  if (cudaError_t e = emu::sticky_error()) return e;
  if (!event) return record(cudaErrorInvalidValue);
  *event = new CUevent_st;
  std::lock_guard<std::mutex> lock(emu::g_mutex);
  emu::g_events.insert(*event);
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(emu::g_mutex);
  if (!event || !emu::g_events.erase(event)) return record(cudaErrorInvalidResourceHandle);
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (cudaError_t e = emu::sticky_error()) return e;
  if (!emu::is_event(event) || !emu::is_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  event->at = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (cudaError_t e = emu::sticky_error()) return e;
  return emu::is_event(event) ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (cudaError_t e = emu::sticky_error()) return e;
  if (!ms) return record(cudaErrorInvalidValue);
  if (!emu::is_event(start) || !emu::is_event(end)) return record(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !end->recorded) return record(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
  return cudaSuccess;
}

}  // extern "C"
