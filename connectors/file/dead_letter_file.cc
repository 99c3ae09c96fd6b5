#include "connectors/file/dead_letter_file.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY  // XXH32_state_t on the stack
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "xxhash.h"

#include "pipeline/config/dead_letter_registry.h"
#include "pipeline/status_macros.h"
#include "pipeline/string_view_compat.h"

namespace sluice::connectors {
namespace {

void PutU32(uint32_t value, std::string& out) {
  char bytes[4];
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  out.append(bytes, 4);
}

void PutU64(uint64_t value, std::string& out) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  out.append(bytes, 8);
}

uint32_t LoadU32(const char* bytes) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  return value;
}

uint64_t LoadU64(const char* bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  return value;
}

void PutBytes(std::string_view bytes, std::string& out) {
  PutU32(static_cast<uint32_t>(bytes.size()), out);
  out.append(bytes.data(), bytes.size());
}

// XXH32 (seed 0) of the frame's 4 length bytes followed by the payload: a
// damaged length fails the check as surely as a damaged payload.
uint32_t FrameChecksum(const char* length_bytes, std::string_view payload) {
  XXH32_state_t state;
  XXH32_reset(&state, 0);
  XXH32_update(&state, length_bytes, 4);
  XXH32_update(&state, payload.data(), payload.size());
  return XXH32_digest(&state);
}

// Reads the payload's fields in order, checking every length against what
// is left.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view payload) : rest_(payload) {}

  bool U8(uint8_t& value) {
    if (rest_.empty()) return false;
    value = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t& value) {
    if (rest_.size() < 4) return false;
    value = LoadU32(rest_.data());
    rest_.remove_prefix(4);
    return true;
  }
  bool I64(int64_t& value) {
    if (rest_.size() < 8) return false;
    value = static_cast<int64_t>(LoadU64(rest_.data()));
    rest_.remove_prefix(8);
    return true;
  }
  bool Bytes(std::string& value) {
    uint32_t size = 0;
    if (!U32(size) || rest_.size() < size) return false;
    value.assign(rest_.data(), size);
    rest_.remove_prefix(size);
    return true;
  }
  bool done() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

std::string FormatFailedAt(absl::Time time) {
  return absl::FormatTime(absl::RFC3339_full, time, absl::UTCTimeZone());
}

template <typename T>
bool ParseInteger(std::string_view text, T& value) {
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, value);
  return error == std::errc() && ptr == end;
}

std::optional<absl::StatusCode> ParseStatusCode(std::string_view name) {
  for (int code = 0; code <= 16; ++code) {
    const auto candidate = static_cast<absl::StatusCode>(code);
    if (absl::StatusCodeToString(candidate) == name) return candidate;
  }
  return std::nullopt;
}

// From the event's W3C traceparent (docs/dead-letter-file-format.md); only
// when it had one.
constexpr std::string_view kDlqTraceIdHeader = "sluice.dlq.trace_id";

}  // namespace

// ---------------------------------------------------------------------------
// Records

DeadLetterRecord MakeDeadLetterRecord(const DeadLetter& letter) {
  DeadLetterRecord record;
  record.key = letter.key;
  record.value = letter.value;
  record.timestamp_us = letter.timestamp_us;
  std::string replay_count = "0";
  record.headers.reserve(letter.headers.size() + 11);
  for (const auto& [name, value] : letter.headers) {
    if (name.starts_with(kDlqHeaderPrefix)) {
      uint32_t count = 0;
      if (name == kDlqReplayCountHeader && ParseInteger(value, count)) replay_count = value;
      continue;
    }
    record.headers.emplace_back(name, value);
  }
  auto add = [&record](std::string_view name, std::string value) {
    record.headers.emplace_back(std::string(name), std::move(value));
  };
  add(kDlqPipelineHeader, letter.pipeline);
  add(kDlqStageHeader, letter.stage);
  add(kDlqErrorHeader, letter.error);
  add(kDlqErrorCodeHeader, absl::StatusCodeToString(letter.code));
  add(kDlqAttemptsHeader, absl::StrCat(letter.attempts));
  add(kDlqFailedAtHeader, FormatFailedAt(letter.failed_at));
  add(kDlqSourceStageHeader, letter.source);
  // A source that names its partitions (Kafka) gives the topic and its own
  // partition number; others have only their source-local partition.
  if (!letter.source_topic.empty()) add(kDlqSourceTopicHeader, letter.source_topic);
  add(kDlqSourcePartitionHeader,
      absl::StrCat(letter.source_topic.empty() ? letter.origin.partition.value()
                                               : letter.source_partition));
  add(kDlqSourceOffsetHeader, absl::StrCat(letter.origin.offset.value()));
  add(kDlqReplayCountHeader, std::move(replay_count));
  if (!letter.trace_id.empty()) add(kDlqTraceIdHeader, letter.trace_id);
  return record;
}

