// The block scheduler, barriers, warp collectives and their fault reports (see
// block_runner.hpp), and the device-side entry points of emu_device.hpp.
#include "block_runner.hpp"

#include <array>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <tuple>

#if defined(DFW_EMU_TSAN)
#include <sanitizer/tsan_interface.h>
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "runtime_state.hpp"

namespace emu {

__thread const ThreadState* g_current = nullptr;

namespace {

__thread BlockRunner* g_runner = nullptr;

// Happens-before among the participants of a barrier or collective only (ThreadSanitizer).
inline void hb_release(const void* p) {
#if defined(DFW_EMU_TSAN)
  __tsan_release(const_cast<void*>(p));
#else
  (void)p;
#endif
}
inline void hb_acquire(const void* p) {
#if defined(DFW_EMU_TSAN)
  __tsan_acquire(const_cast<void*>(p));
#else
  (void)p;
#endif
}

std::string hex(unsigned x) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", x);
  return buf;
}

std::string at(const char* file, int line) { return std::string(file) + ":" + std::to_string(line); }

bool same_place(const char* what_a, const char* file_a, int line_a, const char* what_b, const char* file_b,
                int line_b) {
  return line_a == line_b && (file_a == file_b || std::strcmp(file_a, file_b) == 0) &&
         (what_a == what_b || std::strcmp(what_a, what_b) == 0);
}

// Compared in a loop: ThreadSanitizer intercepts strcmp, at a range check per call.
bool is_syncwarp(const char* what) {
  const char* want = "__syncwarp";
  while (*what && *what == *want) ++what, ++want;
  return *what == *want;
}

constexpr int kMaxPendingPerWarp = 4;  // concurrent collectives of disjoint lane masks in one warp

// DFWBENCH_EMU_DROP_BARRIER=FILE:LINE turns the __syncthreads / __syncwarp at that line
// of a file whose path ends in FILE into a no-op: how scripts/barrier_mutation.py
// removes one barrier at a time without rebuilding.
struct DroppedBarrier {
  std::string file;
  int line = -1;
};
const DroppedBarrier g_dropped = [] {
    DroppedBarrier r;
    const char* v = std::getenv("DFWBENCH_EMU_DROP_BARRIER");
    if (!v) return r;
    const std::string s(v);
    const std::size_t colon = s.rfind(':');
    if (colon == std::string::npos) return r;
    r.file = s.substr(0, colon);
    r.line = std::atoi(s.c_str() + colon + 1);
    return r;
}();
inline bool dropped(const char* what, const char* file, int line) {
  const DroppedBarrier& d = g_dropped;
  if (line != d.line || (std::strcmp(what, "__syncthreads") != 0 && std::strcmp(what, "__syncwarp") != 0)) return false;
  const std::size_t n = std::strlen(file);
  return n >= d.file.size() && d.file.compare(0, std::string::npos, file + n - d.file.size()) == 0;
}

std::size_t fiber_stack_bytes() {
  static const std::size_t bytes = [] {
    const char* v = std::getenv("DFWBENCH_EMU_STACK_KB");
    return std::size_t(v ? std::atol(v) : 256) << 10;
  }();
  return bytes;
}

}  // namespace

struct BlockRunner::Thread {
  ThreadState st;
  Context ctx;
  BlockRunner* owner = nullptr;
  enum State : std::uint8_t { ready, running, blocked, exited } state = ready;
  const char* what = nullptr;  // where it last arrived at a barrier or collective
  const char* file = nullptr;
  int line = 0;
  unsigned mask = 0;  // the collective's mask (0: the block barrier)
  int result = 0;     // a barrier's predicate count
  AsyncCopies copies;  // cp.async in flight
};

struct BlockRunner::Pending {
  unsigned mask = 0, arrived = 0;  // mask 0: a free slot
  const char* what = nullptr;
  const char* file = nullptr;
  int line = 0;
  CollectiveFn complete = nullptr;
  void* args[32] = {};
};

struct BlockRunner::Sync {
  int arrived = 0, count = 0;  // the block barrier
  const char *what = nullptr, *file = nullptr;
  int line = 0;
  std::vector<std::array<Pending, kMaxPendingPerWarp>> pending;  // per warp
  std::vector<unsigned> exited;                                  // exited lanes per warp
  char setup = 0, done = 0;  // ThreadSanitizer: block start and end
};

BlockRunner::BlockRunner() {
  adopt_current_thread(main_);
  shared_ = static_cast<unsigned char*>(std::aligned_alloc(1024, kSharedCapacity));
  if (!shared_) throw std::bad_alloc();
}

