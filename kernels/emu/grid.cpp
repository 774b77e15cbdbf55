// emu::run_grid: checks a launch as the device does (block and grid limits,
// dynamic shared memory against the kernel's limit) and runs its blocks, spread
// over DFWBENCH_EMU_THREADS OS threads (default: the hardware's), each running
// whole blocks with its BlockRunner. The launch returns when every block has
// ended; a kernel fault is reported on stderr (kernel, launch site, block and
// the fault) and leaves the sticky cudaErrorLaunchFailure.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "block_runner.hpp"
#include "emu_launch.hpp"
#include "runtime_state.hpp"

namespace emu {
namespace {

// A fixed set of OS threads that, with the caller, run the indices of one job.
class WorkerPool {
 public:
  explicit WorkerPool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { serve(); });
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Calls work(i) for every i in [0, count) on the pool and the calling thread.
  void run(std::uint64_t count, const std::function<void(std::uint64_t)>& work) {
    std::unique_lock<std::mutex> lock(mutex_);
    work_ = &work;
    count_ = count;
    next_ = 0;
    busy_ = int(workers_.size());
    ++generation_;
    lock.unlock();
    wake_.notify_all();
    drain(work);
    lock.lock();
    done_.wait(lock, [this] { return busy_ == 0; });
    work_ = nullptr;
  }

 private:
  void drain(const std::function<void(std::uint64_t)>& work) {
    for (std::uint64_t i; (i = next_.fetch_add(1)) < count_;) work(i);
  }
  void serve() {
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      const auto* work = work_;
      lock.unlock();
      drain(*work);
      lock.lock();
      if (--busy_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(std::uint64_t)>* work_ = nullptr;
  std::uint64_t count_ = 0, generation_ = 0;
  std::atomic<std::uint64_t> next_{0};
  int busy_ = 0;
  bool stop_ = false;
};

int os_threads() {
  const char* v = std::getenv("DFWBENCH_EMU_THREADS");
  const int n = v ? std::atoi(v) : int(std::thread::hardware_concurrency());
  return n < 1 ? 1 : n;
}

WorkerPool& pool() {
  static WorkerPool p(os_threads());
  return p;
}

bool valid_config(const LaunchConfig& c) {
  const dim3 b = c.block, g = c.grid;
  if (b.x == 0 || b.y == 0 || b.z == 0 || g.x == 0 || g.y == 0 || g.z == 0) return false;
  if (b.x > 1024 || b.y > 1024 || b.z > 64 || std::uint64_t(b.x) * b.y * b.z > std::uint64_t(kMaxThreadsPerBlock))
    return false;
  return g.x <= 2147483647u && g.y <= 65535 && g.z <= 65535;
}

}  // namespace

void run_grid(const GridJob& job, const LaunchConfig& cfg) {
  if (cudaError_t e = sticky_error()) {
    record(e);
    return;
  }
  if (!valid_config(cfg)) {
    record(cudaErrorInvalidConfiguration);
    return;
  }
  if (cfg.shared > max_dynamic_shared(job.func) || !is_stream(cfg.stream)) {
    record(cfg.shared > max_dynamic_shared(job.func) ? cudaErrorInvalidValue : cudaErrorInvalidResourceHandle);
    return;
  }
  static std::mutex launch_mutex;  // one grid at a time: the pool serves one job
  std::lock_guard<std::mutex> launch_lock(launch_mutex);
  const BlockJob bj{job.body, job.args, cfg.grid, cfg.block, cfg.shared, Schedule::from_env()};
  const std::uint64_t gx = cfg.grid.x, gy = cfg.grid.y, blocks = gx * gy * cfg.grid.z;
  std::mutex fault_mutex;
  std::string fault;
  uint3 fault_block{};
  std::atomic<bool> failed{false};
  pool().run(blocks, [&](std::uint64_t i) {
    if (failed.load(std::memory_order_relaxed)) return;
    const uint3 idx{unsigned(i % gx), unsigned(i / gx % gy), unsigned(i / (gx * gy))};
    std::string f = this_runner().run(bj, idx, i);
    if (f.empty()) return;
    std::lock_guard<std::mutex> lock(fault_mutex);
    if (!failed.exchange(true)) {
      fault = std::move(f);
      fault_block = idx;
    }
  });
  if (failed)
    set_sticky(cudaErrorLaunchFailure, "kernel fault in " + std::string(job.name) + " launched at " + job.file + ":" +
                                           std::to_string(job.line) + ", block (" + std::to_string(fault_block.x) +
                                           "," + std::to_string(fault_block.y) + "," +
                                           std::to_string(fault_block.z) + "): " + fault);
}

}  // namespace emu
