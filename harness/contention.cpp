// Run delay from /proc/self/task/*/schedstat, preemptions from getrusage (contention.hpp).
#include "contention.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace dfw {
namespace {

long involuntary_switches() {
  rusage u{};
  return getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_nivcsw : 0;
}

}  // namespace

std::optional<double> process_run_delay_s() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator tasks("/proc/self/task", ec);
  if (ec) return std::nullopt;
  double total_ns = 0;
  bool any = false;
  for (const fs::directory_entry& task : tasks) {
    // "cpu time (ns) run delay (ns) timeslices"; a thread that exited meanwhile is skipped
    std::ifstream in(task.path() / "schedstat");
    unsigned long long on_cpu = 0, waiting = 0;
    if (in >> on_cpu >> waiting) {
      total_ns += double(waiting);
      any = true;
    }
  }
  if (!any) return std::nullopt;
  return total_ns / 1e9;
}

ContentionWindow::ContentionWindow()
    : start_(std::chrono::steady_clock::now()),
      delay_start_(process_run_delay_s()),
      preemptions_start_(involuntary_switches()) {}

std::optional<Contention> ContentionWindow::measure(int threads) const {
  const std::optional<double> now = process_run_delay_s();
  const long preemptions = involuntary_switches() - preemptions_start_;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (!now || !delay_start_ || wall <= 0) return std::nullopt;
  Contention c;
  c.run_delay = std::max(0.0, *now - *delay_start_) / (double(std::max(threads, 1)) * wall);
  c.preemptions_per_s = double(std::max(0L, preemptions)) / wall;
  return c;
}

}  // namespace dfw
