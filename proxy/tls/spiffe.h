#pragma once

// SPIFFE IDs (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md) as they appear in
// a workload certificate's URI SAN: spiffe://<trust-domain>/<path>.

#include <optional>
#include <string>
#include <string_view>

namespace strait::tls {

struct SpiffeId {
  std::string trust_domain;  // e.g. "example.org"
  std::string path;          // e.g. "/ns/default/sa/web" (never empty for a workload)
  std::string uri;           // the whole ID as it appeared
};

// Parses a workload SPIFFE ID. Returns nullopt and, when `why` is given, a short reason for
// anything the standard forbids: another scheme, an empty or invalid trust domain (lower-case
// letters, digits, '.', '-', '_'), a port or user info, an empty path, empty, "." or ".."
// segments, a trailing '/', a query or a fragment, or characters outside [A-Za-z0-9._-].
std::optional<SpiffeId> parseSpiffeId(std::string_view uri, std::string* why = nullptr);

}  // namespace strait::tls
