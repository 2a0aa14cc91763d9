#include "proxy/accesslog/formatter.h"

#include <charconv>

namespace strait::accesslog {

namespace {

constexpr char kHex[] = "0123456789abcdef";

void appendUnicodeEscape(std::string& out, unsigned char c) {
  const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
  out.append(escaped, sizeof(escaped));
}

// The length of the valid UTF-8 sequence starting at in[i] (2 to 4), or 0 when the bytes there
// are not one (Unicode 15, table 3-7: no overlong forms, no surrogates, nothing past U+10FFFF).
size_t validSequenceLength(std::string_view in, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(in[k]); };
  auto inRange = [&](size_t k, unsigned char lo, unsigned char hi) {
    return k < in.size() && byte(k) >= lo && byte(k) <= hi;
  };
  unsigned char lead = byte(i);
  if (lead >= 0xc2 && lead <= 0xdf) {
    return inRange(i + 1, 0x80, 0xbf) ? 2 : 0;
  }
  if (lead >= 0xe0 && lead <= 0xef) {
    unsigned char lo = lead == 0xe0 ? 0xa0 : 0x80;
    unsigned char hi = lead == 0xed ? 0x9f : 0xbf;
    return inRange(i + 1, lo, hi) && inRange(i + 2, 0x80, 0xbf) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    unsigned char lo = lead == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = lead == 0xf4 ? 0x8f : 0xbf;
    return inRange(i + 1, lo, hi) && inRange(i + 2, 0x80, 0xbf) && inRange(i + 3, 0x80, 0xbf) ? 4
                                                                                              : 0;
  }
  return 0;
}

bool isPlain(unsigned char c) {
  return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

void appendUnsigned(std::string& out, uint64_t value) {
  char buf[24];
  auto result = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, static_cast<size_t>(result.ptr - buf));
}

void appendPadded(std::string& out, uint64_t value, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; i--) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buf, static_cast<size_t>(width));
}

// Microseconds as milliseconds with three decimals: 1234567 -> "1234.567".
void appendMillis(std::string& out, uint64_t micros) {
  appendUnsigned(out, micros / 1000);
  out += '.';
  appendPadded(out, micros % 1000, 3);
}

void appendJsonString(std::string& out, std::string_view value) {
  if (value.empty()) {
    out.append("null");
    return;
  }
  out += '"';
  appendJsonEscaped(out, value);
  out += '"';
}

void appendHostPort(std::string& out, std::string_view address, uint16_t port, bool escape) {
  bool v6 = address.find(':') != std::string_view::npos;
  if (v6) {
    out += '[';
  }
  if (escape) {
    appendJsonEscaped(out, address);
  } else {
    out.append(address);
  }
  if (v6) {
    out += ']';
  }
  out += ':';
  appendUnsigned(out, port);
}

// Starts the next JSON member: `,"key":` (no comma before the first).
void key(std::string& out, std::string_view name) {
  if (out.back() != '{') {
    out += ',';
  }
  out += '"';
  out.append(name);
  out.append("\":");
}

// A text-format field in double quotes; "-" when empty. Escaped like JSON so that a header value
// can neither end the line nor forge a field.
void appendQuoted(std::string& out, std::string_view value) {
  out += '"';
  if (value.empty()) {
    out += '-';
  } else {
    appendJsonEscaped(out, value);
  }
  out += '"';
}

// A bare text-format field (names and addresses from config or the socket); "-" when empty.
void appendBare(std::string& out, std::string_view value) {
  if (value.empty()) {
    out += '-';
  } else {
    appendJsonEscaped(out, value);
  }
}

}  // namespace

