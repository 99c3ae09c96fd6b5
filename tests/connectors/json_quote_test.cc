// Tests for pipeline/json_quote.h: the one JSON string quoting
// function, and that the stdout sink, the CLI's JsonWriter and `dlq inspect`
// all quote through it.
#include "pipeline/json_quote.h"

#include <string>
#include <string_view>

#include "gtest/gtest.h"

#include "connectors/stdout/stdout_sink.h"
#include "tools/cli/dead_letter_source.h"
#include "tools/cli/json_writer.h"

namespace sluice {
namespace {

std::string Quoted(std::string_view bytes) {
  std::string out;
  AppendJsonQuoted(bytes, out);
  return out;
}

TEST(JsonQuoteTest, QuotesAndBackslashesAreEscaped) {
  EXPECT_EQ(Quoted(R"(say "hi" \o/)"), R"("say \"hi\" \\o/")");
  EXPECT_EQ(Quoted(""), R"("")");
}

TEST(JsonQuoteTest, EveryControlCharacterAndDelIsEscaped) {
  EXPECT_EQ(Quoted("a\nb\rc\td"), R"("a\nb\rc\td")");
  EXPECT_EQ(Quoted(std::string("\0\x01\x08\x0b\x0c\x1b\x1f\x7f", 8)),
            R"("\u0000\u0001\u0008\u000b\u000c\u001b\u001f\u007f")");
  // Every other printable ASCII byte is itself.
  std::string printable;
  for (int c = 0x20; c < 0x7F; ++c) {
    if (c != '"' && c != '\\') printable.push_back(static_cast<char>(c));
  }
  EXPECT_EQ(Quoted(printable), "\"" + printable + "\"");
}

TEST(JsonQuoteTest, ValidUtf8PassesThroughUpToFourBytes) {
  // é (2 bytes), € (3), 😀 (4), U+10FFFF (the last code point).
  const std::string text = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf";
  EXPECT_EQ(Quoted(text), "\"" + text + "\"");
  EXPECT_TRUE(IsValidUtf8(text));
}

TEST(JsonQuoteTest, EachInvalidByteBecomesOneReplacementCharacter) {
  // A lone continuation byte, a truncated sequence, an overlong '/', a
  // surrogate (U+D800), a code point above U+10FFFF, bytes never valid.
  EXPECT_EQ(Quoted("a\x80z"), R"("a\ufffdz")");
  EXPECT_EQ(Quoted("\xe2\x82"), R"("\ufffd\ufffd")");
  EXPECT_EQ(Quoted("\xc0\xaf"), R"("\ufffd\ufffd")");
  EXPECT_EQ(Quoted("\xe0\x80\xaf"), R"("\ufffd\ufffd\ufffd")");  // overlong, 3 bytes
  EXPECT_EQ(Quoted("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");
  EXPECT_EQ(Quoted("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");
  EXPECT_EQ(Quoted("\xf5\xfe\xff"), R"("\ufffd\ufffd\ufffd")");
  // The byte after a broken sequence starts afresh: here a valid "é".
  EXPECT_EQ(Quoted("\xe2\xc3\xa9"), "\"\\ufffd\xc3\xa9\"");
}

TEST(JsonQuoteTest, Utf8SequenceLengthAtAPosition) {
  const std::string_view text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x80";
  EXPECT_EQ(Utf8SequenceLength(text, 0), 1u);
  EXPECT_EQ(Utf8SequenceLength(text, 1), 2u);
  EXPECT_EQ(Utf8SequenceLength(text, 3), 3u);
  EXPECT_EQ(Utf8SequenceLength(text, 6), 4u);
  EXPECT_EQ(Utf8SequenceLength(text, 10), 0u);              // a lone continuation byte
  EXPECT_EQ(Utf8SequenceLength(text.substr(0, 8), 6), 0u);  // cut short
}

TEST(JsonQuoteTest, TheIfUtf8FormAppendsNothingForInvalidBytes) {
  std::string out = "x";
  EXPECT_FALSE(AppendJsonQuotedIfUtf8("ok\xff", out));
  EXPECT_EQ(out, "x");
  EXPECT_TRUE(AppendJsonQuotedIfUtf8("\xc3\xa9\t\x7f", out));
  EXPECT_EQ(out, "x\"\xc3\xa9\\t\\u007f\"");
  EXPECT_FALSE(IsValidUtf8("\xed\xbf\xbf"));  // a low surrogate
}

TEST(JsonQuoteTest, TheStdoutSinkTheCliJsonWriterAndDlqInspectQuoteAlike) {
  const std::string valid = std::string("q\"\\\n\x01\x7f \xc3\xa9", 10);
  const std::string invalid = "bad\xc0\xaf";
  for (const std::string& text : {valid, invalid}) {
    std::string from_stdout;
    connectors::AppendJsonString(text, from_stdout);
    EXPECT_EQ(from_stdout, Quoted(text));

    cli::JsonWriter writer;
    writer.String(text);
    EXPECT_EQ(writer.Take(), Quoted(text));
  }
  std::string from_dlq;
  ASSERT_TRUE(cli::AppendJsonUtf8(valid, from_dlq));
  EXPECT_EQ(from_dlq, Quoted(valid));
  from_dlq.clear();
  EXPECT_FALSE(cli::AppendJsonUtf8(invalid, from_dlq));  // dlq inspect writes base64
  EXPECT_EQ(from_dlq, "");
}

}  // namespace
}  // namespace sluice
