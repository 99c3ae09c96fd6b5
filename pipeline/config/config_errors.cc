#include "pipeline/config/config_errors.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "pipeline/string_view_compat.h"

namespace sluice {
namespace {

// Edits (insert, delete, substitute, swap two neighbours) from a to b: the
// optimal string alignment distance, so that "cuont" is one edit from "count".
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string ConfigError::ToString() const { return absl::StrCat(mark.ToString(), ": ", message); }

void ConfigErrors::Add(SourceMark mark, std::string message) {
  errors_.push_back({std::move(mark), std::move(message)});
}

std::vector<ConfigError> ConfigErrors::Sorted() const {
  std::vector<ConfigError> sorted = errors_;
  auto key = [](const ConfigError& e) {
    return std::make_tuple(e.mark.file ? *e.mark.file : std::string(), e.mark.line, e.mark.column,
                           e.message);
  };
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&](const ConfigError& a, const ConfigError& b) { return key(a) < key(b); });
  sorted.erase(
      std::unique(sorted.begin(), sorted.end(),
                  [&](const ConfigError& a, const ConfigError& b) { return key(a) == key(b); }),
      sorted.end());
  return sorted;
}

absl::Status ConfigErrors::ToStatus() const {
  if (errors_.empty()) return absl::OkStatus();
  std::vector<std::string> lines;
  for (const ConfigError& error : Sorted()) lines.push_back(error.ToString());
  return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
}

std::string DidYouMean(std::string_view word, absl::Span<const std::string> candidates) {
  const size_t allowed = std::max<size_t>(1, word.size() / 3);
  std::string best;
  size_t best_distance = allowed + 1;
  for (const std::string& candidate : candidates) {
    const size_t distance = EditDistance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

std::string DidYouMeanSuffix(std::string_view word, absl::Span<const std::string> candidates) {
  std::string best = DidYouMean(word, candidates);
  if (best.empty()) return "";
  return absl::StrCat("; did you mean \"", best, "\"?");
}

}  // namespace sluice
