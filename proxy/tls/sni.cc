#include "proxy/tls/sni.h"

#include <algorithm>

namespace strait::tls {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

}  // namespace

CertificateSelector::CertificateSelector(const std::vector<std::vector<std::string>>& names) {
  bool have_fallback = false;
  for (size_t i = 0; i < names.size(); i++) {
    if (names[i].empty() && !have_fallback) {
      fallback_ = i;
      have_fallback = true;
    }
    for (const auto& raw : names[i]) {
      std::string name = lower(raw);
      // The first certificate to claim a name keeps it (config order decides).
      if (name.size() > 2 && name[0] == '*' && name[1] == '.') {
        wildcard_.emplace(name.substr(2), i);
      } else {
        exact_.emplace(std::move(name), i);
      }
    }
  }
}

size_t CertificateSelector::select(std::string_view server_name) const {
  if (!server_name.empty() && server_name.back() == '.') {
    server_name.remove_suffix(1);  // a fully qualified "example.com."
  }
  if (server_name.empty()) {
    return fallback_;
  }
  std::string name = lower(server_name);
  if (auto it = exact_.find(name); it != exact_.end()) {
    return it->second;
  }
  size_t dot = name.find('.');
  if (dot != std::string::npos && dot > 0 && dot + 1 < name.size()) {
    if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end()) {
      return it->second;
    }
  }
  return fallback_;
}

}  // namespace strait::tls