absl::StatusOr<ParsedDeadLetter> ParseDeadLetterRecord(const DeadLetterRecord& record) {
  ParsedDeadLetter parsed;
  DeadLetter& letter = parsed.letter;
  letter.key = record.key;
  letter.value = record.value;
  letter.timestamp_us = record.timestamp_us;
  auto bad = [](std::string_view name, std::string_view value) {
    return absl::DataLossError(
        absl::StrCat("dead-letter header ", Av(name), ": unexpected value \"", Av(value), "\""));
  };
  for (const auto& [name, value] : record.headers) {
    if (!name.starts_with(kDlqHeaderPrefix)) {
      letter.headers.emplace_back(name, value);
    } else if (name == kDlqPipelineHeader) {
      letter.pipeline = value;
    } else if (name == kDlqStageHeader) {
      letter.stage = value;
    } else if (name == kDlqErrorHeader) {
      letter.error = value;
    } else if (name == kDlqErrorCodeHeader) {
      std::optional<absl::StatusCode> code = ParseStatusCode(value);
      if (!code) return bad(name, value);
      letter.code = *code;
    } else if (name == kDlqAttemptsHeader) {
      if (!ParseInteger(value, letter.attempts)) return bad(name, value);
    } else if (name == kDlqFailedAtHeader) {
      std::string error;
      if (!absl::ParseTime(absl::RFC3339_full, value, &letter.failed_at, &error))
        return bad(name, value);
    } else if (name == kDlqSourceStageHeader) {
      letter.source = value;
    } else if (name == kDlqSourceTopicHeader) {
      letter.source_topic = value;
    } else if (name == kDlqSourcePartitionHeader) {
      int32_t partition = 0;
      if (!ParseInteger(value, partition)) return bad(name, value);
      letter.origin.partition = Partition(partition);
      letter.source_partition = partition;
    } else if (name == kDlqSourceOffsetHeader) {
      int64_t offset = 0;
      if (!ParseInteger(value, offset)) return bad(name, value);
      letter.origin.offset = Offset(offset);
    } else if (name == kDlqReplayCountHeader) {
      if (!ParseInteger(value, parsed.replay_count)) return bad(name, value);
    } else if (name == kDlqTraceIdHeader) {
      letter.trace_id = value;
    } else {
      // A metadata header from a newer writer: kept, not lost.
      letter.headers.emplace_back(name, value);
    }
  }
  // The partition header is the source's own number only beside a topic.
  if (letter.source_topic.empty()) letter.source_partition = -1;
  return parsed;
}

absl::Status AppendDeadLetterFrame(const DeadLetterRecord& record, std::string& out) {
  const size_t frame_start = out.size();
  out.append(kDeadLetterFrameMagic.data(), kDeadLetterFrameMagic.size());
  PutU32(0, out);  // length, filled in below
  PutU32(0, out);  // checksum, filled in below
  const size_t payload_start = out.size();
  out.push_back(static_cast<char>(kDeadLetterPayloadVersion));
  PutU64(static_cast<uint64_t>(record.timestamp_us), out);
  PutBytes(record.key, out);
  PutBytes(record.value, out);
  PutU32(static_cast<uint32_t>(record.headers.size()), out);
  for (const auto& [name, value] : record.headers) {
    PutBytes(name, out);
    PutBytes(value, out);
  }
  const size_t payload_bytes = out.size() - payload_start;
  if (payload_bytes > kMaxDeadLetterPayloadBytes) {
    out.resize(frame_start);
    return absl::InvalidArgumentError(absl::StrCat("dead-letter record of ", payload_bytes,
                                                   " bytes exceeds the file format's limit of ",
                                                   kMaxDeadLetterPayloadBytes));
  }
  std::string length;
  PutU32(static_cast<uint32_t>(payload_bytes), length);
  std::memcpy(out.data() + frame_start + 4, length.data(), 4);
  const uint32_t checksum =
      FrameChecksum(length.data(), std::string_view(out.data() + payload_start, payload_bytes));
  std::string checksum_bytes;
  PutU32(checksum, checksum_bytes);
  std::memcpy(out.data() + frame_start + 8, checksum_bytes.data(), 4);
  return absl::OkStatus();
}