BlockRunner::~BlockRunner() {
  for (Thread& t : threads_) destroy_context(t.ctx);
  std::free(shared_);
}

BlockRunner& this_runner() {
  thread_local BlockRunner runner;
  return runner;
}

void BlockRunner::ensure_threads(int n) {
  while (int(stacks_.size()) < n) stacks_.push_back(std::make_unique<FiberStack>(fiber_stack_bytes()));
  if (int(threads_.size()) < n) threads_.resize(n);
  for (Thread& t : threads_) t.owner = this;
}

AsyncCopies& BlockRunner::current_copies() { return threads_[current_].copies; }

bool BlockRunner::holds_shared(const void* p, std::size_t bytes) const {
  const auto at = reinterpret_cast<std::uintptr_t>(p), base = reinterpret_cast<std::uintptr_t>(shared_);
  return at >= base && at - base <= job_->shared_bytes && bytes <= job_->shared_bytes - (at - base);
}

std::string BlockRunner::run(const BlockJob& job, uint3 block_idx, std::uint64_t linear_block) {
  job_ = &job;
  n_ = int(job.block.x * job.block.y * job.block.z);
  ensure_threads(n_);
  const int warps = (n_ + 31) / 32;
  sync_ = std::make_unique<Sync>();
  sync_->pending.resize(warps);
  sync_->exited.assign(warps, 0);
#if defined(__SANITIZE_ADDRESS__)  // bytes past this launch's size are out of bounds
  __asan_unpoison_memory_region(shared_, job.shared_bytes);
  __asan_poison_memory_region(shared_ + job.shared_bytes, kSharedCapacity - job.shared_bytes);
#endif
  std::memset(shared_, 0xff, job.shared_bytes);  // NaN in fp32, fp16 and bf16
  ready_.reset(n_, job.schedule, linear_block);
  for (int i = 0; i < n_; ++i) {
    Thread& t = threads_[i];
    t.st.thread_idx = uint3{unsigned(i) % job.block.x, unsigned(i) / job.block.x % job.block.y,
                            unsigned(i) / (job.block.x * job.block.y)};
    t.st.block_idx = block_idx;
    t.st.block_dim = job.block;
    t.st.grid_dim = job.grid;
    t.st.lane = unsigned(i) % 32;
    t.st.warp = unsigned(i) / 32;
    t.state = Thread::ready;
    t.what = t.file = nullptr;
    t.copies = AsyncCopies{};
    prepare_context(t.ctx, *stacks_[i], &BlockRunner::thread_main, &t);
    ready_.set(i);
  }
  fault_.clear();
  exited_ = 0;
  g_runner = this;
  hb_release(&sync_->setup);  // every thread acquires it first: the block's setup, nothing else
  // Threads switch to one another directly (switch_away); control is back here when
  // no thread is ready (the end, or a deadlock) or after a fault.
  for (;;) {
    const int i = ready_.take();
    if (i < 0) {
      if (exited_ < n_) fault_ = deadlock_report();
      break;
    }
    enter(i);
    switch_context(main_, threads_[i].ctx, false);
    if (!fault_.empty()) break;
  }
  hb_acquire(&sync_->done);
  current_ = -1;
  g_current = nullptr;
  g_runner = nullptr;
  return fault_;
}

void BlockRunner::enter(int i) {
  Thread& t = threads_[i];
  current_ = i;
  t.state = Thread::running;
  g_current = &t.st;
}

void BlockRunner::switch_away(bool final) {
  Thread& from = threads_[current_];
  const int next = ready_.take();
  if (next == current_) {  // it yielded and is the schedule's choice again
    enter(next);
    return;
  }
  if (next < 0) {
    switch_context(from.ctx, main_, false, final);
    return;
  }
  enter(next);
  switch_context(from.ctx, threads_[next].ctx, false, final);
}

// Thrown by fault(): unwinds the faulting thread's frames (their locals are freed)
// up to thread_main, which then leaves the block.
struct FiberAbort {};

void BlockRunner::thread_main(void* arg) {
  Thread& t = *static_cast<Thread*>(arg);
  BlockRunner& r = *t.owner;
  fiber_started(r.main_);
  hb_acquire(&r.sync_->setup);
  bool faulted = false;
  try {
    r.job_->body(r.job_->args);
    r.exit_thread();
  } catch (const FiberAbort&) {
    faulted = true;
  }
  if (faulted) {
    t.state = Thread::exited;
    switch_context(t.ctx, r.main_, false, true);  // run() sees the fault and ends the block
  } else {
    hb_release(&r.sync_->done);
    r.switch_away(true);
  }
  __builtin_unreachable();
}

