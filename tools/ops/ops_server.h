// File: tools/ops/ops_server.h
//
// OpsServer is a running pipeline's operations endpoint (issue #8): a small
// HTTP server (cpp-httplib) on a loopback port by default, serving
//
//   GET  /metrics          Prometheus text format (metrics_collector.h)
//   GET  /healthz          200 while the supervision tree copes, else 503
//   GET  /readyz           200 when ready (readiness.h), else 503
//   POST /admin/pause      the whole pipeline, or ?stage=S&topic=T&partition=P
//   POST /admin/resume     the same
//   GET  /admin/paused     what is paused
//
// with JSON bodies saying why; docs/metrics.md has every body and status.
//
//   OpsOptions options{.address = "127.0.0.1:0"};
//   SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<OpsServer> server,
//                           OpsServer::Start(*pipeline, config.probes, options));
//   std::cerr << "metrics on http://" << server->address() << "\n";
//
// Guards. A bearer token (`Authorization: Bearer <token>`) is required for
// every endpoint when a token is set and the address is not loopback, and
// always for /admin (which is off unless `admin` and a token are set): 401
// without one, 403 with a wrong one or admin off. Request bodies above
// max_body_bytes get 413; more requests than the server's token bucket
// allows get 429. The token is a secret: it is never logged or echoed.
//
// Thread-safe; the server and a readiness sampler run on threads of their
// own until the object is destroyed. The pipeline and the probes must
// outlive it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "pipeline/pipeline.h"
#include "pipeline/source_probe.h"

namespace sluice::ops {

struct OpsOptions {
  // HOST:PORT to listen on; "[::1]:PORT" for IPv6; a bare PORT or ":PORT"
  // means 127.0.0.1. PORT 0 picks a free port (see address()). Defaults to
  // 127.0.0.1:9464.
  std::string address = "127.0.0.1:9464";
  // The bearer token; "" = none. REQUIRES: set if `admin`.
  std::string token;
  // Enables /admin. Defaults to false.
  bool admin = false;
  // How long a partition's committed offset may stand still with work
  // waiting before /readyz names it stuck. Defaults to 60s. REQUIRES: > 0.
  absl::Duration stuck_after = absl::Seconds(60);
  // How often readiness samples the partitions. Defaults to 1s (or
  // stuck_after / 4 if shorter).
  absl::Duration sample_interval = absl::Seconds(1);
  // Requests with a larger body get 413. Defaults to 4096.
  size_t max_body_bytes = 4096;
  // Requests per second over all clients (a token bucket; burst twice
  // that); beyond it 429. Defaults to 100: Prometheus scrapes every 15s,
  // a probe every few seconds; a hundred a second is a client gone wrong.
  // REQUIRES: > 0.
  double requests_per_second = 100;
  // For sluice_build_info and sluice_uptime_seconds.
  std::string version = "unknown";
  std::string build_type = "unknown";
  absl::Time started_at = absl::Now();
};

class OpsServer {
 public:
  // Binds and starts serving. Errors: kInvalidArgument for a malformed
  // address or admin without a token, kUnavailable if the address cannot
  // be bound (in use, not local).
  static absl::StatusOr<std::unique_ptr<OpsServer>> Start(
      Pipeline& pipeline, std::shared_ptr<const SourceProbeRegistry> probes, OpsOptions options);
  // Stops serving (in-flight requests finish first).
  ~OpsServer();
  OpsServer(const OpsServer&) = delete;
  OpsServer& operator=(const OpsServer&) = delete;

  // "HOST:PORT" as bound (the real port when 0 was asked).
  const std::string& address() const;
  int port() const;

 private:
  class Impl;
  explicit OpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "host:port" -> (host, port); a bare port or ":port" gets 127.0.0.1.
// Errors: kInvalidArgument naming the text.
absl::StatusOr<std::pair<std::string, int>> ParseListenAddress(std::string_view text);
// 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(std::string_view host);

}  // namespace sluice::ops