void appendJsonEscaped(std::string& out, std::string_view in) {
  size_t i = 0;
  while (i < in.size()) {
    size_t run = i;
    while (run < in.size() && isPlain(static_cast<unsigned char>(in[run]))) {
      run++;
    }
    out.append(in.data() + i, run - i);
    i = run;
    if (i == in.size()) {
      break;
    }
    auto c = static_cast<unsigned char>(in[i]);
    if (c >= 0x80) {
      size_t len = validSequenceLength(in, i);
      if (len == 0) {
        appendUnicodeEscape(out, c);
        i++;
      } else {
        out.append(in.data() + i, len);
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        appendUnicodeEscape(out, c);  // other controls and DEL
        break;
    }
    i++;
  }
}

void appendRfc3339(std::string& out, SystemTime t) {
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  if (ms < 0) {
    ms = 0;
  }
  int64_t secs = ms / 1000;
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  // Days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil, inverted).
  int64_t z = days + 719468;
  int64_t era = z / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  appendPadded(out, static_cast<uint64_t>(year), 4);
  out += '-';
  appendPadded(out, static_cast<uint64_t>(month), 2);
  out += '-';
  appendPadded(out, static_cast<uint64_t>(day), 2);
  out += 'T';
  appendPadded(out, static_cast<uint64_t>(rem / 3600), 2);
  out += ':';
  appendPadded(out, static_cast<uint64_t>(rem / 60 % 60), 2);
  out += ':';
  appendPadded(out, static_cast<uint64_t>(rem % 60), 2);
  out += '.';
  appendPadded(out, static_cast<uint64_t>(ms % 1000), 3);
  out += 'Z';
}

void formatJson(const Entry& e, std::string& out) {
  out += '{';
  key(out, "start_time");
  out += '"';
  appendRfc3339(out, e.start_time);
  out += '"';
  key(out, "method");
  appendJsonString(out, e.method);
  key(out, "authority");
  appendJsonString(out, e.authority);
  key(out, "path");
  appendJsonString(out, e.path);
  key(out, "protocol");
  appendJsonString(out, e.protocol);
  key(out, "status");
  appendUnsigned(out, e.status);
  key(out, "response_flags");
  appendJsonString(out, e.response_flags.empty() ? std::string_view("-") : e.response_flags);
  key(out, "bytes_received");
  appendUnsigned(out, e.bytes_received);
  key(out, "bytes_sent");
  appendUnsigned(out, e.bytes_sent);
  key(out, "duration_ms");
  appendMillis(out, e.duration_us);
  key(out, "upstream_service_time_ms");
  if (e.upstream_service_time_us < 0) {
    out.append("null");
  } else {
    appendMillis(out, static_cast<uint64_t>(e.upstream_service_time_us));
  }
  key(out, "upstream_host");
  if (e.upstream_host_address.empty()) {
    out.append("null");
  } else {
    out += '"';
    appendHostPort(out, e.upstream_host_address, e.upstream_host_port, true);
    out += '"';
  }
  key(out, "upstream_cluster");
  appendJsonString(out, e.upstream_cluster);
  key(out, "route");
  appendJsonString(out, e.route_name);
  key(out, "request_id");
  appendJsonString(out, e.request_id);
  key(out, "downstream_remote_address");
  appendJsonString(out, e.downstream_remote_address);
  key(out, "user_agent");
  appendJsonString(out, e.user_agent);
  key(out, "x_forwarded_for");
  appendJsonString(out, e.x_forwarded_for);
  key(out, "attempts");
  appendUnsigned(out, e.attempts);
  key(out, "winning_attempt");
  appendUnsigned(out, e.winning_attempt);
  out.append("}\n");
}

void formatText(const Entry& e, std::string& out) {
  out += '[';
  appendRfc3339(out, e.start_time);
  out.append("] \"");
  appendBare(out, e.method);
  out += ' ';
  appendBare(out, e.path);
  out += ' ';
  appendBare(out, e.protocol);
  out.append("\" ");
  appendUnsigned(out, e.status);
  out += ' ';
  appendBare(out, e.response_flags);
  out += ' ';
  appendUnsigned(out, e.bytes_received);
  out += ' ';
  appendUnsigned(out, e.bytes_sent);
  out += ' ';
  appendMillis(out, e.duration_us);
  out += ' ';
  if (e.upstream_service_time_us < 0) {
    out += '-';
  } else {
    appendMillis(out, static_cast<uint64_t>(e.upstream_service_time_us));
  }
  out += ' ';
  appendQuoted(out, e.x_forwarded_for);
  out += ' ';
  appendQuoted(out, e.user_agent);
  out += ' ';
  appendQuoted(out, e.request_id);
  out += ' ';
  appendQuoted(out, e.authority);
  out.append(" \"");
  if (e.upstream_host_address.empty()) {
    out += '-';
  } else {
    appendHostPort(out, e.upstream_host_address, e.upstream_host_port, true);
  }
  out.append("\" ");
  appendBare(out, e.upstream_cluster);
  out += ' ';
  appendBare(out, e.route_name);
  out += ' ';
  appendBare(out, e.downstream_remote_address);
  out += ' ';
  appendUnsigned(out, e.attempts);
  out += ' ';
  appendUnsigned(out, e.winning_attempt);
  out += '\n';
}

}  // namespace strait::accesslog
