#include "tests/upstream/request.h"

#include <charconv>

namespace strait::testupstream {
namespace {

bool parseUnsigned(std::string_view text, uint64_t& out) {
  if (text.empty()) {
    return false;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool isTrue(std::string_view value) {
  return value == "1" || equalsIgnoreCase(value, "true") || equalsIgnoreCase(value, "yes");
}

// Applies one control knob; shared by headers and query parameters so both spell the same.
void applyKnob(ResponseControl& control, std::string_view key, std::string_view value) {
  uint64_t number = 0;
  if (key == "status") {
    if (parseUnsigned(value, number) && number >= 100 && number <= 999) {
      control.status = static_cast<int>(number);
      control.statusGiven = true;
    }
  } else if (key == "body_size" || key == "body-size") {
    if (parseUnsigned(value, number)) {
      control.bodySize = number;
    }
  } else if (key == "delay_ms" || key == "delay-ms") {
    if (parseUnsigned(value, number)) {
      control.delayMs = number;
      control.delayGiven = true;
    }
  } else if (key == "capacity") {
    if (parseUnsigned(value, number)) {
      control.capacity = number;
      control.capacityGiven = true;
    }
  } else if (key == "reset") {
    if (value == "after_headers" || value == "after-headers") {
      control.reset = ResetMode::AfterHeaders;
    } else if (isTrue(value)) {
      control.reset = ResetMode::Immediate;
    } else {
      control.reset = ResetMode::None;
    }
  } else if (key == "chunked") {
    control.chunked = isTrue(value);
  } else if (key == "close") {
    control.close = isTrue(value);
  }
}

// Length of a valid UTF-8 sequence starting at text[i], or 0 if it is not valid.
size_t utf8SequenceLength(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  size_t length = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
  } else {
    return 0;
  }
  if (i + length > text.size()) {
    return 0;
  }
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) {
      return 0;
    }
  }
  return length;
}

}  // namespace

void RequestRecord::reset() {
  url_.clear();
  arena_.clear();
  headers_.clear();
  lastWasValue_ = true;
}

void RequestRecord::appendHeaderName(const char* data, size_t len) {
  // llhttp may deliver one name in several pieces when it spans reads; a name after a value
  // starts a new header.
  if (lastWasValue_) {
    headers_.push_back(HeaderRef{arena_.size(), 0, arena_.size(), 0});
    lastWasValue_ = false;
  }
  arena_.append(data, len);
  headers_.back().nameLength += len;
  headers_.back().valueOffset = arena_.size();
}

void RequestRecord::appendHeaderValue(const char* data, size_t len) {
  if (headers_.empty()) {
    return;
  }
  lastWasValue_ = true;
  arena_.append(data, len);
  headers_.back().valueLength += len;
}

std::string_view RequestRecord::path() const {
  std::string_view url = url_;
  return url.substr(0, url.find('?'));
}

std::string_view RequestRecord::query() const {
  std::string_view url = url_;
  size_t mark = url.find('?');
  return mark == std::string_view::npos ? std::string_view() : url.substr(mark + 1);
}

std::string_view RequestRecord::headerName(size_t i) const {
  return std::string_view(arena_).substr(headers_[i].nameOffset, headers_[i].nameLength);
}

std::string_view RequestRecord::headerValue(size_t i) const {
  return std::string_view(arena_).substr(headers_[i].valueOffset, headers_[i].valueLength);
}

std::string_view RequestRecord::findHeader(std::string_view name) const {
  for (size_t i = 0; i < headers_.size(); ++i) {
    if (equalsIgnoreCase(headerName(i), name)) {
      return headerValue(i);
    }
  }
  return {};
}

ResponseControl resolveControl(const Options& options, const RequestRecord& request) {
  ResponseControl control;
  control.status = options.status;
  control.bodySize = options.bodySize;
  control.delayMs = options.delayMs;

  static constexpr std::string_view kHeaderPrefix = "x-upstream-";
  for (size_t i = 0; i < request.headerCount(); ++i) {
    std::string_view name = request.headerName(i);
    if (name.size() > kHeaderPrefix.size() &&
        equalsIgnoreCase(name.substr(0, kHeaderPrefix.size()), kHeaderPrefix)) {
      std::string lowered(name.substr(kHeaderPrefix.size()));
      for (char& c : lowered) {
        c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      }
      applyKnob(control, lowered, request.headerValue(i));
    }
  }
  // Query parameters win over headers: a test can override a header a proxy injected.
  std::string_view rest = request.query();
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string_view value =
        eq == std::string_view::npos ? std::string_view("1") : pair.substr(eq + 1);
    applyKnob(control, pair.substr(0, eq), value);
  }
  return control;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    x = static_cast<char>(x >= 'A' && x <= 'Z' ? x - 'A' + 'a' : x);
    y = static_cast<char>(y >= 'A' && y <= 'Z' ? y - 'A' + 'a' : y);
    if (x != y) {
      return false;
    }
  }
  return true;
}

const char* reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

void appendNumber(std::string& out, uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  (void)ec;
  out.append(digits, end);
}

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      out.append("\\u00");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (size_t length = utf8SequenceLength(text, i); length > 0) {
      out.append(text.substr(i, length));
      i += length - 1;
    } else {
      out.append("\\u00");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  out.push_back('"');
}

}  // namespace strait::testupstream
