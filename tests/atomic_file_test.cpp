// AtomicFileSet and require_writable_directory (harness/atomic_file.hpp): a set of
// files is replaced all or none (commit removes the previous set's files that
// have no new contents and renames every staged file; destroyed
// without commit, or after a failed write, no target changes and no temporary
// file is left), and an output directory is created and proved writable, or
// refused with the system's reason, before any work.
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "temp_dir.hpp"

#include "atomic_file.hpp"

namespace dfw {
namespace {

namespace fs = std::filesystem;

using test::listing;
using test::read_file;
using test::TempDir;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string tmp_name(const std::string& path) { return path + ".tmp." + std::to_string(getpid()); }

TEST(AtomicFileSet, CommitReplacesEveryFileOnlyThen) {
  TempDir dir;
  std::ofstream(dir / "b.npy") << "old b";
  {
    AtomicFileSet files;
    files.stage(dir / "a.npy", "new a");
    files.stage(dir / "b.npy", "new b");
    // Staged, not yet in place: the targets are as before, the data is in temporaries.
    EXPECT_FALSE(fs::exists(dir / "a.npy"));
    EXPECT_EQ(read_file(dir / "b.npy"), "old b");
    EXPECT_EQ(read_file(tmp_name(dir / "a.npy")), "new a");
    EXPECT_EQ(read_file(tmp_name(dir / "b.npy")), "new b");
    files.commit();
  }
  EXPECT_EQ(read_file(dir / "a.npy"), "new a");
  EXPECT_EQ(read_file(dir / "b.npy"), "new b");
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"a.npy", "b.npy"})) << "temporary file left behind";
}

TEST(AtomicFileSet, DestroyedWithoutCommitLeavesNoTemporaryAndNoTarget) {
  TempDir dir;
  std::ofstream(dir / "old.npy") << "old";
  {
    AtomicFileSet files;
    files.stage(dir / "new.npy", "data");
    files.stage(dir / "old.npy", "replacement");
    EXPECT_EQ(listing(dir.path()).size(), 3u);  // old.npy and two temporaries
  }
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"old.npy"});
  EXPECT_EQ(read_file(dir / "old.npy"), "old");
}

TEST(AtomicFileSet, FailedWriteLeavesEveryTargetAsItWas) {
  TempDir dir;
  std::ofstream(dir / "y.npy") << "old y";
  std::ofstream(dir / "state.npy") << "old state";
  // state.npy's temporary points at /dev/full: its write fails with ENOSPC, as on a full disk.
  ASSERT_EQ(symlink("/dev/full", tmp_name(dir / "state.npy").c_str()), 0);
  std::string error;
  {
    AtomicFileSet files;
    files.stage(dir / "y.npy", "new y");
    try {
      files.stage(dir / "state.npy", std::string(1 << 16, 'x'));
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
  }
  EXPECT_TRUE(contains(error, (dir / "state.npy") + ": write failed: No space left on device")) << error;
  EXPECT_EQ(read_file(dir / "y.npy"), "old y") << "y.npy replaced although the set failed";
  EXPECT_EQ(read_file(dir / "state.npy"), "old state");
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"state.npy", "y.npy"})) << "temporary file left behind";
}

TEST(AtomicFileSet, FailedRenameRemovesTheTemporariesNotYetRenamed) {
  TempDir dir;
  fs::create_directory(dir / "taken");  // a directory where a file should go: rename fails
  std::ofstream(dir / "after") << "old";
  AtomicFileSet files;
  files.stage(dir / "taken", "x");
  files.stage(dir / "after", "new");
  try {
    files.commit();
    ADD_FAILURE() << "a rename over a directory succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), (dir / "taken") + ": rename failed: Is a directory")) << e.what();
  }
  EXPECT_EQ(read_file(dir / "after"), "old") << "a file staged after the failed one was renamed";
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"after", "taken"}));
}

