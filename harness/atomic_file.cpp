#include "atomic_file.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace dfw {

void write_file_atomically(const std::string& path, const std::string& contents) {
  AtomicFileSet file;
  file.stage(path, contents);
  file.commit();
}

AtomicFileSet::~AtomicFileSet() {
  for (const auto& p : pending_) ::unlink(p.first.c_str());
}

void AtomicFileSet::stage(const std::string& path, const std::string& contents) {
  for (const auto& p : pending_)
    if (p.second == path) throw std::invalid_argument(path + ": staged twice in one file set");
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  auto fail = [&](const char* what) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw std::runtime_error(path + ": " + what + ": " + reason);
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const std::string reason = std::strerror(errno);
    throw std::runtime_error(path + ": cannot create " + tmp + ": " + reason);
  }
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      fail("write failed");
    }
    done += std::size_t(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("fsync failed");
  }
  if (::close(fd) != 0) fail("close failed");
  pending_.emplace_back(tmp, path);
}

void AtomicFileSet::remove_on_commit(const std::string& path) { removals_.push_back(path); }

void AtomicFileSet::commit() {
  for (const std::string& path : removals_) {
    if (::unlink(path.c_str()) == 0 || errno == ENOENT) continue;
    const std::string error = path + ": cannot remove the previous output: " + std::strerror(errno);
    for (const auto& p : pending_) ::unlink(p.first.c_str());
    pending_.clear();
    throw std::runtime_error(error);
  }
  removals_.clear();
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    if (std::rename(pending_[i].first.c_str(), pending_[i].second.c_str()) == 0) continue;
    const std::string error = pending_[i].second + ": rename failed: " + std::strerror(errno);
    for (std::size_t j = i; j < pending_.size(); ++j) ::unlink(pending_[j].first.c_str());
    pending_.clear();
    throw std::runtime_error(error);
  }
  pending_.clear();
}

void make_directories(const std::string& dir) {
  std::string path;
  for (std::size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      if (!path.empty() && ::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
        throw std::runtime_error("cannot create directory " + path + ": " + std::strerror(errno));
    }
    if (i < dir.size()) path += dir[i];
  }
}

void require_writable_directory(const std::string& dir) {
  make_directories(dir);
  std::string probe = dir + "/.dfwbench-probe-XXXXXX";
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) throw std::runtime_error(dir + ": cannot create a file in it: " + std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace dfw