absl::StatusOr<DeadLetterRecord> DecodeDeadLetterPayload(std::string_view payload) {
  PayloadReader reader(payload);
  DeadLetterRecord record;
  uint8_t version = 0;
  if (!reader.U8(version) || version != kDeadLetterPayloadVersion) {
    return absl::DataLossError(
        absl::StrCat("dead-letter record: unknown payload version ", version));
  }
  uint32_t header_count = 0;
  if (!reader.I64(record.timestamp_us) || !reader.Bytes(record.key) ||
      !reader.Bytes(record.value) || !reader.U32(header_count)) {
    return absl::DataLossError("dead-letter record: payload ends early");
  }
  // Each header takes at least 8 bytes: a count beyond that is damage, and
  // must not size an allocation.
  if (header_count > payload.size() / 8) {
    return absl::DataLossError("dead-letter record: header count exceeds the payload");
  }
  record.headers.resize(header_count);
  for (auto& [name, value] : record.headers) {
    if (!reader.Bytes(name) || !reader.Bytes(value))
      return absl::DataLossError("dead-letter record: payload ends early");
  }
  if (!reader.done()) return absl::DataLossError("dead-letter record: bytes after the payload");
  return record;
}

// ---------------------------------------------------------------------------
// Writing

DeadLetterFileQueue::DeadLetterFileQueue(DeadLetterFileOptions options)
    : options_(std::move(options)) {}

DeadLetterFileQueue::~DeadLetterFileQueue() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void DeadLetterFileQueue::Write(DeadLetterBatch records, WriteDone done) {
  MutexLock lock(&mu_);
  queue_.push_back({std::move(records), std::move(done)});
  if (!started_) {
    // Started on first use: a queue made for `sluice validate` starts nothing.
    started_ = true;
    thread_ = std::thread([this] { Run(); });
  }
  cv_.notify_one();
}

void DeadLetterFileQueue::Run() {
  std::vector<PendingWrite> writes;
  for (;;) {
    bool stopping = false;
    {
      std::unique_lock<Mutex> lock(mu_);
      cv_.wait(lock, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !queue_.empty() || stop_; });
      writes.swap(queue_);
      stopping = stop_;
    }
    if (!writes.empty()) {
      const absl::Status status = Append(writes);
      for (PendingWrite& write : writes) {
        // A fresh Status per callback: each goes to another thread.
        write.done(absl::Status(status.code(), status.message()));
      }
      writes.clear();
    }
    if (stopping) {
      MutexLock lock(&mu_);
      if (queue_.empty()) return;
    }
  }
}

