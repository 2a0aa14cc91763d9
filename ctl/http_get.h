#pragma once

// straitctl's HTTP/1.1 GET client: one request per connection (`Connection: close`), plain TCP,
// blocking with a deadline. It talks only to strait-cp's admin port, so it knows neither TLS nor
// redirects. parseResponse() is the pure half, for unit tests.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace strait::ctl {

struct HttpUrl {
  std::string host;
  std::string port = "80";
  std::string path = "/";
};

// "http://HOST[:PORT][/PATH]" (a bare "HOST:PORT" is taken as http too); nullopt with `error`
// set when it is not one.
std::optional<HttpUrl> parseHttpUrl(const std::string& text, std::string& error);

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased; a repeated one keeps the last
  std::string body;                            // de-chunked
};

// Parses a whole response as read to EOF: the status line, the headers, and a body framed by
// Content-Length, chunked, or the end of the connection. nullopt with `error` set otherwise.
std::optional<HttpResponse> parseResponse(std::string_view raw, std::string& error);

// GETs `url`; the whole exchange (connect, send, read to EOF) must end within `timeout`.
// nullopt with `error` naming what failed ("connect 127.0.0.1:1: Connection refused").
std::optional<HttpResponse> httpGet(const std::string& url, std::chrono::milliseconds timeout,
                                    std::string& error);

}  // namespace strait::ctl
