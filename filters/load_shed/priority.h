#pragma once

// A request's priority class for the load_shed filter (docs/config.md, "load_shed"), from, in
// this order: the route's key (`priority.routes`), the priority header when the peer is trusted
// to set it (`priority.header`, `priority.trusted_principals`), the peer's principal
// (`priority.principals`, first pattern that matches), then `priority.default`.
//
// Immutable after construction; resolve() is safe from any thread and allocates nothing.

#include <optional>
#include <string_view>

#include "filters/load_shed/config.h"

namespace strait::filters::load_shed {

// "critical" | "important" | "nice_to_have".
std::optional<Priority> parsePriority(std::string_view text);

enum class PrioritySource { Route, Header, Principal, Default };

struct PriorityResult {
  Priority priority = Priority::Important;
  PrioritySource source = PrioritySource::Default;
  // The header was sent by a peer not trusted to set it (ignored). Reported whether or not a
  // route key would have decided anyway: an untrusted client trying is worth seeing.
  bool untrusted_header = false;
  // The header came from a trusted peer but named no class (ignored).
  bool invalid_header = false;
};

class PriorityResolver {
 public:
  explicit PriorityResolver(const PriorityConfig& config) : config_(config) {}

  // `route_name`: the matched route's name (empty: none or unnamed). `header`: the priority
  // header's value, if sent. `principal`: the peer's verified SPIFFE ID, empty without mTLS.
  // `route_class`: the route's own `priority` key, which wins over the `routes` map.
  PriorityResult resolve(std::string_view route_name, std::optional<std::string_view> header,
                         std::string_view principal,
                         std::optional<Priority> route_class = std::nullopt) const;

  const PriorityConfig& config() const { return config_; }

 private:
  bool trusted(std::string_view principal) const;

  const PriorityConfig config_;
};

}  // namespace strait::filters::load_shed
