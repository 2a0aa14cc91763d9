#pragma once

// What router.cc and router_response.cc share.

#include <vector>

#include "config/types.h"
#include "strait/http/header_map.h"

namespace strait::http::router_detail {

// The route's or virtual host's `*_headers_to_add`: appended, or replacing the header.
inline void applyHeaderValues(HeaderMap& headers, const std::vector<config::HeaderValue>& values) {
  for (const auto& hv : values) {
    if (hv.append) {
      headers.add(hv.name, hv.value);
    } else {
      headers.set(hv.name, hv.value);
    }
  }
}

}  // namespace strait::http::router_detail
