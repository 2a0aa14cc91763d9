#include "proxy/tls/spiffe.h"

namespace strait::tls {

namespace {

constexpr std::string_view kScheme = "spiffe://";

bool trustDomainChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

bool pathChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '-' || c == '_';
}

std::optional<SpiffeId> reject(std::string* why, const char* reason) {
  if (why != nullptr) {
    *why = reason;
  }
  return std::nullopt;
}

}  // namespace

std::optional<SpiffeId> parseSpiffeId(std::string_view uri, std::string* why) {
  if (uri.substr(0, kScheme.size()) != kScheme) {
    return reject(why, "scheme is not spiffe://");
  }
  std::string_view rest = uri.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view domain = rest.substr(0, slash);
  if (domain.empty()) {
    return reject(why, "empty trust domain");
  }
  for (char c : domain) {
    if (c == ':' || c == '@') {
      return reject(why, "trust domain with a port or user info");
    }
    if (!trustDomainChar(c)) {
      return reject(why, "trust domain with a character outside [a-z0-9._-]");
    }
  }
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    return reject(why, "no workload path");
  }
  std::string_view path = rest.substr(slash);
  // Segments between slashes: none empty (no "//", no trailing '/'), none "." or "..".
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    std::string_view segment = path.substr(start, end - start);
    if (segment.empty()) {
      return reject(why, "empty path segment");
    }
    if (segment == "." || segment == "..") {
      return reject(why, "path segment . or ..");
    }
    for (char c : segment) {
      if (c == '?' || c == '#') {
        return reject(why, "query or fragment");
      }
      if (!pathChar(c)) {
        return reject(why, "path with a character outside [A-Za-z0-9._-]");
      }
    }
    start = end + 1;
  }
  return SpiffeId{std::string(domain), std::string(path), std::string(uri)};
}

}  // namespace strait::tls
