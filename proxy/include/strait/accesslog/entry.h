#pragma once

// What one access log line says about one stream (docs/config.md, "access_log"). Plain data
// with views into the stream's own request, so filling one in allocates nothing; it is valid
// only while the stream that filled it is.

#include <cstdint>
#include <string_view>

#include "strait/common/time.h"

namespace strait::accesslog {

struct Entry {
  SystemTime start_time{};
  // Empty strings are written as JSON null (and "-" in the text format).
  std::string_view method;
  std::string_view authority;
  std::string_view path;
  std::string_view protocol;        // "HTTP/1.1"
  uint16_t status = 0;              // 0: no response was sent
  std::string_view response_flags;  // "UF,URX"; empty: "-"
  uint64_t bytes_received = 0;      // request body bytes from downstream
  uint64_t bytes_sent = 0;          // response body bytes to downstream
  uint64_t duration_us = 0;
  // From the start of the last upstream attempt to its response headers; negative: none.
  int64_t upstream_service_time_us = -1;
  std::string_view upstream_host_address;  // empty: no upstream was picked
  uint16_t upstream_host_port = 0;
  std::string_view upstream_cluster;
  std::string_view route_name;
  std::string_view request_id;
  std::string_view downstream_remote_address;  // "ip:port"
  std::string_view user_agent;
  std::string_view x_forwarded_for;
  uint32_t attempts = 0;
  uint32_t winning_attempt = 0;  // the attempt whose response went downstream (1: the first)
};

}  // namespace strait::accesslog