TEST(AtomicFileSet, AFileOfThePreviousSetIsRemovedOnCommitOnly) {
  TempDir dir;
  std::ofstream(dir / "y.npy") << "old y";
  std::ofstream(dir / "state.npy") << "old state";
  {
    AtomicFileSet files;  // not committed: the old set stays whole
    files.stage(dir / "y.npy", "new y");
    files.remove_on_commit(dir / "state.npy");
  }
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"state.npy", "y.npy"}));
  EXPECT_EQ(read_file(dir / "y.npy"), "old y");
  AtomicFileSet files;
  files.stage(dir / "y.npy", "new y");
  files.remove_on_commit(dir / "state.npy");
  files.remove_on_commit(dir / "z.npy");  // absent: nothing to remove, no error
  files.commit();
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"y.npy"});
  EXPECT_EQ(read_file(dir / "y.npy"), "new y");
}

TEST(AtomicFileSet, AFailedRemovalReplacesNothing) {
  TempDir dir;
  std::ofstream(dir / "y.npy") << "old y";
  fs::create_directory(dir / "state.npy");  // unlink() of a directory fails (EISDIR)
  AtomicFileSet files;
  files.stage(dir / "y.npy", "new y");
  files.remove_on_commit(dir / "state.npy");
  try {
    files.commit();
    ADD_FAILURE() << "a directory was removed as a previous output";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), (dir / "state.npy") + ": cannot remove the previous output")) << e.what();
  }
  EXPECT_EQ(read_file(dir / "y.npy"), "old y");
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"state.npy", "y.npy"})) << "temporary file left behind";
}

TEST(AtomicFileSet, APathStagedTwiceIsRefused) {
  TempDir dir;
  AtomicFileSet files;
  files.stage(dir / "y.npy", "one");
  EXPECT_THROW(files.stage(dir / "y.npy", "two"), std::invalid_argument);
}

TEST(WritableDirectory, MissingDirectoriesAreCreatedAndLeftEmpty) {
  TempDir dir;
  require_writable_directory(dir / "results/nested");
  EXPECT_TRUE(fs::is_directory(dir / "results/nested"));
  EXPECT_TRUE(listing(dir / "results/nested").empty()) << "the probe file was left behind";
  require_writable_directory(dir / "results/nested");  // an existing writable directory passes
  EXPECT_TRUE(listing(dir / "results/nested").empty());
}

TEST(WritableDirectory, APathThroughARegularFileIsRefusedWithTheReason) {
  TempDir dir;
  std::ofstream(dir / "plain_file") << "x";
  try {
    require_writable_directory(dir / "plain_file/sub");
    ADD_FAILURE() << "accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), "cannot create directory " + (dir / "plain_file/sub") + ": Not a directory"))
        << e.what();
  }
  try {
    require_writable_directory(dir / "plain_file");
    ADD_FAILURE() << "accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), (dir / "plain_file") + ": cannot create a file in it: Not a directory"))
        << e.what();
  }
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"plain_file"});
  EXPECT_EQ(read_file(dir / "plain_file"), "x");
}

// What require_writable_directory(path) throws ("" when nothing), asked from a
// child process that runs as nobody when this one is root (root writes into a
// read-only directory).
std::string writable_error_unprivileged(const std::string& path) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string error;
    if (geteuid() == 0 && (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
      error = "could not drop root";
    } else {
      try {
        require_writable_directory(path);
      } catch (const std::runtime_error& e) {
        error = e.what();
      }
    }
    if (write(fds[1], error.data(), error.size()) < 0) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, std::size_t(n));
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  return out;
}

TEST(WritableDirectory, AReadOnlyDirectoryIsRefused) {
  TempDir dir;
  fs::create_directory(dir / "ro");
  const auto read_exec = fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                         fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec;
  fs::permissions(dir.path(), read_exec | fs::perms::owner_write);  // nobody may look in
  fs::permissions(dir / "ro", read_exec);
  const std::string error = writable_error_unprivileged(dir / "ro");
  fs::permissions(dir / "ro", fs::perms::owner_all);
  EXPECT_TRUE(contains(error, (dir / "ro") + ": cannot create a file in it: Permission denied")) << error;
  EXPECT_TRUE(listing(dir / "ro").empty());
}

}  // namespace
}  // namespace dfw