void BlockRunner::exit_thread() {
  Thread& t = threads_[current_];
  const unsigned lane = t.st.lane, w = t.st.warp;
  t.state = Thread::exited;
  t.what = nullptr;
  const std::size_t in_flight = t.copies.groups.size() + !t.copies.open.empty();
  if (in_flight > 0)
    fault(where(current_) + " exited with " + std::to_string(in_flight) +
          " cp.async group(s) it never waited for (cp.async.wait_group)");
  ++exited_;
  sync_->exited[w] |= 1u << lane;
  if (sync_->arrived > 0) {
    std::vector<int> waiting;
    for (int j = 0; j < n_; ++j)
      if (threads_[j].state == Thread::blocked && threads_[j].mask == 0) waiting.push_back(j);
    fault(where(current_) + " exited while " + describe(waiting) + " wait at " + sync_->what + " (" +
          at(sync_->file, sync_->line) + "): it never arrives");
  }
  for (const Pending& p : sync_->pending[w])
    if (p.mask & (1u << lane))
      fault(where(current_) + " exited while lanes of mask " + hex(p.mask) + " wait for it at " + p.what + " (" +
            at(p.file, p.line) + ")");
}

void BlockRunner::fault(const std::string& message) {
  if (fault_.empty()) fault_ = message.empty() ? "kernel fault" : message;
  throw FiberAbort{};
}

void BlockRunner::block_current(const char* what, const char* file, int line, unsigned mask) {
  Thread& t = threads_[current_];
  t.state = Thread::blocked;
  t.what = what;
  t.file = file;
  t.line = line;
  t.mask = mask;
  switch_away(false);
}

void BlockRunner::wake(int i) {
  threads_[i].state = Thread::ready;
  ready_.set(i);
}

int BlockRunner::barrier(const char* what, int predicate, const char* file, int line) {
  if (dropped(what, file, line)) return 0;
  Thread& t = threads_[current_];
  Sync& s = *sync_;
  t.what = what;
  t.file = file;
  t.line = line;
  t.mask = 0;
  if (exited_ > 0) {
    std::vector<int> gone;
    for (int j = 0; j < n_; ++j)
      if (threads_[j].state == Thread::exited) gone.push_back(j);
    fault(where(current_) + " reached " + what + " (" + at(file, line) + ") after " + describe(gone) +
          " exited: they never arrive");
  }
  if (s.arrived == 0) {
    s.what = what;
    s.file = file;
    s.line = line;
    s.count = 0;
  } else if (!same_place(what, file, line, s.what, s.file, s.line)) {
    std::vector<int> waiting;
    for (int j = 0; j < n_; ++j)
      if (threads_[j].state == Thread::blocked && threads_[j].mask == 0) waiting.push_back(j);
    fault("divergent barrier: " + where(current_) + " reached " + what + " (" + at(file, line) + ") while " +
          describe(waiting) + " wait at " + s.what + " (" + at(s.file, s.line) + ")");
  }
  ++s.arrived;
  s.count += predicate != 0;
  hb_release(&s.arrived);
  if (s.arrived == n_) {
    s.arrived = 0;
    for (int j = 0; j < n_; ++j) {
      threads_[j].result = s.count;
      if (j != current_) wake(j);
    }
    t.state = Thread::ready;
    ready_.set(current_);
    switch_away(false);
  } else {
    block_current(what, file, line, 0);
  }
  hb_acquire(&s.arrived);
  return t.result;
}

