#pragma once

// A proxy's sync state for one resource type (issue 12): from what strait-cp sent it, what it
// answered and what it should run, one word an operator can alert on. Pure: the caller passes
// the time, so that tests drive it with a simulated one.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "control/discovery_session.h"

namespace strait::cp {

// In the order evaluateSync() tries them: the first that applies wins.
enum class SyncState { Disconnected, NotSent, Nacked, Stale, Lagging, Drifted, Synced };

// "DISCONNECTED", "NOT_SENT", "NACKED", "STALE", "LAGGING", "DRIFTED", "SYNCED".
std::string_view syncStateName(SyncState state);

struct SyncResult {
  SyncState state = SyncState::NotSent;
  std::chrono::steady_clock::duration age{};  // Stale: since the unanswered response was sent
  std::string error;                          // Nacked: the proxy's error message
};

// The sync state of one node's type. `connected`: the node has a live stream or poll.
// `intended`: the version the node should run (its snapshot's, GroupSnapshot::forNode();
// empty when its group has no snapshot). `applied_version`: the version the proxy reports it
// applied, when it reports one. In order:
//
// - Disconnected: not connected.
// - NotSent: nothing of the type was sent, ACKed or NACKed (subscribed or not). A version the
//   proxy named in its first request counts as ACKed: it runs it, from an earlier stream or
//   another replica, and is not sent it again.
// - Nacked: the last answer to the version in force (the last one sent; the intended one when
//   nothing is sent on this stream or poll) was a NACK. `error` is the proxy's message.
// - Stale: a response was sent and is not answered yet; `age` = now - sent.at.
// - Lagging: the ACKed version (none counts) is not the intended one. Also while a push's
//   removals wait: the version with the dropped resources still in it is not the intended one.
// - Drifted: the proxy reports an applied version other than the one it ACKed.
// - Synced.
SyncResult evaluateSync(bool connected, const TypeState& state, const std::string& intended,
                        const std::optional<std::string>& applied_version, SteadyTime now);

}  // namespace strait::cp
