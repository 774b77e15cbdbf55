// Run delay from /proc/self/task/*/schedstat (run_delay.hpp).
#include "run_delay.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace dfw {

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

RunDelayWindow::RunDelayWindow() : start_(std::chrono::steady_clock::now()), delay_start_(process_run_delay_s()) {}

std::optional<double> RunDelayWindow::fraction(int threads) const {
  const std::optional<double> now = process_run_delay_s();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (!now || !delay_start_ || wall <= 0) return std::nullopt;
  return std::max(0.0, *now - *delay_start_) / (double(std::max(threads, 1)) * wall);
}

}  // namespace dfw
