#include "proxy/http/forwarded_client_cert.h"

namespace strait::http {

namespace {
constexpr std::string_view kXfcc = "x-forwarded-client-cert";
}  // namespace

void applyForwardedClientCert(config::ForwardClientCert mode,
                              const network::Connection& connection, HeaderMap& headers) {
  const network::TlsInfo* info = connection.tlsInfo();
  const bool has_peer_cert = info != nullptr && !info->peer_certificate_sha256.empty();
  if (!has_peer_cert) {
    headers.remove(kXfcc);
    return;
  }
  std::string ours;
  if (!info->local_principal.empty()) {
    ours.append("By=").append(info->local_principal).append(";");
  }
  if (!info->peer_principal.empty()) {
    ours.append("URI=").append(info->peer_principal).append(";");
  }
  ours.append("Hash=").append(info->peer_certificate_sha256);
  std::string value;
  if (mode == config::ForwardClientCert::AppendForward) {
    headers.removeIf([&](const HeaderEntry& e) {
      if (e.name != kXfcc) {
        return false;
      }
      value.append(e.value).append(",");
      return true;
    });
  } else {
    headers.remove(kXfcc);
  }
  value.append(ours);
  headers.add(kXfcc, value);
}

}  // namespace strait::http
