// Runs the built dfwbench binary (DFW_BINARY) or any /bin/sh command line as a
// child process and captures what it printed and how it exited.
#pragma once

#include <sys/wait.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "results_row.hpp"

namespace dfw::test {

struct ChildRun {
  int exit_code;       // -1 when the child did not exit normally (a crash)
  std::string output;  // stdout and stderr together when the command line says 2>&1
};

inline ChildRun shell(const std::string& cmd) {
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + cmd);
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// `dfwbench ARGS`, stdout and stderr together.
inline ChildRun dfwbench(const std::string& args) { return shell(std::string(DFW_BINARY) + " " + args + " 2>&1"); }

// `dfwbench ARGS` with stdout and stderr written to `log`; its exit code.
inline int dfwbench_logged(const std::string& args, const std::string& log) {
  return shell(std::string(DFW_BINARY) + " " + args + " > " + log + " 2>&1").exit_code;
}

// The rows of a results CSV written by `dfwbench bench`.
inline std::vector<ResultRow> result_rows(const std::string& path) {
  std::vector<ResultRow> rows;
  std::ifstream in(path);
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n)
    if (n > 1) rows.push_back(parse_result_row(line, n));
  return rows;
}

}  // namespace dfw::test