absl::Status DeadLetterFileQueue::Append(const std::vector<PendingWrite>& writes) {
  if (!fd_.valid()) {
    absl::StatusOr<internal::FileDescriptor> fd = internal::OpenForAppend(options_.path);
    if (!fd.ok()) {
      return absl::UnavailableError(absl::StrCat("dead-letter file: ", fd.status().message()));
    }
    fd_ = std::move(*fd);
  }
  buffer_.clear();
  for (const PendingWrite& write : writes) {
    for (const DeadLetter& letter : *write.records) {
      SLUICE_RETURN_IF_ERROR(AppendDeadLetterFrame(MakeDeadLetterRecord(letter), buffer_));
    }
  }
  absl::StatusOr<uint64_t> size_before = internal::FileSize(fd_.get(), options_.path);
  absl::Status status = internal::WriteAll(fd_.get(), buffer_, options_.path);
  if (status.ok() && options_.fsync == DeadLetterFsync::kEveryWrite) {
    status = internal::SyncData(fd_.get(), options_.path);
  }
  if (!status.ok()) {
    // Cut off what part of the write landed, so the rewrite does not follow
    // a torn record; if even that fails, the reader skips the damage.
    if (size_before.ok()) internal::Truncate(fd_.get(), *size_before, options_.path).IgnoreError();
    return absl::UnavailableError(absl::StrCat("dead-letter file: ", status.message()));
  }
  if (buffer_.capacity() > (size_t{4} << 20)) std::string().swap(buffer_);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Reading

absl::StatusOr<std::unique_ptr<DeadLetterFileReader>> DeadLetterFileReader::Open(
    const std::string& path, uint64_t start_position) {
  SLUICE_ASSIGN_OR_RETURN(internal::FileDescriptor fd, internal::OpenForRead(path));
  if (start_position > 0 && ::lseek(fd.get(), static_cast<off_t>(start_position), SEEK_SET) < 0) {
    return internal::ErrnoError(errno, "seek", path);
  }
  return std::unique_ptr<DeadLetterFileReader>(
      new DeadLetterFileReader(std::move(fd), path, start_position));
}

DeadLetterFileReader::DeadLetterFileReader(internal::FileDescriptor fd, std::string path,
                                           uint64_t position)
    : fd_(std::move(fd)), path_(std::move(path)), position_(position) {}

absl::Status DeadLetterFileReader::Fill(size_t bytes) {
  constexpr size_t kReadBytes = 256 * 1024;
  while (available() < bytes && !eof_) {
    if (start_ > 0) {
      buffer_.erase(0, start_);
      start_ = 0;
    }
    const size_t old_size = buffer_.size();
    // Grow by at most a read's worth at a time: a damaged length must not
    // size an allocation, only the bytes the file really has can.
    const size_t want = kReadBytes;
    buffer_.resize(old_size + want);
    ssize_t got;
    do {
      got = ::read(fd_.get(), buffer_.data() + old_size, want);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      const int error = errno;
      buffer_.resize(old_size);
      return internal::ErrnoError(error, "read", path_, absl::StatusCode::kUnavailable);
    }
    buffer_.resize(old_size + static_cast<size_t>(got));
    if (got == 0) eof_ = true;
  }
  return absl::OkStatus();
}

void DeadLetterFileReader::Consume(size_t bytes) {
  start_ += bytes;
  position_ += bytes;
}

bool DeadLetterFileReader::HasFrameAfterStart() const {
  const std::string_view rest(data(), available());
  for (size_t at = rest.find(kDeadLetterFrameMagic, 1); at != std::string_view::npos;
       at = rest.find(kDeadLetterFrameMagic, at + 1)) {
    const std::string_view frame = rest.substr(at);
    if (frame.size() < kDeadLetterFrameHeaderBytes) return false;
    const uint32_t length = LoadU32(frame.data() + 4);
    if (length > frame.size() - kDeadLetterFrameHeaderBytes) continue;
    if (FrameChecksum(frame.data() + 4, frame.substr(kDeadLetterFrameHeaderBytes, length)) ==
        LoadU32(frame.data() + 8)) {
      return true;
    }
  }
  return false;
}

absl::Status DeadLetterFileReader::Resync() {
  // Bad bytes right after bad bytes (a false start on a magic inside a
  // damaged record) extend the same region.
  if (!in_corrupt_region_) ++stats_.corrupt_regions;
  in_corrupt_region_ = true;
  // Skip at least the byte where the bad record claimed to start.
  Consume(1);
  ++stats_.skipped_bytes;
  for (;;) {
    SLUICE_RETURN_IF_ERROR(Fill(kDeadLetterFrameMagic.size()));
    const std::string_view window(data(), available());
    const size_t found = window.find(kDeadLetterFrameMagic);
    if (found != std::string_view::npos) {
      Consume(found);
      stats_.skipped_bytes += found;
      return absl::OkStatus();
    }
    if (eof_) {
      stats_.skipped_bytes += available();
      Consume(available());
      return absl::OkStatus();
    }
    // Keep the last bytes: a magic may straddle the next read.
    const size_t skip = available() - (kDeadLetterFrameMagic.size() - 1);
    Consume(skip);
    stats_.skipped_bytes += skip;
    SLUICE_RETURN_IF_ERROR(Fill(available() + 1));
  }
}

absl::StatusOr<bool> DeadLetterFileReader::Next(DeadLetterFileEntry& entry) {
  for (;;) {
    SLUICE_RETURN_IF_ERROR(Fill(kDeadLetterFrameHeaderBytes));
    if (available() == 0) return false;
    if (available() < kDeadLetterFrameHeaderBytes) {
      stats_.torn_tail_bytes = available();
      return false;
    }
    if (std::string_view(data(), kDeadLetterFrameMagic.size()) != kDeadLetterFrameMagic) {
      SLUICE_RETURN_IF_ERROR(Resync());
      continue;
    }
    const uint32_t length = LoadU32(data() + 4);
    const uint32_t checksum = LoadU32(data() + 8);
    if (length > kMaxDeadLetterPayloadBytes) {
      SLUICE_RETURN_IF_ERROR(Resync());
      continue;
    }
    const size_t frame_bytes = kDeadLetterFrameHeaderBytes + length;
    SLUICE_RETURN_IF_ERROR(Fill(frame_bytes));
    if (available() < frame_bytes) {
      // The file ends inside this record. If a whole, intact record lies in
      // what is left, the length was damaged; otherwise the last write was
      // cut short (or is still in progress).
      if (HasFrameAfterStart()) {
        SLUICE_RETURN_IF_ERROR(Resync());
        continue;
      }
      stats_.torn_tail_bytes = available();
      return false;
    }
    const std::string_view payload(data() + kDeadLetterFrameHeaderBytes, length);
    if (FrameChecksum(data() + 4, payload) != checksum) {
      SLUICE_RETURN_IF_ERROR(Resync());
      continue;
    }
    absl::StatusOr<DeadLetterRecord> record = DecodeDeadLetterPayload(payload);
    if (!record.ok()) {
      // Intact but not readable by this version: skip the whole record.
      if (!in_corrupt_region_) ++stats_.corrupt_regions;
      in_corrupt_region_ = true;
      stats_.skipped_bytes += frame_bytes;
      Consume(frame_bytes);
      continue;
    }
    entry.position = position_;
    entry.record = std::move(*record);
    Consume(frame_bytes);
    ++stats_.records;
    in_corrupt_region_ = false;
    return true;
  }
}

absl::StatusOr<DeadLetterFileContents> ReadDeadLetterFile(const std::string& path) {
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<DeadLetterFileReader> reader,
                          DeadLetterFileReader::Open(path));
  DeadLetterFileContents contents;
  for (;;) {
    DeadLetterFileEntry entry;
    SLUICE_ASSIGN_OR_RETURN(bool more, reader->Next(entry));
    if (!more) break;
    contents.entries.push_back(std::move(entry));
  }
  contents.stats = reader->stats();
  return contents;
}

