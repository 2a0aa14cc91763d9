#include "proxy/http/access_log_emit.h"

#include "proxy/http/active_stream.h"
#include "proxy/http/conn_manager.h"

// Filling an accesslog::Entry from a stream, kept apart from active_stream.cc so that the
// request path reads without it. Everything is a view into the stream's request, its route,
// cluster and host; the worker's WorkerLog formats and queues the line before any of them can
// go away.

namespace strait::http {

namespace {

constexpr std::string_view kHttp11 = "HTTP/1.1";
constexpr std::string_view kHttp10 = "HTTP/1.0";

uint64_t microsSince(MonotonicTime from, MonotonicTime to) {
  auto d = std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
  return d < 0 ? 0 : static_cast<uint64_t>(d);
}

std::string_view headerValue(const HeaderMap& headers, std::string_view name) {
  const std::string* value = headers.get(name);
  return value == nullptr ? std::string_view() : std::string_view(*value);
}

// The access log settings in force on the worker, or null when logging is off. The config the
// worker runs now decides (not the one a stream started with): after a reload, every line
// written to the new file uses the new format.
const config::AccessLog* accessLogConfig(const WorkerContext& worker) {
  if (worker.access_log == nullptr || worker.snapshot == nullptr) {
    return nullptr;
  }
  return worker.snapshot->accessLog();
}

accesslog::Format formatOf(const config::AccessLog& config) {
  return config.format == config::AccessLogFormat::Text ? accesslog::Format::Text
                                                        : accesslog::Format::Json;
}

}  // namespace

void ActiveStream::emitAccessLog() {
  if (access_logged_) {
    return;
  }
  access_logged_ = true;
  const config::AccessLog* config = accessLogConfig(worker_);
  if (config == nullptr) {
    return;
  }
  MonotonicTime now = worker_.dispatcher.approximateMonotonicTime();
  accesslog::Entry e;
  e.duration_us = microsSince(start_, now);
  e.start_time = worker_.dispatcher.timeSource().systemTime() -
                 std::chrono::duration_cast<SystemTime::duration>(now - start_);
  if (request_ != nullptr) {
    e.protocol = request_->version_major == 2   ? std::string_view("HTTP/2")
                 : request_->version_minor == 0 ? kHttp10
                                                : kHttp11;
    e.method = request_->method;
    e.authority = request_->authority;
    e.path = request_->path;
    e.request_id = headerValue(request_->headers, "x-request-id");
    e.user_agent = headerValue(request_->headers, "user-agent");
    e.x_forwarded_for = headerValue(request_->headers, "x-forwarded-for");
  }
  e.status = response_status_;
  e.response_flags = flags_;
  e.bytes_received = bytes_received_;
  e.bytes_sent = head_request_ ? 0 : bytes_sent_;
  if (router_.has_value()) {
    if (router_->upstreamResponded()) {
      e.upstream_service_time_us = static_cast<int64_t>(
          microsSince(router_->attemptStartedAt(), router_->responseHeadersAt()));
    }
    if (const upstream::Host* host = router_->lastHost(); host != nullptr) {
      e.upstream_host_address = host->address();
      e.upstream_host_port = host->port();
    }
    e.upstream_cluster = router_->clusterInfo().config.name;
    e.attempts = router_->attempts();
    e.winning_attempt = router_->winningAttempt();
  }
  if (route_ != nullptr) {
    e.route_name = route_->route().name;
  }
  e.downstream_remote_address = downstream_.connection().remoteAddressAndPort();
  worker_.access_log->log(formatOf(*config), e);
}

namespace {

// A line with no request: what happened to a connection (codec refusal, connection fault).
void emitConnectionLine(WorkerContext& worker, const network::Connection& connection,
                        MonotonicTime start, uint16_t status, std::string_view flags,
                        uint64_t bytes_received, uint64_t bytes_sent) {
  const config::AccessLog* config = accessLogConfig(worker);
  if (config == nullptr) {
    return;
  }
  MonotonicTime now = worker.dispatcher.approximateMonotonicTime();
  accesslog::Entry e;
  e.duration_us = microsSince(start, now);
  e.start_time = worker.dispatcher.timeSource().systemTime() -
                 std::chrono::duration_cast<SystemTime::duration>(now - start);
  e.status = status;
  e.response_flags = flags;
  e.bytes_received = bytes_received;
  e.bytes_sent = bytes_sent;
  e.downstream_remote_address = connection.remoteAddressAndPort();
  worker.access_log->log(formatOf(*config), e);
}

}  // namespace

void emitCodecErrorAccessLog(WorkerContext& worker, const network::Connection& connection,
                             uint16_t status, MonotonicTime request_start, uint64_t bytes_sent) {
  emitConnectionLine(worker, connection, request_start, status, "DPE", 0, bytes_sent);
}

void emitConnectionFaultAccessLog(WorkerContext& worker,
                                  const network::Connection& connection, MonotonicTime accepted,
                                  uint64_t bytes_received) {
  emitConnectionLine(worker, connection, accepted, 0, "FI", bytes_received, 0);
}

}  // namespace strait::http
