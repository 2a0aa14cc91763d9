#include "filters/load_shed/priority.h"

#include "filters/common/request_match.h"

namespace strait::filters::load_shed {

const char* priorityName(Priority priority) {
  switch (priority) {
    case Priority::Critical:
      return "critical";
    case Priority::Important:
      return "important";
    case Priority::NiceToHave:
      return "nice_to_have";
  }
  return "unknown";
}

std::optional<Priority> parsePriority(std::string_view text) {
  if (text == "critical") {
    return Priority::Critical;
  }
  if (text == "important") {
    return Priority::Important;
  }
  if (text == "nice_to_have") {
    return Priority::NiceToHave;
  }
  return std::nullopt;
}

bool PriorityResolver::trusted(std::string_view principal) const {
  for (const std::string& pattern : config_.trusted_principals) {
    if (principalMatches(pattern, principal)) {
      return true;
    }
  }
  return false;
}

PriorityResult PriorityResolver::resolve(std::string_view route_name,
                                         std::optional<std::string_view> header,
                                         std::string_view principal,
                                         std::optional<Priority> route_class) const {
  PriorityResult result;
  std::optional<Priority> from_header;
  if (header.has_value()) {
    if (!trusted(principal)) {
      result.untrusted_header = true;
    } else if ((from_header = parsePriority(*header)), !from_header.has_value()) {
      result.invalid_header = true;
    }
  }
  if (route_class.has_value()) {
    result.priority = *route_class;
    result.source = PrioritySource::Route;
    return result;
  }
  if (!route_name.empty()) {
    auto it = config_.routes.find(route_name);
    if (it != config_.routes.end()) {
      result.priority = it->second;
      result.source = PrioritySource::Route;
      return result;
    }
  }
  if (from_header.has_value()) {
    result.priority = *from_header;
    result.source = PrioritySource::Header;
    return result;
  }
  for (const auto& [pattern, priority] : config_.principals) {
    if (principalMatches(pattern, principal)) {
      result.priority = priority;
      result.source = PrioritySource::Principal;
      return result;
    }
  }
  result.priority = config_.default_class;
  return result;
}

}  // namespace strait::filters::load_shed
