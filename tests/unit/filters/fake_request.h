#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "filters/common/request_match.h"

namespace strait::filters::testing {

class FakeRequest : public RequestAttributes {
 public:
  explicit FakeRequest(std::string path = "/", std::string principal = "")
      : path_(std::move(path)), principal_(std::move(principal)) {}
  FakeRequest& with(std::string name, std::string value) {
    headers_[std::move(name)] = std::move(value);
    return *this;
  }
  std::string_view path() const override { return path_; }
  std::string_view principal() const override { return principal_; }
  std::optional<std::string_view> header(std::string_view name) const override {
    auto it = headers_.find(std::string(name));
    if (it == headers_.end()) {
      return std::nullopt;
    }
    return std::string_view(it->second);
  }

 private:
  std::string path_;
  std::string principal_;
  std::map<std::string, std::string> headers_;
};

}  // namespace strait::filters::testing
