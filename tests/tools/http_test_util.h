// File: tests/tools/http_test_util.h
//
// What the operations endpoint's tests need to talk to it: GET and POST over
// loopback with an optional bearer token, and a series' value read out of
// Prometheus text.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

#include "httplib.h"

namespace sluice::testing {

struct HttpReply {
  int status = -1;  // -1: no answer
  std::string body;
};

// "127.0.0.1:<port>".
inline std::string Loopback(int port) { return absl::StrCat("127.0.0.1:", port); }

inline httplib::Headers BearerHeaders(const std::string& token) {
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", absl::StrCat("Bearer ", token));
  return headers;
}

// GET http://<address><path>; `token`, if set, as a bearer token.
inline HttpReply HttpGet(const std::string& address, const std::string& path,
                         const std::string& token = "") {
  httplib::Client client("http://" + address);
  httplib::Result result = client.Get(path, BearerHeaders(token));
  if (!result) return {};
  return {result->status, result->body};
}

inline HttpReply HttpPost(const std::string& address, const std::string& path,
                          const std::string& token = "", const std::string& body = "") {
  httplib::Client client("http://" + address);
  httplib::Result result = client.Post(path, BearerHeaders(token), body, "text/plain");
  if (!result) return {};
  return {result->status, result->body};
}

// Calls `each` with the value of every series `name{labels...}` whose labels
// contain all of `matchers` (e.g. `stage="source"`).
template <typename Each>
void ForEachSeries(const std::string& text, const std::string& name,
                   const std::vector<std::string>& matchers, Each each) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, name)) continue;
    const absl::string_view rest = line.substr(name.size());
    if (rest.empty() || (rest[0] != '{' && rest[0] != ' ')) continue;
    bool all = true;
    for (const std::string& matcher : matchers) all = all && absl::StrContains(rest, matcher);
    double value = 0;
    if (all && absl::SimpleAtod(rest.substr(rest.rfind(' ') + 1), &value)) each(value);
  }
}

// The first matching series' value; -1 if none.
inline double MetricValue(const std::string& text, const std::string& name,
                          const std::vector<std::string>& matchers = {}) {
  double first = -1;
  bool found = false;
  ForEachSeries(text, name, matchers, [&](double value) {
    if (!found) first = value;
    found = true;
  });
  return first;
}

// The sum over every matching series; -1 if none.
inline double MetricSum(const std::string& text, const std::string& name,
                        const std::vector<std::string>& matchers = {}) {
  double sum = 0;
  bool found = false;
  ForEachSeries(text, name, matchers, [&](double value) {
    sum += value;
    found = true;
  });
  return found ? sum : -1;
}

}  // namespace sluice::testing
