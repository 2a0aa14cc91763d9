#pragma once

// The discovery protocol over HTTP (docs/discovery-protocol.md): `POST /v1/discovery` is one
// long-lived stream per proxy (HTTP/2; request body: DiscoveryRequest lines, response body:
// DiscoveryResponse lines), `POST /v1/discovery/<type>` a long-poll for one type (HTTP/1.1 or
// 2; parked until there is something to send or the hold time passed: 304). Each stream is a
// fresh DiscoverySession; long-polls of one node share one. What every node was sent, ACKed
// and NACKed stays after it disconnects, for the status page.

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "control/discovery_session.h"
#include "control/divergence.h"
#include "control/histogram.h"
#include "control/http_server.h"
#include "control/snapshot_store.h"

struct uv_loop_s;
struct uv_timer_s;

namespace strait::cp {

struct DiscoveryServerOptions {
  std::string identifier = "strait-cp";  // control_plane.identifier in every response
  std::chrono::milliseconds hold{30000};  // long-poll hold time
  // With TLS: a proxy's certificate must name its group (URI SAN ending "/sa/<node.cluster>").
  bool require_identity = false;
  DivergenceOptions divergence;
};

struct TypeCounters {
  uint64_t pushes = 0;
  uint64_t acks = 0;
  uint64_t nacks = 0;
  uint64_t stale = 0;
  Histogram push_latency;  // a response sent -> its ACK
  // The source change -> a proxy's ACK of the version it brought (proxies connected since
  // before the change only: a proxy that connects later converges from its own connect).
  Histogram convergence;
};

// A node as the status page and /metrics show it.
struct NodeView {
  config::DiscoveryNode node;
  bool connected = false;
  std::string transport;  // "stream" or "poll"
  const DiscoverySession* session = nullptr;
  const DivergenceDetector::Entry* report = nullptr;  // its last report, if any
  SteadyTime last_seen{};  // its last request or report
};

class DiscoveryServer {
 public:
  DiscoveryServer(uv_loop_s* loop, SnapshotStore& store, DiscoveryServerOptions options);
  ~DiscoveryServer();

  // Serves `exchange` when its path is a discovery one; false otherwise.
  bool handle(const ExchangePtr& exchange);
  // The group's snapshot changed: push to its streams, answer its parked polls.
  void onPublish(const std::string& group);

  std::vector<NodeView> nodes() const;
  size_t connectedStreams() const;
  const TypeCounters& counters(config::ResourceType type) const {
    return counters_[static_cast<size_t>(type)];
  }
  uint64_t rejectedIdentities() const { return rejected_identities_; }
  uint64_t reports() const { return reports_; }
  // The behavioural findings now (control/divergence.h).
  std::vector<Finding> findings(SteadyTime now);
  uint64_t badRequests() const { return bad_requests_; }

 private:
  struct Stream;
  struct Poll;
  struct NodeEntry {
    config::DiscoveryNode node;
    std::shared_ptr<DiscoverySession> session;
    std::string transport;
    bool connected = false;
    SteadyTime session_since{};  // when its session began (convergence counts only after)
    SteadyTime last_seen{};
  };

  void openStream(const ExchangePtr& exchange);
  void onStreamLine(const std::shared_ptr<Stream>& stream, std::string_view line);
  // A report line; false (with `error`) when it is not one or names another node.
  bool onReport(const config::DiscoveryNode& node, std::string_view line, std::string& error);
  void openReport(const ExchangePtr& exchange);
  DivergenceDetector::IntendedFn intendedFn() const;
  void pushStream(Stream& stream);
  void closeStream(const std::shared_ptr<Stream>& stream);
  void openPoll(const ExchangePtr& exchange, config::ResourceType type);
  void onPollRequest(const std::shared_ptr<Poll>& poll, std::string_view body);
  // Answers `poll` when its session has something to send; false when it stays parked.
  bool answerPoll(const std::shared_ptr<Poll>& poll);
  void closePoll(const std::shared_ptr<Poll>& poll, int status);
  // Nullopt when the request may go on; else the reason it is refused.
  std::optional<std::string> checkIdentity(const HttpRequest& http,
                                           const config::DiscoveryNode& node);
  void count(const std::vector<config::DiscoveryResponse>& sent);
  void countRequest(config::ResourceType type, DiscoverySession::RequestKind kind);
  // Runs a request through the node's session, counts it, and times an ACK.
  void answer(DiscoverySession& session, const config::DiscoveryRequest& request,
              SteadyTime connected_at);

  uv_loop_s* loop_;
  SnapshotStore& store_;
  DiscoveryServerOptions options_;
  std::function<std::string()> next_nonce_;
  std::list<std::shared_ptr<Stream>> streams_;
  std::list<std::shared_ptr<Poll>> polls_;
  std::map<std::string, NodeEntry> nodes_;  // by node id
  std::array<TypeCounters, config::kResourceTypes> counters_{};
  uint64_t rejected_identities_ = 0;
  uint64_t bad_requests_ = 0;
  uint64_t reports_ = 0;
  DivergenceDetector divergence_;
};

}  // namespace strait::cp
