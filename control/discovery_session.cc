#include "control/discovery_session.h"

#include <cstdio>
#include <random>
#include <set>

namespace strait::cp {

namespace {

using config::DiscoveryResponse;
using config::Resource;
using config::ResourceType;

// `target` plus the resources of `applied` that `target` no longer has: the additions and
// changes of a push without its removals.
std::vector<Resource> withoutRemovals(const std::vector<Resource>& target,
                                      const ResourceList& applied, bool& removes) {
  removes = false;
  std::vector<Resource> out = target;
  if (applied == nullptr) {
    return out;
  }
  std::set<std::string> names;
  for (const Resource& resource : target) {
    names.insert(resource.name);
  }
  for (const Resource& resource : *applied) {
    if (names.count(resource.name) == 0) {
      removes = true;
      out.push_back(resource);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Resource& a, const Resource& b) { return a.name < b.name; });
  return out;
}

}  // namespace

DiscoverySession::RequestKind DiscoverySession::onRequest(const config::DiscoveryRequest& request,
                                                          SteadyTime now, SystemTime wall_now) {
  TypeState& state = stateOf(request.type);
  state.subscribed = true;
  if (request.response_nonce.empty()) {
    // A first request on a new stream or poll: the proxy says which version it runs (a proxy
    // moving between replicas computing the same versions need not be sent it again).
    state.awaiting = false;
    state.sent.reset();
    if (!request.version_info.empty() &&
        (!state.acked.has_value() || state.acked->version != request.version_info)) {
      state.acked = AckedState{request.version_info, now, wall_now, nullptr};
    }
    return RequestKind::Initial;
  }
  if (!state.sent.has_value() || request.response_nonce != state.sent->nonce) {
    state.stale++;
    return RequestKind::Stale;
  }
  state.awaiting = false;
  if (request.error_detail.has_value() || request.version_info != state.sent->version) {
    config::ErrorDetail error = request.error_detail.value_or(config::ErrorDetail{
        2, "the proxy answered with version \"" + request.version_info +
               "\" and no error_detail"});
    state.nack = NackState{state.sent->version, state.sent->nonce, std::move(error), now};
    state.nacks++;
    return RequestKind::Nack;
  }
  state.acked = AckedState{state.sent->version, now, wall_now, state.sent->resources};
  state.nack.reset();
  state.acks++;
  return RequestKind::Ack;
}

DiscoveryResponse DiscoverySession::respond(ResourceType type, ResourceList resources,
                                            std::string version, SteadyTime now) {
  TypeState& state = stateOf(type);
  DiscoveryResponse response;
  response.type = type;
  response.version_info = version;
  response.resources = *resources;
  response.nonce = next_nonce_();
  response.control_plane = control_plane_id_;
  state.sent = SentState{std::move(version), response.nonce, now, std::move(resources)};
  state.awaiting = true;
  return response;
}

std::vector<DiscoveryResponse> DiscoverySession::pending(const GroupSnapshot* snapshot,
                                                         SteadyTime now,
                                                         std::optional<ResourceType> only) {
  std::vector<DiscoveryResponse> out;
  if (snapshot == nullptr) {
    return out;
  }
  auto due = [&](const TypeState& state, const std::string& version) {
    if (state.sent.has_value() && state.sent->version == version) {
      return false;
    }
    if (!state.sent.has_value() && state.acked.has_value() && state.acked->version == version) {
      return false;  // the proxy has it already
    }
    return !(state.nack.has_value() && state.nack->version == version);  // refused: not again
  };
  // Additions and changes first, in push order. Every subscribed type counts for whether they
  // are all answered, also those another long-poll of this node will carry.
  bool settled = true;
  for (ResourceType type : config::kPushOrder) {
    TypeState& state = stateOf(type);
    if (!state.subscribed) {
      continue;
    }
    if (state.awaiting) {
      settled = false;
      continue;
    }
    bool removes = false;
    auto staged = std::make_shared<const std::vector<Resource>>(withoutRemovals(
        snapshot->of(type), state.acked.has_value() ? state.acked->resources : nullptr, removes));
    std::string version =
        removes ? config::resourcesVersion(*staged) : snapshot->version(type);
    if (due(state, version)) {
      settled = false;
      if (!only.has_value() || *only == type) {
        out.push_back(respond(type, std::move(staged), std::move(version), now));
      }
    }
  }
  if (!settled) {
    return out;
  }
  // Every addition was answered: now the removals.
  for (ResourceType type : config::kPushOrder) {
    TypeState& state = stateOf(type);
    if (!state.subscribed || (only.has_value() && *only != type)) {
      continue;
    }
    const std::string& version = snapshot->version(type);
    if (due(state, version)) {
      auto target = std::make_shared<const std::vector<Resource>>(snapshot->of(type));
      out.push_back(respond(type, std::move(target), version, now));
    }
  }
  return out;
}

std::function<std::string()> makeNonceSource() {
  std::random_device device;
  uint32_t prefix = device();
  auto counter = std::make_shared<uint64_t>(0);
  return [prefix, counter]() {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%08x-%llu", prefix,
                  static_cast<unsigned long long>(++*counter));
    return std::string(buf);
  };
}

}  // namespace strait::cp
