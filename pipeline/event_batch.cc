#include "pipeline/event_batch.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "pipeline/mutex.h"

namespace sluice {
namespace {

// Recycles standard-size arena chunks between batches. Without it every
// batch's memory goes back to malloc, which returns it to the kernel and
// page-faults it in again for the next batch: that cost more than the whole
// handoff in the benchmarks (docs/BENCHMARKS.md). Bounded: at most
// kMaxPooledChunks (16 MiB) wait here; more are freed.
class ChunkPool {
 public:
  static constexpr size_t kMaxPooledChunks = 256;

  static ChunkPool& Get() {
    static ChunkPool* const pool = new ChunkPool();
    return *pool;
  }

  std::unique_ptr<char[]> Take() {
    {
      MutexLock lock(&mu_);
      if (!free_.empty()) {
        std::unique_ptr<char[]> chunk = std::move(free_.back());
        free_.pop_back();
        return chunk;
      }
    }
    return std::make_unique_for_overwrite<char[]>(Arena::kChunkBytes);
  }

  void Give(std::unique_ptr<char[]> chunk) {
    MutexLock lock(&mu_);
    if (free_.size() < kMaxPooledChunks) free_.push_back(std::move(chunk));
  }

 private:
  Mutex mu_;
  std::vector<std::unique_ptr<char[]>> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

Arena::~Arena() {
  for (Chunk& chunk : chunks_) {
    if (chunk.size == kChunkBytes) ChunkPool::Get().Give(std::move(chunk.data));
  }
}

char* Arena::Allocate(size_t bytes) {
  const size_t aligned = (bytes + 7) & ~size_t{7};
  if (chunks_.empty() || chunks_.back().size - used_in_last_ < aligned) {
    if (aligned <= kChunkBytes) {
      chunks_.push_back({ChunkPool::Get().Take(), kChunkBytes});
    } else {
      chunks_.push_back({std::make_unique_for_overwrite<char[]>(aligned), aligned});
    }
    used_in_last_ = 0;
  }
  char* data = chunks_.back().data.get() + used_in_last_;
  used_in_last_ += aligned;
  allocated_bytes_ += bytes;
  return data;
}

std::string_view Arena::Copy(std::string_view bytes) {
  if (bytes.empty()) return {};
  char* data = Allocate(bytes.size());
  std::memcpy(data, bytes.data(), bytes.size());
  return {data, bytes.size()};
}

bool Arena::Contains(const void* data) const {
  const char* p = static_cast<const char*>(data);
  for (const Chunk& chunk : chunks_) {
    const char* begin = chunk.data.get();
    if (p >= begin && p < begin + chunk.size) return true;
  }
  return false;
}

size_t EventBatch::payload_bytes() const {
  size_t bytes = 0;
  for (const Event& event : events()) bytes += event.key().size() + event.value().size();
  return bytes;
}

Arena& EventBatch::arena() {
  if (arena_ == nullptr) arena_ = std::make_shared<Arena>();
  return *arena_;
}

absl::Span<char> EventBatch::Allocate(size_t bytes) { return {arena().Allocate(bytes), bytes}; }

std::string_view EventBatch::Copy(std::string_view bytes) { return arena().Copy(bytes); }

const Event& EventBatch::Append(const EventFields& fields) {
  EventFields copy = fields;
  copy.key = Copy(fields.key);
  copy.value = Copy(fields.value);
  if (!fields.headers.empty()) {
    Arena& memory = arena();
    auto* headers =
        reinterpret_cast<Header*>(memory.Allocate(sizeof(Header) * fields.headers.size()));
    for (size_t i = 0; i < fields.headers.size(); ++i) {
      headers[i] = {memory.Copy(fields.headers[i].key), memory.Copy(fields.headers[i].value)};
    }
    copy.headers = {headers, fields.headers.size()};
  }
  events_.emplace_back(copy);
  return events_.back();
}

bool EventBatch::OwnsBytes(const void* data) const {
  return arena_ != nullptr && arena_->Contains(data);
}

void EventBatch::Retain(std::shared_ptr<const void> owner) {
  if (owner == nullptr) return;
  // Batches passed on unchanged retain the same memory again and again; keep
  // the list short so a chain of 1,000 stages does not grow it.
  if (std::find(retained_.begin(), retained_.end(), owner) != retained_.end()) return;
  retained_.push_back(std::move(owner));
}

void EventBatch::RetainMemoryOf(const EventBatch& other) {
  if (&other == this) return;
  if (other.arena_ != nullptr && other.arena_ != arena_) Retain(other.arena_);
  for (const std::shared_ptr<const void>& owner : other.retained_) Retain(owner);
}

EventBatch EventBatch::TakeFront(size_t count) {
  assert(count <= size());
  EventBatch front;
  front.arena_ = arena_;
  front.retained_ = retained_;
  if (count == size()) {
    front.events_ = std::move(events_);
    front.first_ = std::exchange(first_, 0);
    events_.clear();
    return front;
  }
  front.events_.assign(begin(), begin() + count);
  first_ += count;
  // Drop the taken prefix once it is most of the vector: amortized, each
  // event is moved at most once more.
  if (first_ >= 1024 && first_ * 2 >= events_.size()) {
    events_.erase(events_.begin(), events_.begin() + static_cast<ptrdiff_t>(first_));
    first_ = 0;
  }
  return front;
}

EventBatch EventBatch::TakeBack(size_t count) {
  assert(count <= size());
  EventBatch back;
  back.arena_ = arena_;
  back.retained_ = retained_;
  const auto split = events_.end() - static_cast<ptrdiff_t>(count);
  back.events_.assign(split, events_.end());
  events_.erase(split, events_.end());
  return back;
}

}  // namespace sluice
