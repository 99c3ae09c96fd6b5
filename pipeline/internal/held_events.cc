#include "pipeline/internal/held_events.h"

#include <cassert>
#include <utility>

namespace sluice::internal {

void HeldEvents::Hold(HeldId id, const Event& event) {
  auto held = std::make_unique<Held>();
  size_t bytes = event.key().size() + event.value().size();
  for (const Header& header : event.headers()) bytes += header.key.size() + header.value.size();
  held->bytes.reserve(bytes);
  // Views are taken only after every append: reserve() made the buffer its
  // final size, so appending never moves it.
  auto keep = [&held](std::string_view part) {
    const size_t at = held->bytes.size();
    held->bytes.append(part);
    return at;
  };
  const size_t key_at = keep(event.key());
  const size_t value_at = keep(event.value());
  std::vector<std::pair<size_t, size_t>> header_at;
  header_at.reserve(event.headers().size());
  for (const Header& header : event.headers()) {
    header_at.emplace_back(keep(header.key), keep(header.value));
  }
  const char* base = held->bytes.data();
  EventFields fields = event.fields();
  fields.key = {base + key_at, event.key().size()};
  fields.value = {base + value_at, event.value().size()};
  held->headers.reserve(header_at.size());
  for (size_t i = 0; i < header_at.size(); ++i) {
    const Header& header = event.headers()[i];
    held->headers.push_back({{base + header_at[i].first, header.key.size()},
                             {base + header_at[i].second, header.value.size()}});
  }
  fields.headers = held->headers;
  held->event = Event(fields);
  const bool inserted = held_.emplace(id, std::move(held)).second;
  assert(inserted && "held id reused");
  (void)inserted;
}

bool HeldEvents::ReleaseInto(HeldId id, EventBatch& out) {
  auto it = held_.find(id);
  if (it == held_.end()) return false;
  out.Append(it->second->event.fields());
  held_.erase(it);
  return true;
}

void HeldEvents::ReleaseAllInto(EventBatch& out) {
  for (auto& [id, held] : held_) out.Append(held->event.fields());
  held_.clear();
}

}  // namespace sluice::internal
