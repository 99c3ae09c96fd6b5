#include "tools/ops/ops_server.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

#include "pipeline/json_quote.h"
#include "pipeline/mutex.h"
#include "pipeline/string_view_compat.h"
#include "pipeline/token_bucket.h"
#include "tools/ops/metrics_collector.h"
#include "tools/ops/readiness.h"

#include "httplib.h"

namespace sluice::ops {
namespace {

constexpr char kJson[] = "application/json";

std::string JsonString(std::string_view text) {
  std::string out;
  AppendJsonQuoted(text, out);
  return out;
}

std::string JsonError(std::string_view message) {
  return absl::StrCat("{\"error\": ", JsonString(message), "}\n");
}

// Compares without stopping at the first difference, so the time taken
// does not tell how much of a guessed token was right.
bool TokensEqual(std::string_view given, std::string_view expected) {
  if (given.size() != expected.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < given.size(); ++i) {
    difference |= static_cast<unsigned char>(given[i] ^ expected[i]);
  }
  return difference == 0;
}

}  // namespace

absl::StatusOr<std::pair<std::string, int>> ParseListenAddress(std::string_view text) {
  std::string host = "127.0.0.1";
  std::string_view port_text = text;
  if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    std::string_view host_text = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host_text.size() >= 2 && host_text.front() == '[' && host_text.back() == ']') {
      host_text = host_text.substr(1, host_text.size() - 2);
    }
    if (!host_text.empty()) host = std::string(host_text);
  }
  int port = 0;
  if (!absl::SimpleAtoi(Av(port_text), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address \"", Av(text), "\": expected HOST:PORT (port 0-65535, 0 = any free)"));
  }
  return std::make_pair(host, port);
}

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || absl::StartsWith(Av(host), "127.");
}

class OpsServer::Impl {
 public:
  Impl(Pipeline& pipeline, std::shared_ptr<const SourceProbeRegistry> probes, OpsOptions options,
       bool loopback)
      : pipeline_(pipeline),
        probes_(std::move(probes)),
        options_(std::move(options)),
        token_required_(!options_.token.empty() && !loopback),
        readiness_(options_.stuck_after),
        bucket_(options_.requests_per_second, 2 * options_.requests_per_second, absl::Now()) {}

  ~Impl() {
    server_.stop();
    if (server_thread_.joinable()) server_thread_.join();
    {
      MutexLock lock(&mu_);
      stop_ = true;
      cv_.notify_all();
    }
    if (sampler_thread_.joinable()) sampler_thread_.join();
  }

  absl::Status Listen(const std::string& host, int port) {
    // Two workers: a scrape and a probe at once; more only queue.
    server_.new_task_queue = [] { return new httplib::ThreadPool(2); };
    server_.set_payload_max_length(options_.max_body_bytes);
    server_.set_keep_alive_timeout(1);
    server_.set_read_timeout(5, 0);
    server_.set_write_timeout(5, 0);
    server_.set_pre_routing_handler(
        [this](const httplib::Request& request, httplib::Response& response) {
          return Guard(request, response);
        });
    Routes();
    if (port == 0) {
      port = server_.bind_to_any_port(host);
    } else if (!server_.bind_to_port(host, port)) {
      port = -1;
    }
    if (port < 0) {
      return absl::UnavailableError(absl::StrCat("metrics address ", options_.address,
                                                 ": cannot listen (in use, or not local)"));
    }
    port_ = port;
    address_ =
        absl::StrCat(host.find(':') != std::string::npos ? "[" + host + "]" : host, ":", port);
    server_thread_ = std::thread([this] {
      server_.listen_after_bind();
      listen_returned_.store(true, std::memory_order_release);
    });
    // Until it runs, stop() would not reach it (httplib's stop() only stops a
    // running server): a server destroyed at once would never be joined.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!server_.is_running() && !listen_returned_.load(std::memory_order_acquire) &&
           absl::Now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    sampler_thread_ = std::thread([this] { SampleLoop(); });
    return absl::OkStatus();
  }

  const std::string& address() const { return address_; }
  int port() const { return port_; }

