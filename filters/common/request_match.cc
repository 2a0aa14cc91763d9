#include "filters/common/request_match.h"

namespace strait::filters {

bool principalMatches(std::string_view pattern, std::string_view principal) {
  if (principal.empty()) {
    return false;
  }
  if (pattern == "*") {
    return true;
  }
  size_t p = 0;
  size_t s = 0;
  while (p < pattern.size()) {
    if (pattern[p] == '*') {
      if (p + 1 == pattern.size()) {
        return true;  // a trailing `*`: the rest, whatever it holds
      }
      // Inside: one path segment (no '/'), possibly empty.
      while (s < principal.size() && principal[s] != '/') {
        s++;
      }
      p++;
      continue;
    }
    if (s >= principal.size() || principal[s] != pattern[p]) {
      return false;
    }
    p++;
    s++;
  }
  return s == principal.size();
}

RequestMatcher::RequestMatcher(RequestMatchConfig config) : config_(std::move(config)) {
  for (const config::HeaderMatcher& header : config_.headers) {
    regexes_.push_back(header.kind == config::StringMatchKind::Regex
                           ? std::make_unique<RE2>(header.value, RE2::Quiet)
                           : nullptr);
  }
}

bool RequestMatcher::headerMatches(size_t index, const RequestAttributes& request) const {
  const config::HeaderMatcher& m = config_.headers[index];
  std::optional<std::string_view> value = request.header(m.name);
  bool result = false;
  if (value.has_value()) {
    switch (m.kind) {
      case config::StringMatchKind::Exact:
        result = *value == m.value;
        break;
      case config::StringMatchKind::Prefix:
        result = value->starts_with(m.value);
        break;
      case config::StringMatchKind::Suffix:
        result = value->ends_with(m.value);
        break;
      case config::StringMatchKind::Regex:
        result = regexes_[index]->ok() &&
                 RE2::FullMatch(re2::StringPiece(value->data(), value->size()), *regexes_[index]);
        break;
      case config::StringMatchKind::Present:
        result = true;
        break;
    }
  }
  return result != m.invert;
}

bool RequestMatcher::matches(const RequestAttributes& request) const {
  if (!config_.prefix.empty() && !request.path().starts_with(config_.prefix)) {
    return false;
  }
  for (size_t i = 0; i < config_.headers.size(); ++i) {
    if (!headerMatches(i, request)) {
      return false;
    }
  }
  if (config_.principals.empty()) {
    return true;
  }
  for (const std::string& pattern : config_.principals) {
    if (principalMatches(pattern, request.principal())) {
      return true;
    }
  }
  return false;
}

}  // namespace strait::filters