void BlockRunner::collective(const char* what, unsigned mask, void* arg, CollectiveFn complete, const char* file,
                             int line) {
  if (dropped(what, file, line)) return;
  Thread& t = threads_[current_];
  const unsigned lane = t.st.lane, w = t.st.warp, bit = 1u << lane;
  t.what = what;
  t.file = file;
  t.line = line;
  t.mask = mask;
  if (!(mask & bit)) fault(where(current_) + " calls " + what + " (" + at(file, line) + ") with mask " + hex(mask) +
                           ", which does not include it");
  const int lanes_here = n_ - int(w) * 32 < 32 ? n_ - int(w) * 32 : 32;
  const unsigned present = (lanes_here == 32 ? ~0u : (1u << lanes_here) - 1) & ~sync_->exited[w];
  if (mask & ~present) {
    std::vector<int> gone;
    for (int l = 0; l < 32; ++l)
      if ((mask & ~present) >> l & 1) gone.push_back(int(w) * 32 + l);
    fault(where(current_) + " calls " + what + " (" + at(file, line) + ") with mask " + hex(mask) + ", but " +
          (gone.front() >= n_ ? std::string("lanes past the block's last thread") : describe(gone) + " exited") +
          ": they never arrive");
  }
  Pending* p = nullptr;
  for (Pending& q : sync_->pending[w])
    if (q.mask & mask) p = &q;
  if (p) {
    if (p->mask != mask || !same_place(what, file, line, p->what, p->file, p->line)) {
      std::vector<int> waiting;
      for (int l = 0; l < 32; ++l)
        if (p->arrived >> l & 1) waiting.push_back(int(w) * 32 + l);
      fault("divergent warp: " + where(current_) + " reached " + what + " with mask " + hex(mask) + " (" +
            at(file, line) + ") while " + describe(waiting) + " wait at " + p->what + " with mask " + hex(p->mask) +
            " (" + at(p->file, p->line) + ")");
    }
  } else {
    for (Pending& q : sync_->pending[w])
      if (q.mask == 0) {
        p = &q;
        break;
      }
    if (!p) fault(std::string(what) + " (" + at(file, line) + "): more than 4 concurrent collectives in one warp");
    *p = Pending{};
    p->mask = mask;
    p->what = what;
    p->file = file;
    p->line = line;
    p->complete = complete;
  }
  p->args[lane] = arg;
  p->arrived |= bit;
  // Of the warp collectives only __syncwarp orders memory among its lanes, as on the
  // device; shuffles, votes and wmma exchange registers, which complete() moves out of
  // ThreadSanitizer's sight (uninstrumented), so they add no ordering (and no cost of
  // one: a vector-clock release and acquire per lane was most of a TSan run's time).
  const bool orders_memory = is_syncwarp(what);
  if (orders_memory) hb_release(p);
  if (p->arrived == p->mask) {
    if (orders_memory) hb_acquire(p);
    p->complete(p->args, p->mask);
    if (orders_memory) hb_release(p);
    const unsigned m = p->mask;
    p->mask = p->arrived = 0;
    for (int l = 0; l < 32; ++l)
      if ((m >> l & 1) && l != int(lane)) wake(int(w) * 32 + l);
    t.state = Thread::ready;
    ready_.set(current_);
    switch_away(false);
  } else {
    block_current(what, file, line, mask);
  }
  if (orders_memory) hb_acquire(p);
}

std::string BlockRunner::where(int i) const {
  return "thread " + std::to_string(i) + " (warp " + std::to_string(i / 32) + ", lane " + std::to_string(i % 32) + ")";
}

std::string BlockRunner::describe(const std::vector<int>& ids) const {
  if (ids.empty()) return "no threads";
  std::string out = ids.size() == 1 ? "thread " : "threads ";
  for (std::size_t a = 0; a < ids.size();) {
    std::size_t b = a;
    while (b + 1 < ids.size() && ids[b + 1] == ids[b] + 1) ++b;
    if (a > 0) out += ",";
    out += std::to_string(ids[a]);
    if (b > a) out += "-" + std::to_string(ids[b]);
    a = b + 1;
  }
  return out;
}

std::string BlockRunner::deadlock_report() const {
  std::map<std::tuple<std::string, std::string, int, unsigned>, std::vector<int>> groups;
  std::vector<int> gone;
  for (int j = 0; j < n_; ++j) {
    const Thread& t = threads_[j];
    if (t.state == Thread::exited) gone.push_back(j);
    else if (t.state == Thread::blocked) groups[{t.what, t.file, t.line, t.mask}].push_back(j);
  }
  std::string out = "deadlock:";
  for (const auto& [key, ids] : groups) {
    const auto& [what, file, line, mask] = key;
    out += " " + describe(ids) + " wait at " + what + (mask ? " with mask " + hex(mask) : std::string()) + " (" +
           file + ":" + std::to_string(line) + ");";
  }
  if (!gone.empty()) out += " " + describe(gone) + " exited";
  return out;
}

// ---- emu_device.hpp ------------------------------------------------------------------

void warp_collective(const char* what, unsigned mask, void* lane_arg, CollectiveFn complete, const char* file,
                     int line) {
  g_runner->collective(what, mask, lane_arg, complete, file, line);
}

int block_barrier(const char* what, int predicate, const char* file, int line) {
  return g_runner->barrier(what, predicate, file, line);
}

void* dynamic_shared() { return g_runner->shared(); }

AsyncCopies& async_copies() { return g_runner->current_copies(); }

bool in_dynamic_shared(const void* p, std::size_t bytes) { return g_runner->holds_shared(p, bytes); }

void kernel_fault(const std::string& message) {
  if (!g_runner) {
    std::fprintf(stderr, "emulated CUDA device: %s (outside a kernel)\n", message.c_str());
    std::abort();
  }
  g_runner->fault(message);
}

}  // namespace emu
