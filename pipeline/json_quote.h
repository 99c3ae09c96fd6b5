// File: pipeline/json_quote.h
//
// Bytes as a JSON string literal: the one quoting function behind the stdout
// sink's JSON lines, the CLI's `--json` output (tools/cli/json_writer.h),
// `sluice dlq inspect --json` (tools/cli/dead_letter_source.h), JSON log
// lines (pipeline/log.h) and the ops endpoint's bodies (tools/ops/). It
// lives in the runtime library, the lowest one all of them link.
//
// What it writes (the strictest of the three it replaced, the stdout sink's):
//   * `"` and `\` escaped; \n, \r and \t as themselves; every other byte below
//     0x20, and DEL (0x7F), as \u00XX;
//   * valid UTF-8 as is. Valid means what RFC 3629 allows: no overlong forms,
//     no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
//     sequence;
//   * each byte that does not start a valid sequence as \ufffd (U+FFFD, the
//     replacement character), so that the output is always valid JSON and
//     valid UTF-8.
//
//   std::string out;
//   AppendJsonQuoted("say \"hi\"\n", out);     // "say \"hi\"\n"
//   AppendJsonQuoted("a\x80z", out);           // "a\ufffdz"
//   AppendJsonQuotedIfUtf8("a\x80z", out);     // false, nothing appended
//
// Thread-safe: no state.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice {

// The length (1 to 4) of the valid UTF-8 sequence at `bytes[at]`, or 0 if
// none starts there. REQUIRES: at < bytes.size().
size_t Utf8SequenceLength(std::string_view bytes, size_t at);

// Whether all of `bytes` is valid UTF-8.
bool IsValidUtf8(std::string_view bytes);

// Appends `bytes` to `out` as a quoted JSON string; invalid UTF-8 becomes
// \ufffd, one per byte.
void AppendJsonQuoted(std::string_view bytes, std::string& out);

// As AppendJsonQuoted if `bytes` is valid UTF-8 (returns true); otherwise
// appends nothing and returns false, for a caller that writes the bytes some
// lossless other way (base64).
bool AppendJsonQuotedIfUtf8(std::string_view bytes, std::string& out);

}  // namespace sluice
