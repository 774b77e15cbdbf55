// Crash-safe file replacement: write PATH.tmp.<pid>, fsync, rename over PATH.
// A reader sees the old complete file or the new complete file, never a torn one.
// AtomicFileSet does the same for several files that belong together, and
// require_writable_directory checks an output directory before any work.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace dfw {

// Throws std::runtime_error with the path and the system's reason (e.g. an
// unwritable directory or a full disk); the temporary file is removed then.
void write_file_atomically(const std::string& path, const std::string& contents);

// Files replaced all or none, as far as POSIX allows: stage() writes each to its
// temporary name, commit() renames them into place only once every one was
// written. Destroyed without commit() (a failed stage() on the way), it removes
// the temporaries and no target is touched. POSIX has no multi-file rename, so
// only a rename failing inside commit() (or a crash there) can leave the set mixed.
class AtomicFileSet {
 public:
  AtomicFileSet() = default;
  ~AtomicFileSet();
  AtomicFileSet(const AtomicFileSet&) = delete;
  AtomicFileSet& operator=(const AtomicFileSet&) = delete;

  // Writes contents to PATH.tmp.<pid> and fsyncs it. Throws std::runtime_error as
  // write_file_atomically does; std::invalid_argument for a path staged twice.
  void stage(const std::string& path, const std::string& contents);
  // PATH belongs to the set but has no new contents: commit() removes it (when it
  // exists), so a previous set's file is never left beside the new ones.
  void remove_on_commit(const std::string& path);
  // Removes the paths given to remove_on_commit(), then renames every staged file
  // over its path, in staging order; a crash in between leaves part of the old
  // set, never an old file beside new ones. On a failed removal or rename it
  // removes the temporaries not yet renamed and throws std::runtime_error.
  void commit();

 private:
  std::vector<std::pair<std::string, std::string>> pending_;  // (temporary, path)
  std::vector<std::string> removals_;
};

// Creates DIR and its missing parents (mode 0755). Throws std::runtime_error
// naming the one that could not be made and the system's reason.
void make_directories(const std::string& dir);

// Creates DIR (and its parents) when missing and proves it writable by creating
// and removing a probe file in it. Throws std::runtime_error naming the directory
// and the system's reason.
void require_writable_directory(const std::string& dir);

}  // namespace dfw
