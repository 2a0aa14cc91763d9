#pragma once

// Which HTTP codec serves a downstream connection. A plaintext listener looks at the first bytes:
// the HTTP/2 connection preface selects HTTP/2 (h2c with prior knowledge), anything else
// HTTP/1.1. A TLS listener selects by the protocol ALPN negotiated instead (protocolFromAlpn).
// Pure functions, no I/O: unit-tested on their own.

#include <cstddef>
#include <string_view>

namespace strait::http {

enum class DownstreamProtocol { Http1, Http2 };

// The client connection preface of HTTP/2 (RFC 9113 3.4).
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum class PrefaceMatch {
  Http2,     // the whole preface is there
  Http1,     // the bytes differ from the preface: not HTTP/2
  NeedMore,  // every byte so far is a prefix of the preface: wait for more
};

// Classifies the first bytes of a connection (`data` holds everything received so far).
PrefaceMatch matchHttp2Preface(std::string_view data);

// The codec for an ALPN-negotiated protocol: "h2" is HTTP/2; "http/1.1", "http/1.0", an empty
// string (no ALPN) or anything else is HTTP/1.1.
DownstreamProtocol protocolFromAlpn(std::string_view alpn);

}  // namespace strait::http
