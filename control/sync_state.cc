#include "control/sync_state.h"

#include <algorithm>

namespace strait::cp {

namespace {

// Whether the proxy's last answer to `version` was a NACK: it NACKed that version and did not
// ACK it since (a resumed stream may say it runs a version it NACKed earlier).
bool lastAnswerIsNack(const TypeState& state, const std::string& version) {
  if (!state.nack.has_value() || state.nack->version != version) {
    return false;
  }
  return !(state.acked.has_value() && state.acked->version == version &&
           state.acked->at >= state.nack->at);
}

}  // namespace

std::string_view syncStateName(SyncState state) {
  switch (state) {
    case SyncState::Disconnected:
      return "DISCONNECTED";
    case SyncState::NotSent:
      return "NOT_SENT";
    case SyncState::Nacked:
      return "NACKED";
    case SyncState::Stale:
      return "STALE";
    case SyncState::Lagging:
      return "LAGGING";
    case SyncState::Drifted:
      return "DRIFTED";
    case SyncState::Synced:
      return "SYNCED";
  }
  return "UNKNOWN";
}

SyncResult evaluateSync(bool connected, const TypeState& state, const std::string& intended,
                        const std::optional<std::string>& applied_version, SteadyTime now) {
  SyncResult result;
  if (!connected) {
    result.state = SyncState::Disconnected;
    return result;
  }
  if (!state.sent.has_value() && !state.acked.has_value() && !state.nack.has_value()) {
    result.state = SyncState::NotSent;
    return result;
  }
  // A reopened type (a new stream, or a poll with an empty nonce) has nothing sent, yet a
  // version it NACKed is not sent again: then the intended version is the one in force.
  const std::string& in_force = state.sent.has_value() ? state.sent->version : intended;
  if (lastAnswerIsNack(state, in_force)) {
    result.state = SyncState::Nacked;
    result.error = state.nack->error.message;
    return result;
  }
  if (state.awaiting && state.sent.has_value()) {
    result.state = SyncState::Stale;
    // A steady clock does not go back; the max() guards a caller that mixes up time points.
    result.age = std::max(now - state.sent->at, std::chrono::steady_clock::duration::zero());
    return result;
  }
  if (!state.acked.has_value() || state.acked->version != intended) {
    result.state = SyncState::Lagging;
    return result;
  }
  if (applied_version.has_value() && *applied_version != state.acked->version) {
    result.state = SyncState::Drifted;
    return result;
  }
  result.state = SyncState::Synced;
  return result;
}

}  // namespace strait::cp
