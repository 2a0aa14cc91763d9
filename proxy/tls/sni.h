#pragma once

// Picks a listener certificate for the server name a client asked for (SNI): an exact name
// first, then a wildcard "*.example.com" covering exactly one more label ("a.example.com", not
// "a.b.example.com" nor "example.com"), then the fallback certificate (the first one without
// server_names, or the first certificate when every one has names).

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace strait::tls {

class CertificateSelector {
 public:
  // names[i]: the server names of certificate i (lower-cased or not; compared lower-cased).
  explicit CertificateSelector(const std::vector<std::vector<std::string>>& names);

  // Index of the certificate for `server_name` (empty: no SNI sent).
  size_t select(std::string_view server_name) const;
  size_t fallback() const { return fallback_; }

 private:
  std::unordered_map<std::string, size_t> exact_;
  std::unordered_map<std::string, size_t> wildcard_;  // by the suffix after "*."
  size_t fallback_ = 0;
};

}  // namespace strait::tls
