#include "proxy/http/http1_common.h"

#include <charconv>

namespace strait::http::http1 {

namespace {

char toLowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

bool isOws(char c) {
  return c == ' ' || c == '\t';
}

// Writes "<hex len>\r\n" into `buf` (at least 18 bytes); returns its length.
size_t formatChunkHeader(char* buf, size_t len) {
  static constexpr char kHex[] = "0123456789abcdef";
  char tmp[16];
  size_t n = 0;
  do {
    tmp[n++] = kHex[len & 0xf];
    len >>= 4;
  } while (len != 0);
  for (size_t i = 0; i < n; ++i) {
    buf[i] = tmp[n - 1 - i];
  }
  buf[n] = '\r';
  buf[n + 1] = '\n';
  return n + 2;
}

}  // namespace

HeaderKind classifyHeader(std::string_view name) {
  // Switch on the length first: nearly every header falls out after one integer compare.
  switch (name.size()) {
    case 2:
      return name == "te" ? HeaderKind::Te : HeaderKind::Other;
    case 4:
      return name == "host" ? HeaderKind::Host : HeaderKind::Other;
    case 6:
      return name == "expect" ? HeaderKind::Expect : HeaderKind::Other;
    case 7:
      if (name == "upgrade") {
        return HeaderKind::Upgrade;
      }
      return name == "trailer" ? HeaderKind::Trailer : HeaderKind::Other;
    case 10:
      if (name == "connection") {
        return HeaderKind::Connection;
      }
      return name == "keep-alive" ? HeaderKind::KeepAlive : HeaderKind::Other;
    case 14:
      return name == "content-length" ? HeaderKind::ContentLength : HeaderKind::Other;
    case 16:
      return name == "proxy-connection" ? HeaderKind::ProxyConnection : HeaderKind::Other;
    case 17:
      return name == "transfer-encoding" ? HeaderKind::TransferEncoding : HeaderKind::Other;
    default:
      return HeaderKind::Other;
  }
}

void appendLower(std::string& out, const char* data, size_t len) {
  size_t old = out.size();
  out.resize(old + len);
  char* dst = out.data() + old;
  for (size_t i = 0; i < len; ++i) {
    dst[i] = toLowerAscii(data[i]);
  }
}

void trimInPlace(std::string& s) {
  size_t end = s.size();
  while (end > 0 && isOws(s[end - 1])) {
    --end;
  }
  size_t begin = 0;
  while (begin < end && isOws(s[begin])) {
    ++begin;
  }
  if (begin == 0) {
    s.resize(end);
  } else {
    s.assign(s, begin, end - begin);
  }
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (toLowerAscii(a[i]) != toLowerAscii(b[i])) {
      return false;
    }
  }
  return true;
}

bool hasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && isOws(item.front())) {
      item.remove_prefix(1);
    }
    while (!item.empty() && isOws(item.back())) {
      item.remove_suffix(1);
    }
    if (equalsIgnoreCase(item, token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    value.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view reasonPhrase(uint16_t status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 207:
      return "Multi-Status";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string_view parserErrorReason(llhttp_errno_t err) {
  switch (err) {
    case HPE_INVALID_METHOD:
      return "invalid_method";
    case HPE_INVALID_URL:
      return "invalid_url";
    case HPE_INVALID_VERSION:
      return "invalid_version";
    case HPE_INVALID_HEADER_TOKEN:
      return "invalid_header";
    case HPE_INVALID_CONTENT_LENGTH:
      return "invalid_content_length";
    case HPE_UNEXPECTED_CONTENT_LENGTH:
      return "unexpected_content_length";
    case HPE_INVALID_CHUNK_SIZE:
      return "invalid_chunk_size";
    case HPE_INVALID_STATUS:
      return "invalid_status";
    case HPE_INVALID_CONSTANT:
      return "malformed_start_line";
    case HPE_INVALID_TRANSFER_ENCODING:
      return "invalid_transfer_encoding";
    case HPE_INVALID_EOF_STATE:
      return "truncated_message";
    case HPE_CLOSED_CONNECTION:
      return "data_after_close";
    case HPE_CR_EXPECTED:
      return "cr_expected";
    case HPE_LF_EXPECTED:
      return "lf_expected";
    case HPE_UNEXPECTED_SPACE:
      return "unexpected_space";
    case HPE_STRICT:
      return "strict_violation";
    default:
      return "bad_request";
  }
}

std::string& headScratch() {
  thread_local std::string scratch = [] {
    std::string s;
    s.reserve(4096);
    return s;
  }();
  return scratch;
}

void appendDecimal(std::string& out, uint64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, static_cast<size_t>(res.ptr - buf));
}

void appendHeader(std::string& h, std::string_view name, std::string_view value) {
  h.append(name);
  h.append(": ");
  h.append(value);
  h.append("\r\n");
}

void encodeBody(BodyFraming framing, buffer::Buffer& data, bool end_stream, buffer::Buffer& out) {
  switch (framing) {
    case BodyFraming::None:
      data.clear();
      return;
    case BodyFraming::Identity:
      out.move(data);
      return;
    case BodyFraming::Chunked:
      break;
  }
  if (!data.empty()) {
    char head[24];
    out.add(head, formatChunkHeader(head, data.length()));
    out.move(data);
    // The chunk's CRLF and the last chunk go out in one append when the stream ends here.
    out.add(end_stream ? std::string_view("\r\n0\r\n\r\n") : std::string_view("\r\n"));
    return;
  }
  if (end_stream) {
    out.add(std::string_view("0\r\n\r\n"));
  }
}

}  // namespace strait::http::http1
