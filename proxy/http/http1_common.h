#pragma once

// Helpers shared by the HTTP/1.1 server and client codecs: header-name classification, case and
// whitespace handling, reason phrases, llhttp error names, and the small text builder the encoders
// use to emit a message head with a single Buffer::add.

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "strait/buffer/buffer.h"

namespace strait::http::http1 {

// How the body of the message being encoded is framed on the wire.
enum class BodyFraming : uint8_t {
  None,      // no body may follow: data handed to encodeData() is discarded
  Identity,  // content-length or close-delimited: bytes are passed through
  Chunked,   // chunk framing added around each piece
};

// Moves `data` into `out` framed per `framing`; with Chunked and `end_stream` writes the last
// chunk. `data` is left empty.
void encodeBody(BodyFraming framing, buffer::Buffer& data, bool end_stream, buffer::Buffer& out);

// Appends "name: value\r\n".
void appendHeader(std::string& h, std::string_view name, std::string_view value);

// The header names the codecs treat specially. Classified once when a field name completes so
// the value handler does not compare strings again.
enum class HeaderKind : uint8_t {
  Other,
  Host,
  ContentLength,
  TransferEncoding,
  Expect,
  Connection,
  Upgrade,
  KeepAlive,
  ProxyConnection,
  Te,
  Trailer,
};

// `name` must be lower-case.
HeaderKind classifyHeader(std::string_view name);

// Hop-by-hop headers (RFC 9110 7.6.1 plus the legacy proxy-connection / keep-alive) that never
// cross the proxy: the encoders drop them and write their own framing and connection headers.
inline bool isHopByHop(HeaderKind kind) {
  return kind == HeaderKind::Connection || kind == HeaderKind::KeepAlive ||
         kind == HeaderKind::ProxyConnection || kind == HeaderKind::TransferEncoding ||
         kind == HeaderKind::Upgrade || kind == HeaderKind::Te || kind == HeaderKind::Trailer;
}

// Appends `len` bytes to `out`, lower-casing ASCII letters.
void appendLower(std::string& out, const char* data, size_t len);

// Removes leading and trailing spaces and tabs in place.
void trimInPlace(std::string& s);

bool equalsIgnoreCase(std::string_view a, std::string_view b);

// True if the comma-separated token list `value` contains `token` (case-insensitive).
bool hasToken(std::string_view value, std::string_view token);

// "OK", "Not Found", ...; "Unknown" for codes without a registered phrase.
std::string_view reasonPhrase(uint16_t status);

// A short lower-case token naming an llhttp error, used as the `reason` of error callbacks.
std::string_view parserErrorReason(llhttp_errno_t err);

// A per-thread scratch string the encoders build a message head in. clear() keeps the capacity,
// so after the first few responses building a head allocates nothing.
std::string& headScratch();

void appendDecimal(std::string& out, uint64_t v);

}  // namespace strait::http::http1
