#pragma once

// Header translation between HTTP/2 header lists and Strait's RequestHeaders/ResponseHeaders.
// Pure functions (no nghttp2 types), unit-tested on their own.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "strait/http/header_map.h"

namespace strait::http::http2 {

// Adds one received request header field: pseudo-headers fill the request line (`:authority`
// becomes `authority`; a `host` field fills it only when `:authority` is absent), everything
// else goes to `headers`. nghttp2 has already rejected malformed fields, unknown pseudo-headers
// and connection-specific headers (PROTOCOL_ERROR), and allows `te` only as "trailers".
void addRequestField(RequestHeaders& request, std::string_view name, std::string_view value);

// Connection-specific header fields (RFC 9113 8.2.2) that an HTTP/1.1 response may carry and an
// HTTP/2 one must not.
bool isConnectionSpecific(std::string_view name);

// A response head as an HTTP/2 field list: ":status" first, then every header that is not
// connection-specific, names lower-cased. `storage` keeps the strings the views point into.
struct FieldList {
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  std::string status;
  std::vector<std::string> lowered;  // names that were not lower-case already
};
void responseFields(const ResponseHeaders& response, FieldList& out);

// The size a field counts against SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 6.5.2).
inline size_t fieldListSize(std::string_view name, std::string_view value) {
  return name.size() + value.size() + 32;
}

}  // namespace strait::http::http2
