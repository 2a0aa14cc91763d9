#pragma once

// x-forwarded-client-cert (XFCC) on requests the proxy forwards: who the downstream client
// proved to be in its TLS handshake, as `By=<our SPIFFE ID>;URI=<peer SPIFFE ID>;Hash=<sha256
// of the peer certificate's DER, hex>` (By only when our certificate carries a SPIFFE ID).
//
// Only the proxy may speak for the handshake: whatever a client sent in this header is dropped
// (sanitize), or kept and extended only when the client itself authenticated with a certificate
// (append_forward, for a trusted proxy in front).

#include "config/types.h"
#include "strait/http/header_map.h"
#include "strait/network/connection.h"

namespace strait::http {

void applyForwardedClientCert(config::ForwardClientCert mode,
                              const network::Connection& connection, HeaderMap& headers);

}  // namespace strait::http
