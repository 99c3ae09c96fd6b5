#include "connectors/internal/posix_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/string_view_compat.h"

namespace sluice::connectors::internal {

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.release();
  }
  return *this;
}

FileDescriptor::~FileDescriptor() { Close(); }

void FileDescriptor::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string ResolvePath(std::string_view path, std::string_view base_dir) {
  std::filesystem::path given(path);
  if (given.is_absolute() || base_dir.empty()) return given.lexically_normal().string();
  return (std::filesystem::path(base_dir) / given).lexically_normal().string();
}

absl::Status ErrnoError(int error_number, std::string_view what, std::string_view path,
                        absl::StatusCode code) {
  return absl::Status(code,
                      absl::StrCat(Av(what), " ", Av(path), ": ", std::strerror(error_number)));
}

absl::Status ErrnoError(int error_number, std::string_view what, std::string_view path) {
  return ErrnoError(error_number, what, path, absl::ErrnoToStatusCode(error_number));
}

absl::StatusOr<FileDescriptor> OpenForRead(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoError(errno, "open", path);
  struct stat info {};
  if (::fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("open ", path, ": is a directory"));
  }
  return FileDescriptor(fd);
}

absl::StatusOr<FileDescriptor> OpenForAppend(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) return ErrnoError(error.value(), "create directory", parent.string());
  }
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoError(errno, "open", path);
  return FileDescriptor(fd);
}

absl::Status WriteAll(int fd, std::string_view bytes, std::string_view path) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write", path, absl::StatusCode::kUnavailable);
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

absl::Status SyncData(int fd, std::string_view path) {
  int result;
  do {
    result = ::fdatasync(fd);
  } while (result != 0 && errno == EINTR);
  if (result != 0) {
    // Pipes and terminals cannot be synced; nothing is lost by skipping them.
    if (errno == EINVAL || errno == EROFS) return absl::OkStatus();
    return ErrnoError(errno, "fdatasync", path, absl::StatusCode::kUnavailable);
  }
  return absl::OkStatus();
}

absl::Status Truncate(int fd, uint64_t size, std::string_view path) {
  int result;
  do {
    result = ::ftruncate(fd, static_cast<off_t>(size));
  } while (result != 0 && errno == EINTR);
  if (result != 0) return ErrnoError(errno, "truncate", path, absl::StatusCode::kUnavailable);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FileSize(int fd, std::string_view path) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) return ErrnoError(errno, "stat", path);
  return static_cast<uint64_t>(info.st_size);
}

}  // namespace sluice::connectors::internal
