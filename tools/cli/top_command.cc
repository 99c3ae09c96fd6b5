// `sluice top`: a terminal view of a running pipeline, read from its
// operations endpoint's /metrics (docs/metrics.md), like `vector top`. Two
// scrapes an interval apart give the rates (tools/cli/top_model.h); the
// tables are tools/cli/top_render.h's.
//
// On a terminal it redraws in place every --interval until Ctrl-C; over a
// pipe it prints a plain-text table every --interval; with --once it prints
// one table (after two scrapes) and exits.
//
// Exit codes: 0 ok (and on Ctrl-C), 1 when the endpoint does not answer,
// refuses the token or sends what is not the exposition format, 2 for a
// malformed --address.
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include <signal.h>
#include <unistd.h>

#include "pipeline/status_macros.h"
#include "tools/cli/commands.h"
#include "tools/cli/top_metrics_text.h"
#include "tools/cli/top_model.h"
#include "tools/cli/top_render.h"

#include "httplib.h"

namespace sluice::cli {
namespace {

struct Endpoint {
  std::string host;
  int port = 0;
};

// "HOST:PORT", "[::1]:PORT" or "http://HOST:PORT".
absl::StatusOr<Endpoint> ParseAddress(std::string address) {
  if (address.rfind("http://", 0) == 0) address.erase(0, 7);
  while (!address.empty() && address.back() == '/') address.pop_back();
  const size_t colon = address.rfind(':');
  Endpoint endpoint;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &endpoint.port) || endpoint.port < 1 ||
      endpoint.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--address \"", address, "\" is not HOST:PORT (e.g. 127.0.0.1:9464)"));
  }
  endpoint.host = address.substr(0, colon);
  if (endpoint.host.size() > 2 && endpoint.host.front() == '[' && endpoint.host.back() == ']') {
    endpoint.host = endpoint.host.substr(1, endpoint.host.size() - 2);
  }
  return endpoint;
}

// One GET /metrics, parsed. Errors are kUnavailable when nothing answers,
// kPermissionDenied for 401/403, kInvalidArgument for a body that does not
// parse, kInternal for any other HTTP status.
class MetricsScraper {
 public:
  MetricsScraper(const Endpoint& endpoint, std::string address, std::string token)
      : client_(endpoint.host, endpoint.port),
        address_(std::move(address)),
        token_(std::move(token)) {
    client_.set_connection_timeout(2);
    client_.set_read_timeout(10);
  }

  absl::StatusOr<TopScrape> Scrape() {
    httplib::Headers headers;
    if (!token_.empty()) headers.emplace("Authorization", "Bearer " + token_);
    httplib::Result result = client_.Get("/metrics", headers);
    const absl::Time at = absl::Now();
    if (!result) {
      return absl::UnavailableError(absl::StrCat(
          "nothing answers at ", address_, " (", httplib::to_string(result.error()),
          "): is the pipeline running with `sluice run CONFIG --metrics-address ", address_, "`?"));
    }
    if (result->status == 401 || result->status == 403) {
      return absl::PermissionDeniedError(absl::StrCat(
          address_, "/metrics answered ", result->status,
          token_.empty() ? ": it wants a bearer token (--token, or SLUICE_METRICS_TOKEN)"
                         : ": the token was refused"));
    }
    if (result->status != 200) {
      return absl::InternalError(absl::StrCat(address_, "/metrics answered HTTP ", result->status));
    }
    absl::StatusOr<MetricsText> text = ParseMetricsText(result->body);
    if (!text.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          address_, "/metrics is not the Prometheus text format: ", text.status().message()));
    }
    return MakeTopScrape(*text, at);
  }

 private:
  httplib::Client client_;
  std::string address_;
  std::string token_;
};

int ReportError(const absl::Status& status) {
  std::cerr << "sluice top: " << status.message() << "\n";
  return kExitRuntime;
}

// Waits `interval`, or less if SIGINT/SIGTERM arrives (they are blocked and
// taken here, so no handler runs). Returns true when interrupted.
bool WaitInterrupted(absl::Duration interval) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  const absl::Time deadline = absl::Now() + interval;
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    const timespec wait = absl::ToTimespec(left);
    if (sigtimedwait(&signals, nullptr, &wait) >= 0) return true;
  }
}

}  // namespace

int Top(const TopArgs& args) {
  absl::StatusOr<Endpoint> endpoint = ParseAddress(args.address);
  if (!endpoint.ok()) {
    std::cerr << "sluice top: " << endpoint.status().message() << "\n";
    return kExitConfig;
  }
  std::string token = args.token;
  if (token.empty()) {
    if (const char* from_env = std::getenv("SLUICE_METRICS_TOKEN")) token = from_env;
  }
  const absl::Duration interval = absl::Seconds(args.interval_seconds);
  MetricsScraper scraper(*endpoint, args.address, std::move(token));

  absl::StatusOr<TopScrape> before = scraper.Scrape();
  if (!before.ok()) return ReportError(before.status());

  if (args.once) {
    absl::SleepFor(interval);
    absl::StatusOr<TopScrape> after = scraper.Scrape();
    if (!after.ok()) return ReportError(after.status());
    std::cout << RenderTopText(MakeTopView(*before, *after), args.address) << std::flush;
    return kExitOk;
  }

  // Single-threaded: blocking here covers the whole process.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigprocmask(SIG_BLOCK, &signals, nullptr);

  const bool terminal = isatty(STDOUT_FILENO) == 1;
  if (terminal) {
    // Clear once and hide the cursor; frames then redraw from the top left.
    std::cout << "\033[2J\033[H\033[?25l"
              << "sluice top: first scrape of " << args.address
              << " done, rates after the next one...\033[K" << std::flush;
  }
  while (!WaitInterrupted(interval)) {
    absl::StatusOr<TopScrape> after = scraper.Scrape();
    if (!after.ok()) {
      if (terminal) std::cout << "\n\033[?25h" << std::flush;
      return ReportError(after.status());
    }
    const TopView view = MakeTopView(*before, *after);
    if (terminal) {
      std::cout << RenderTopFrame(view, args.address) << std::flush;
    } else {
      std::cout << RenderTopText(view, args.address) << "\n" << std::flush;
    }
    before = std::move(after);
  }
  if (terminal) std::cout << "\n\033[?25h" << std::flush;
  return kExitOk;
}

}  // namespace sluice::cli
