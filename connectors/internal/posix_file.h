// File: connectors/internal/posix_file.h
//
// The few POSIX file operations the file and stdout connectors share: an
// owned descriptor, writes that finish or fail as a whole, fdatasync, and
// resolving a config path against the config file's directory. Errors are
// absl::Status values naming the path and the system's reason.
//
// Thread-compatible: a FileDescriptor has one owner; the functions keep no
// state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sluice::connectors::internal {

// Owns one open file descriptor and closes it on destruction.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Close();

 private:
  int fd_ = -1;
};

// `path` as given if absolute (or if `base_dir` is empty), else joined to
// `base_dir` (the config file's directory).
std::string ResolvePath(std::string_view path, std::string_view base_dir);

// Opens `path` for reading. Errors: kNotFound for a missing file,
// kPermissionDenied, others as errno says; the message names the path.
absl::StatusOr<FileDescriptor> OpenForRead(const std::string& path);

// Opens `path` for appending, creating it (and its missing parent
// directories) if needed. Errors name the path.
absl::StatusOr<FileDescriptor> OpenForAppend(const std::string& path);

// Writes all of `bytes` at the descriptor's position (retrying short writes
// and EINTR). On error, some prefix may have been written; the status is
// kUnavailable (the caller fails the events it held, to be retried) and
// names `path`.
absl::Status WriteAll(int fd, std::string_view bytes, std::string_view path);

// fdatasync(2), as a status naming `path` (kUnavailable on error).
absl::Status SyncData(int fd, std::string_view path);

// Cuts the file back to `size` bytes: undoes the prefix a failed write left,
// so that a retry does not leave half a line behind. Best effort.
absl::Status Truncate(int fd, uint64_t size, std::string_view path);

// The file's current size.
absl::StatusOr<uint64_t> FileSize(int fd, std::string_view path);

// "<what> <path>: <strerror(error_number)>" with the code errno implies,
// or `code` when given.
absl::Status ErrnoError(int error_number, std::string_view what, std::string_view path);
absl::Status ErrnoError(int error_number, std::string_view what, std::string_view path,
                        absl::StatusCode code);

}  // namespace sluice::connectors::internal
