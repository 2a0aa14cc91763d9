#pragma once

// One proxy's side of the discovery protocol as strait-cp keeps it (docs/discovery-protocol.md),
// apart from any transport: an HTTP/2 stream or a series of HTTP/1.1 long-polls feed it the
// proxy's requests and send the responses it asks for. Per resource type it keeps what was
// sent (version, nonce, resources, when), what the proxy ACKed, and its last NACK with the
// proxy's error, so that it can tell an ACK from a NACK from a stale request and knows what to
// push next: types in push order (clusters, endpoints, listeners, routes, ...), one response
// per type outstanding at a time, and removals only once every addition was answered.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/discovery.h"
#include "control/source.h"

namespace strait::cp {

using SteadyTime = std::chrono::steady_clock::time_point;
using SystemTime = std::chrono::system_clock::time_point;
using ResourceList = std::shared_ptr<const std::vector<config::Resource>>;

struct SentState {
  std::string version;
  std::string nonce;
  SteadyTime at{};
  ResourceList resources;
};

struct AckedState {
  std::string version;
  SteadyTime at{};
  // The same moment on the wall clock, for what is shown as a date (/metrics' last ACK
  // timestamp); `at` stays the one to measure ages with.
  SystemTime wall_at{};
  ResourceList resources;  // null: the proxy said it had `version` (a resumed stream)
};

struct NackState {
  std::string version;  // the version it refused
  std::string nonce;
  config::ErrorDetail error;
  SteadyTime at{};
};

struct TypeState {
  bool subscribed = false;
  bool awaiting = false;  // a response was sent and not yet answered
  std::optional<SentState> sent;
  std::optional<AckedState> acked;
  std::optional<NackState> nack;
  uint64_t acks = 0;
  uint64_t nacks = 0;
  uint64_t stale = 0;
};

class DiscoverySession {
 public:
  enum class RequestKind { Initial, Ack, Nack, Stale };

  DiscoverySession(config::DiscoveryNode node, std::string control_plane_id,
                   std::function<std::string()> next_nonce)
      : node_(std::move(node)),
        control_plane_id_(std::move(control_plane_id)),
        next_nonce_(std::move(next_nonce)) {}

  // A request from the proxy (for request.type). A stale one changes nothing but its counter.
  // `now` and `wall_now` are the same moment on both clocks.
  RequestKind onRequest(const config::DiscoveryRequest& request, SteadyTime now,
                        SystemTime wall_now);

  // The responses to send now for `snapshot` (null: the group has none yet), recorded as sent.
  // `only`: just that type (a long-poll asks for one).
  std::vector<config::DiscoveryResponse> pending(const GroupSnapshot* snapshot, SteadyTime now,
                                                 std::optional<config::ResourceType> only = {});

  const config::DiscoveryNode& node() const { return node_; }
  const TypeState& state(config::ResourceType type) const {
    return types_[static_cast<size_t>(type)];
  }

 private:
  TypeState& stateOf(config::ResourceType type) { return types_[static_cast<size_t>(type)]; }
  config::DiscoveryResponse respond(config::ResourceType type, ResourceList resources,
                                    std::string version, SteadyTime now);

  config::DiscoveryNode node_;
  std::string control_plane_id_;
  std::function<std::string()> next_nonce_;
  std::array<TypeState, config::kResourceTypes> types_;
};

// Fresh nonces: a random per-process prefix and a counter ("3f2a9c1b-17").
std::function<std::string()> makeNonceSource();

}  // namespace strait::cp
