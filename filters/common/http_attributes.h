#pragma once

// RequestAttributes over the proxy's request head, for the filters' matchers. Views only: lives
// no longer than the headers and principal it was made from (one decodeHeaders() call).

#include <optional>
#include <string_view>

#include "filters/common/request_match.h"
#include "strait/http/header_map.h"

namespace strait::filters {

class HttpRequestAttributes : public RequestAttributes {
 public:
  HttpRequestAttributes(const http::RequestHeaders& headers, std::string_view principal)
      : headers_(headers), principal_(principal) {}

  std::string_view path() const override {
    std::string_view path = headers_.path;
    return path.substr(0, path.find('?'));
  }
  std::string_view principal() const override { return principal_; }
  std::optional<std::string_view> header(std::string_view name) const override {
    const std::string* value = headers_.headers.get(name);
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string_view(*value);
  }

 private:
  const http::RequestHeaders& headers_;
  std::string_view principal_;
};

}  // namespace strait::filters