// ---------------------------------------------------------------------------
// Registration: `dead_letter: {type: file, path: ..., fsync: every_write|never}`

namespace {

std::shared_ptr<DeadLetterQueue> MakeFileDeadLetterQueue(DeadLetterTypeContext& context) {
  OptionReader& options = context.options;
  std::optional<std::string> path = options.String("path");
  std::optional<DeadLetterFsync> fsync = options.Enum<DeadLetterFsync>(
      "fsync", {{"every_write", DeadLetterFsync::kEveryWrite}, {"never", DeadLetterFsync::kNever}});
  if (path.has_value() && path->empty()) options.Error("path", "must not be empty");
  if (options.failed()) return nullptr;

  DeadLetterFileOptions file_options;
  if (path.has_value()) {
    file_options.path = internal::ResolvePath(*path, context.config_dir);
  } else {
    const std::string_view dir = context.data_dir.empty() ? context.config_dir : context.data_dir;
    file_options.path = internal::ResolvePath("dead-letters.log", dir);
  }
  if (fsync.has_value()) file_options.fsync = *fsync;
  return std::make_shared<DeadLetterFileQueue>(std::move(file_options));
}

}  // namespace

SLUICE_REGISTER_DEAD_LETTER("file", MakeFileDeadLetterQueue);

}  // namespace sluice::connectors