 private:
  // Rate, then the token: before any handler runs (and before a body is read).
  httplib::Server::HandlerResponse Guard(const httplib::Request& request,
                                         httplib::Response& response) {
    {
      MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      if (bucket_.Available(now) < 1) {
        response.status = 429;
        response.set_header("Retry-After", "1");
        response.set_content(JsonError("too many requests"), kJson);
        return httplib::Server::HandlerResponse::Handled;
      }
      bucket_.Take(1);
    }
    const bool admin = absl::StartsWith(request.path, "/admin");
    if (admin && !(options_.admin && !options_.token.empty())) {
      response.status = 403;
      response.set_content(
          JsonError("admin actions are off: set metrics: {admin: true, token: ...}"), kJson);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (admin || token_required_) {
      const std::string authorization = request.get_header_value("Authorization");
      constexpr std::string_view kBearer = "Bearer ";
      if (!absl::StartsWith(authorization, Av(kBearer))) {
        response.status = 401;
        response.set_header("WWW-Authenticate", "Bearer");
        response.set_content(JsonError("a bearer token is required"), kJson);
        return httplib::Server::HandlerResponse::Handled;
      }
      if (!TokensEqual(std::string_view(authorization).substr(kBearer.size()), options_.token)) {
        response.status = 403;
        response.set_content(JsonError("wrong token"), kJson);
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  void Routes() {
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
      const ProcessInfo process{options_.started_at, options_.version, options_.build_type};
      response.set_content(CollectMetrics(pipeline_, *probes_, process),
                           "text/plain; version=0.0.4; charset=utf-8");
    });
    server_.Get("/healthz", [this](const httplib::Request&, httplib::Response& response) {
      const absl::Status health = pipeline_.health();
      if (health.ok()) {
        response.set_content("{\"status\": \"ok\"}\n", kJson);
      } else {
        response.status = 503;
        response.set_content(absl::StrCat("{\"status\": \"unhealthy\", \"reason\": ",
                                          JsonString(std::string(health.message())), "}\n"),
                             kJson);
      }
    });
    server_.Get("/readyz", [this](const httplib::Request&, httplib::Response& response) {
      const Readiness readiness = readiness_.Check(pipeline_, *probes_, absl::Now());
      std::string body =
          absl::StrCat("{\"ready\": ", readiness.ready ? "true" : "false", ", \"reasons\": [");
      for (size_t i = 0; i < readiness.reasons.size(); ++i) {
        absl::StrAppend(&body, i > 0 ? ", " : "", JsonString(readiness.reasons[i]));
      }
      body += "], \"stuck_partitions\": [";
      for (size_t i = 0; i < readiness.stuck.size(); ++i) {
        const StuckPartition& stuck = readiness.stuck[i];
        absl::StrAppend(
            &body, i > 0 ? ", " : "", "{\"stage\": ", JsonString(stuck.stage),
            ", \"instance\": ", stuck.instance, ", \"topic\": ", JsonString(stuck.topic),
            ", \"partition\": ", stuck.partition,
            ", \"committed\": ", stuck.committed ? absl::StrCat(*stuck.committed) : "null",
            ", \"lag\": ", stuck.lag ? absl::StrCat(*stuck.lag) : "null",
            ", \"stalled_seconds\": ", absl::ToInt64Seconds(stuck.stalled), "}");
      }
      body += "]}\n";
      if (!readiness.ready) response.status = 503;
      response.set_content(body, kJson);
    });
    server_.Post("/admin/pause",
                 [this](const httplib::Request& request, httplib::Response& response) {
                   Pause(request, response, true);
                 });
    server_.Post("/admin/resume",
                 [this](const httplib::Request& request, httplib::Response& response) {
                   Pause(request, response, false);
                 });
    server_.Get("/admin/paused", [this](const httplib::Request&, httplib::Response& response) {
      response.set_content(PausedJson(), kJson);
    });
  }

  void Pause(const httplib::Request& request, httplib::Response& response, bool pause) {
    const bool scoped =
        request.has_param("stage") || request.has_param("topic") || request.has_param("partition");
    if (!scoped) {
      if (pause) {
        pipeline_.Pause();
      } else {
        pipeline_.Resume();
      }
      spdlog::info("ops: pipeline \"{}\" {} by an operator", pipeline_.name(),
                   pause ? "paused" : "resumed");
      response.set_content(PausedJson(), kJson);
      return;
    }
    const std::string stage = request.get_param_value("stage");
    const std::string topic = request.get_param_value("topic");
    int32_t partition = -1;
    if (stage.empty() || topic.empty() ||
        !absl::SimpleAtoi(request.get_param_value("partition"), &partition) || partition < 0) {
      response.status = 400;
      response.set_content(JsonError("give stage, topic and partition (a number >= 0), or none"),
                           kJson);
      return;
    }
    SourceProbe* probe = probes_->Find(stage);
    if (probe == nullptr) {
      response.status = 404;
      response.set_content(
          JsonError(absl::StrCat("stage \"", stage, "\" is not a source that can pause")), kJson);
      return;
    }
    const absl::Status status =
        pause ? probe->PausePartition(topic, partition) : probe->ResumePartition(topic, partition);
    if (!status.ok()) {
      response.status = absl::IsNotFound(status) ? 404 : 400;
      response.set_content(JsonError(std::string(status.message())), kJson);
      return;
    }
    spdlog::info("ops: stage \"{}\" partition {}/{} {} by an operator", stage, topic, partition,
                 pause ? "paused" : "resumed");
    response.set_content(PausedJson(), kJson);
  }

  std::string PausedJson() const {
    std::string body = absl::StrCat("{\"pipeline\": ", JsonString(pipeline_.name()),
                                    ", \"paused\": ", pipeline_.paused() ? "true" : "false",
                                    ", \"partitions\": [");
    bool first = true;
    for (const SourceProbeRegistry::Entry& entry : probes_->entries()) {
      for (const HeldPartition& held : entry.probe->held()) {
        absl::StrAppend(&body, first ? "" : ", ", "{\"stage\": ", JsonString(entry.stage),
                        ", \"topic\": ", JsonString(held.topic),
                        ", \"partition\": ", held.partition, "}");
        first = false;
      }
    }
    body += "]}\n";
    return body;
  }

  void SampleLoop() {
    const absl::Duration interval = std::min(options_.sample_interval, options_.stuck_after / 4);
    while (true) {
      readiness_.Sample(pipeline_, *probes_, absl::Now());
      std::unique_lock<Mutex> lock(mu_);
      if (cv_.wait_for(lock, absl::ToChronoMilliseconds(interval),
                       [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stop_; })) {
        return;
      }
    }
  }

  Pipeline& pipeline_;
  const std::shared_ptr<const SourceProbeRegistry> probes_;
  const OpsOptions options_;
  const bool token_required_;
  ReadinessTracker readiness_;
  httplib::Server server_;
  std::thread server_thread_;
  std::atomic<bool> listen_returned_{false};
  std::thread sampler_thread_;
  std::string address_;
  int port_ = 0;

  Mutex mu_;
  CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  TokenBucket bucket_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<OpsServer>> OpsServer::Start(
    Pipeline& pipeline, std::shared_ptr<const SourceProbeRegistry> probes, OpsOptions options) {
  if (options.admin && options.token.empty()) {
    return absl::InvalidArgumentError(
        "metrics: admin actions need a token (metrics: {admin: true, token: ${TOKEN}})");
  }
  if (!(options.requests_per_second > 0)) {
    return absl::InvalidArgumentError("metrics: requests_per_second must be positive");
  }
  if (options.stuck_after <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("metrics: stuck_after must be positive");
  }
  if (probes == nullptr) probes = std::make_shared<SourceProbeRegistry>();
  auto parsed = ParseListenAddress(options.address);
  if (!parsed.ok()) return parsed.status();
  const auto& [host, port] = *parsed;
  const bool loopback = IsLoopbackHost(host);
  if (!loopback && options.token.empty()) {
    spdlog::warn("ops: metrics endpoint on {} (beyond loopback) without a token", host);
  }
  auto impl = std::make_unique<Impl>(pipeline, std::move(probes), std::move(options), loopback);
  if (absl::Status listening = impl->Listen(host, port); !listening.ok()) return listening;
  return std::unique_ptr<OpsServer>(new OpsServer(std::move(impl)));
}

OpsServer::OpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OpsServer::~OpsServer() = default;
const std::string& OpsServer::address() const { return impl_->address(); }
int OpsServer::port() const { return impl_->port(); }

}  // namespace sluice::ops
