#pragma once

// An ordered list of HTTP header fields with lower-cased names. Small and flat on purpose: a
// request carries a dozen headers, for which a linear scan beats any hash map, and clear() keeps
// the vector's capacity so a connection reuses it request after request.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strait::http {

struct HeaderEntry {
  std::string name;  // lower-case
  std::string value;
};

class HeaderMap {
 public:
  // `name` must already be lower-case.
  void add(std::string_view name, std::string_view value) {
    entries_.push_back(HeaderEntry{std::string(name), std::string(value)});
  }
  // Replaces every value of `name` with one value.
  void set(std::string_view name, std::string_view value) {
    remove(name);
    add(name, value);
  }
  // First value of `name`, or nullptr.
  const std::string* get(std::string_view name) const {
    for (const auto& e : entries_) {
      if (e.name == name) {
        return &e.value;
      }
    }
    return nullptr;
  }
  std::string* getMutable(std::string_view name) {
    for (auto& e : entries_) {
      if (e.name == name) {
        return &e.value;
      }
    }
    return nullptr;
  }
  size_t count(std::string_view name) const {
    size_t n = 0;
    for (const auto& e : entries_) {
      n += e.name == name ? 1 : 0;
    }
    return n;
  }
  size_t remove(std::string_view name) {
    size_t before = entries_.size();
    std::erase_if(entries_, [&](const HeaderEntry& e) { return e.name == name; });
    return before - entries_.size();
  }
  template <typename Pred>
  size_t removeIf(Pred pred) {
    size_t before = entries_.size();
    std::erase_if(entries_, pred);
    return before - entries_.size();
  }
  void clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }
  auto begin() { return entries_.begin(); }
  auto end() { return entries_.end(); }
  std::vector<HeaderEntry>& entries() { return entries_; }
  const std::vector<HeaderEntry>& entries() const { return entries_; }

 private:
  std::vector<HeaderEntry> entries_;
};

// The request line and headers of one request, as the HTTP/1.1 and HTTP/2 codecs produce them.
struct RequestHeaders {
  std::string method;     // "GET"
  std::string path;       // request-target in origin form, including the query: "/a?b=c"
  std::string authority;  // Host header (HTTP/1.1) or :authority (HTTP/2); may include a port
  std::string scheme;     // "http" or "https"
  uint8_t version_major = 1;
  uint8_t version_minor = 1;
  HeaderMap headers;      // everything but Host (which is `authority`)

  void clear() {
    method.clear();
    path.clear();
    authority.clear();
    scheme.clear();
    headers.clear();
  }
};

struct ResponseHeaders {
  uint16_t status = 200;
  uint8_t version_major = 1;
  uint8_t version_minor = 1;
  HeaderMap headers;

  void clear() { headers.clear(); }
};

}  // namespace strait::http
