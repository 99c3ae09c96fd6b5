#include "stages/json/json_syntax.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <system_error>

namespace sluice::stages {
namespace {

// simdjson's default nesting limit (simdjson::DEFAULT_MAX_DEPTH).
constexpr int kMaxDepth = 1024;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsContinuation(unsigned char c) { return c >= 0x80 && c <= 0xBF; }

// The length of the valid UTF-8 sequence at `position`, or 0 if it is not
// one (overlong forms, surrogates and code points past U+10FFFF included).
size_t Utf8SequenceLength(std::string_view text, size_t position) {
  const auto byte = [&](size_t i) -> unsigned char {
    return position + i < text.size() ? static_cast<unsigned char>(text[position + i]) : 0;
  };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return IsContinuation(byte(1)) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    const unsigned char second = byte(1);
    if (lead == 0xE0 && second < 0xA0) return 0;
    if (lead == 0xED && second > 0x9F) return 0;
    return IsContinuation(second) && IsContinuation(byte(2)) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    const unsigned char second = byte(1);
    if (lead == 0xF0 && second < 0x90) return 0;
    if (lead == 0xF4 && second > 0x8F) return 0;
    return IsContinuation(second) && IsContinuation(byte(2)) && IsContinuation(byte(3)) ? 4 : 0;
  }
  return 0;
}

// A recursive-descent validator that stops at the first bad byte. Recursion
// is bounded by kMaxDepth.
class ErrorFinder {
 public:
  explicit ErrorFinder(std::string_view json) : json_(json) {}

  std::optional<size_t> Find() {
    SkipSpace();
    if (!Value(0)) return error_;
    SkipSpace();
    if (position_ != json_.size()) return position_;
    return std::nullopt;
  }

 private:
  char Peek() const { return position_ < json_.size() ? json_[position_] : '\0'; }
  bool AtEnd() const { return position_ >= json_.size(); }
  void SkipSpace() {
    while (!AtEnd() && IsSpace(json_[position_])) ++position_;
  }
  bool FailAt(size_t position) {
    error_ = position;
    return false;
  }

  bool Value(int depth) {
    if (AtEnd()) return FailAt(position_);
    switch (Peek()) {
      case '{':
        return Object(depth + 1);
      case '[':
        return Array(depth + 1);
      case '"':
        return String();
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        if (Peek() == '-' || IsDigit(Peek())) return Number();
        return FailAt(position_);
    }
  }

  bool Object(int depth) {
    if (depth > kMaxDepth) return FailAt(position_);
    ++position_;  // {
    SkipSpace();
    if (Peek() == '}' && !AtEnd()) {
      ++position_;
      return true;
    }
    while (true) {
      if (AtEnd() || Peek() != '"') return FailAt(position_);
      if (!String()) return false;
      SkipSpace();
      if (AtEnd() || Peek() != ':') return FailAt(position_);
      ++position_;
      SkipSpace();
      if (!Value(depth)) return false;
      SkipSpace();
      if (AtEnd()) return FailAt(position_);
      if (Peek() == '}') {
        ++position_;
        return true;
      }
      if (Peek() != ',') return FailAt(position_);
      ++position_;
      SkipSpace();
    }
  }

  bool Array(int depth) {
    if (depth > kMaxDepth) return FailAt(position_);
    ++position_;  // [
    SkipSpace();
    if (Peek() == ']' && !AtEnd()) {
      ++position_;
      return true;
    }
    while (true) {
      if (!Value(depth)) return false;
      SkipSpace();
      if (AtEnd()) return FailAt(position_);
      if (Peek() == ']') {
        ++position_;
        return true;
      }
      if (Peek() != ',') return FailAt(position_);
      ++position_;
      SkipSpace();
    }
  }

  bool String() {
    ++position_;  // "
    while (true) {
      if (AtEnd()) return FailAt(position_);
      const auto c = static_cast<unsigned char>(json_[position_]);
      if (c == '"') {
        ++position_;
        return true;
      }
      if (c < 0x20) return FailAt(position_);
      if (c == '\\') {
        const char escape = position_ + 1 < json_.size() ? json_[position_ + 1] : '\0';
        if (escape == 'u') {
          for (size_t i = 2; i < 6; ++i) {
            if (position_ + i >= json_.size() || !IsHex(json_[position_ + i])) {
              return FailAt(position_ + i);
            }
          }
          position_ += 6;
          continue;
        }
        if (std::string_view("\"\\/bfnrt").find(escape) == std::string_view::npos ||
            escape == '\0') {
          return FailAt(position_);
        }
        position_ += 2;
        continue;
      }
      const size_t length = Utf8SequenceLength(json_, position_);
      if (length == 0) return FailAt(position_);
      position_ += length;
    }
  }

  bool Literal(std::string_view word) {
    for (size_t i = 0; i < word.size(); ++i) {
      if (position_ + i >= json_.size() || json_[position_ + i] != word[i]) {
        return FailAt(position_);  // the start of the word: simdjson names its first letter
      }
    }
    position_ += word.size();
    return true;
  }

  bool Number() {
    const size_t start = position_;
    bool integer = true;
    if (Peek() == '-') ++position_;
    if (AtEnd() || !IsDigit(Peek())) return FailAt(position_);
    if (Peek() == '0') {
      ++position_;
    } else {
      while (!AtEnd() && IsDigit(Peek())) ++position_;
    }
    if (!AtEnd() && Peek() == '.') {
      integer = false;
      ++position_;
      if (AtEnd() || !IsDigit(Peek())) return FailAt(position_);
      while (!AtEnd() && IsDigit(Peek())) ++position_;
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      integer = false;
      ++position_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++position_;
      if (AtEnd() || !IsDigit(Peek())) return FailAt(position_);
      while (!AtEnd() && IsDigit(Peek())) ++position_;
    }
    const std::string_view text = json_.substr(start, position_ - start);
    if (integer) {
      // Integers must fit int64 (negative) or uint64, as in simdjson.
      std::errc error;
      if (text[0] == '-') {
        int64_t value = 0;
        error = std::from_chars(text.data(), text.data() + text.size(), value).ec;
      } else {
        uint64_t value = 0;
        error = std::from_chars(text.data(), text.data() + text.size(), value).ec;
      }
      if (error != std::errc()) return FailAt(start);
    } else {
      const std::string copy(text);
      if (std::isinf(std::strtod(copy.c_str(), nullptr))) return FailAt(start);
    }
    return true;
  }

  std::string_view json_;
  size_t position_ = 0;
  size_t error_ = 0;
};

}  // namespace

std::optional<size_t> FindJsonErrorOffset(std::string_view json) {
  return ErrorFinder(json).Find();
}

std::optional<size_t> FindInvalidUtf8(std::string_view text) {
  size_t position = 0;
  while (position < text.size()) {
    const size_t length = Utf8SequenceLength(text, position);
    if (length == 0) return position;
    position += length;
  }
  return std::nullopt;
}

}  // namespace sluice::stages
