#pragma once

// The proxy's side of the discovery stream (docs/discovery-protocol.md), on the main thread:
// one HTTP/2 connection to strait-cp (nghttp2 over a libuv TCP socket), one long-lived
// `POST /v1/discovery` stream whose request body carries this proxy's DiscoveryRequests and
// whose response body brings DiscoveryResponses. It subscribes to secrets, filter configs, clusters,
// endpoints, listeners and routes, hands each batch of responses to its owner to apply, and answers each
// with an ACK or a NACK. A lost connection is retried with exponential backoff and jitter; the
// state the proxy runs with is its owner's, so a reconnect resumes from the versions applied.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/discovery.h"
#include "proxy/tls/context.h"
#include "strait/common/random.h"

namespace strait::discovery {

struct ClientOptions {
  std::string host;  // an IP address or a name (resolved with uv_getaddrinfo)
  uint16_t port = 0;
  // mTLS to strait-cp (control_plane.tls): ALPN h2, the server verified against the CA, this
  // proxy's certificate presented. Null: plaintext h2c.
  tls::ClientContextSharedPtr tls;
  config::DiscoveryNode node;
  std::vector<config::ResourceType> types = {
      config::ResourceType::Secrets,   config::ResourceType::FilterConfigs,
      config::ResourceType::Clusters,  config::ResourceType::Endpoints,
      config::ResourceType::Listeners, config::ResourceType::Routes};
  uint64_t backoff_base_ms = 250;
  uint64_t backoff_max_ms = 30000;
  // Called when the stream comes up (true) and when it is lost (false).
  std::function<void(bool)> on_connected;
  // Called once per response when it is answered: an empty error for an ACK, else the NACK's.
  std::function<void(config::ResourceType, const std::string&)> on_answered;
  // A response that does not apply yet waits this long for the rest of a push (its endpoints,
  // its routes) before it is NACKed: the types of one push may arrive in separate reads.
  uint64_t settle_ms = 500;
};

struct ClientStats {
  uint64_t connect_attempts = 0;
  uint64_t connects = 0;      // streams that got their response head
  uint64_t disconnects = 0;   // streams lost after that
  uint64_t responses = 0;
  uint64_t bad_responses = 0;  // lines that were not a DiscoveryResponse
  uint64_t reports = 0;        // report lines sent
};

class DiscoveryClient {
 public:
  // Tries to apply responses together, in order; returns one error per response: empty =
  // applied, else why not (the client may try it again with the next arrivals before it NACKs).
  using ApplyFn =
      std::function<std::vector<std::string>(const std::vector<config::DiscoveryResponse>&)>;
  // The version of a type the proxy runs now (sent in each first request).
  using VersionFn = std::function<std::string(config::ResourceType)>;

  DiscoveryClient(uv_loop_t* loop, ClientOptions options, RandomGenerator& random, ApplyFn apply,
                  VersionFn version);
  ~DiscoveryClient();
  DiscoveryClient(const DiscoveryClient&) = delete;
  DiscoveryClient& operator=(const DiscoveryClient&) = delete;

  void start();
  // Closes the connection and stops retrying (the loop must run for the handles to close).
  void stop();

  bool connected() const { return streaming_; }
  // Sends a report line (config/report.h) on the stream; false (nothing sent) while it is down.
  bool sendReport(const std::string& line);
  const ClientStats& stats() const { return stats_; }
  // Why the last connection ended or failed ("connect: connection refused"); empty if none.
  const std::string& lastError() const { return last_error_; }

  class Connection;

 private:
  friend class Connection;
  void connect();
  void scheduleReconnect(const std::string& why);
  void onStreaming();
  void onResponses(std::vector<config::DiscoveryResponse> responses);
  void answer(const config::DiscoveryResponse& response, const std::string& error);
  void nackWaiting();

  uv_loop_t* loop_;
  ClientOptions options_;
  RandomGenerator& random_;
  ApplyFn apply_;
  VersionFn version_;
  uv_timer_t* retry_timer_ = nullptr;
  uv_timer_t* settle_timer_ = nullptr;
  // Responses of this stream that did not apply yet, with their last error.
  std::vector<config::DiscoveryResponse> waiting_;
  std::vector<std::string> waiting_errors_;
  std::unique_ptr<Connection> connection_;
  uint32_t failures_ = 0;
  bool streaming_ = false;
  bool stopped_ = false;
  ClientStats stats_;
  std::string last_error_;
};

}  // namespace strait::discovery
