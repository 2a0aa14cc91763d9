#include "proxy/http/http2_headers.h"

namespace strait::http::http2 {

void addRequestField(RequestHeaders& request, std::string_view name, std::string_view value) {
  if (!name.empty() && name[0] == ':') {
    if (name == ":method") {
      request.method.assign(value);
    } else if (name == ":path") {
      request.path.assign(value);
    } else if (name == ":authority") {
      request.authority.assign(value);
    } else if (name == ":scheme") {
      request.scheme.assign(value);
    }
    // ":protocol" (extended CONNECT) is not offered (SETTINGS_ENABLE_CONNECT_PROTOCOL unset).
    return;
  }
  if (name == "host") {
    // RFC 9113 8.3.1: with both, :authority wins; Host alone stands in for it.
    if (request.authority.empty()) {
      request.authority.assign(value);
    }
    return;
  }
  request.headers.add(name, value);
}

bool isConnectionSpecific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade" || name == "te" ||
         name == "http2-settings";
}

namespace {

bool hasUpper(std::string_view name) {
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') {
      return true;
    }
  }
  return false;
}

}  // namespace

void responseFields(const ResponseHeaders& response, FieldList& out) {
  out.fields.clear();
  out.lowered.clear();
  out.status = std::to_string(response.status);
  out.fields.reserve(response.headers.size() + 1);
  out.lowered.reserve(response.headers.size());
  out.fields.emplace_back(":status", out.status);
  for (const HeaderEntry& entry : response.headers) {
    std::string_view name = entry.name;
    if (hasUpper(name)) {
      std::string lower(name);
      for (char& c : lower) {
        if (c >= 'A' && c <= 'Z') {
          c = static_cast<char>(c + 32);
        }
      }
      out.lowered.push_back(std::move(lower));  // reserved: views stay valid
      name = out.lowered.back();
    }
    if (isConnectionSpecific(name)) {
      continue;
    }
    out.fields.emplace_back(name, entry.value);
  }
}

}  // namespace strait::http::http2
