#include "ctl/http_get.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace strait::ctl {

namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// The chunked body that starts at `body`: its chunks joined, or nullopt when it is cut short or
// malformed (trailers are skipped).
std::optional<std::string> dechunk(std::string_view body, std::string& error) {
  std::string out;
  while (true) {
    size_t eol = body.find("\r\n");
    if (eol == std::string_view::npos) {
      error = "chunked body cut short";
      return std::nullopt;
    }
    std::string_view size_text = trim(body.substr(0, body.find_first_of(";\r")));
    size_t size = 0;
    if (size_text.empty()) {
      error = "bad chunk size";
      return std::nullopt;
    }
    for (char c : size_text) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) || size > (SIZE_MAX >> 4)) {
        error = "bad chunk size";
        return std::nullopt;
      }
      size = size * 16 + static_cast<size_t>(std::isdigit(static_cast<unsigned char>(c))
                                                 ? c - '0'
                                                 : std::tolower(c) - 'a' + 10);
    }
    body.remove_prefix(eol + 2);
    if (size == 0) {
      return out;  // the trailers, if any, are not needed
    }
    if (body.size() < size + 2 || body.substr(size, 2) != "\r\n") {
      error = "chunked body cut short";
      return std::nullopt;
    }
    out.append(body.substr(0, size));
    body.remove_prefix(size + 2);
  }
}

bool parseStatusLine(std::string_view line, HttpResponse& response, std::string& error) {
  // "HTTP/1.1 200 OK"
  if (line.substr(0, 5) != "HTTP/" || line.size() < 12 || line[8] != ' ') {
    error = "not an HTTP response: " + std::string(line.substr(0, 40));
    return false;
  }
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[i]))) {
      error = "bad status line: " + std::string(line.substr(0, 40));
      return false;
    }
    status = status * 10 + (line[i] - '0');
  }
  response.status = status;
  return true;
}

int remainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits until `fd` is ready for `events` or the deadline passes.
bool waitFor(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  while (true) {
    int n = ::poll(&p, 1, remainingMs(deadline));
    if (n > 0) {
      return true;
    }
    if (n == 0 || errno != EINTR) {
      return false;
    }
  }
}

// A connected socket, or -1 with `error` set.
int connectTo(const HttpUrl& url, Clock::time_point deadline, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int rc = ::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &list);
  std::string where = url.host + ":" + url.port;
  if (rc != 0) {
    error = "resolve " + where + ": " + ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  error = "connect " + where + ": no address";
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      continue;
    }
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        if (!waitFor(fd, POLLOUT, deadline)) {
          err = ETIMEDOUT;
        } else {
          socklen_t len = sizeof(err);
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        }
      }
    }
    if (err == 0) {
      break;
    }
    error = "connect " + where + ": " + std::strerror(err);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(list);
  return fd;
}

bool sendAll(int fd, const std::string& data, Clock::time_point deadline, std::string& error) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
               waitFor(fd, POLLOUT, deadline)) {
      continue;
    } else {
      error = n < 0 && errno != EAGAIN ? std::string("send: ") + std::strerror(errno)
                                       : "send: timed out";
      return false;
    }
  }
  return true;
}

bool readToEof(int fd, std::string& out, Clock::time_point deadline, std::string& error) {
  char buffer[16384];
  while (true) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n > 0) {
      out.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      return true;
    } else if (errno == EINTR) {
      continue;
    } else if ((errno == EAGAIN || errno == EWOULDBLOCK) && waitFor(fd, POLLIN, deadline)) {
      continue;
    } else {
      error = errno == EAGAIN || errno == EWOULDBLOCK
                  ? "read: timed out"
                  : std::string("read: ") + std::strerror(errno);
      return false;
    }
  }
}

}  // namespace

std::optional<HttpUrl> parseHttpUrl(const std::string& text, std::string& error) {
  std::string_view rest = text;
  if (rest.substr(0, 8) == "https://") {
    error = text + ": https is not supported (strait-cp's admin port is plain HTTP)";
    return std::nullopt;
  }
  if (rest.substr(0, 7) == "http://") {
    rest.remove_prefix(7);
  }
  HttpUrl url;
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    url.path = std::string(rest.substr(slash));
  }
  if (!authority.empty() && authority.front() == '[') {  // [::1]:18001
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = text + ": bad IPv6 address";
      return std::nullopt;
    }
    url.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() == ':') {
      url.port = std::string(authority.substr(1));
    }
  } else {
    size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      url.port = std::string(authority.substr(colon + 1));
    }
  }
  if (url.host.empty() || url.port.empty() ||
      url.port.find_first_not_of("0123456789") != std::string::npos) {
    error = text + ": not an http://HOST:PORT URL";
    return std::nullopt;
  }
  return url;
}

std::optional<HttpResponse> parseResponse(std::string_view raw, std::string& error) {
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    error = raw.empty() ? "empty response" : "response headers cut short";
    return std::nullopt;
  }
  std::string_view head = raw.substr(0, head_end);
  std::string_view body = raw.substr(head_end + 4);
  HttpResponse response;
  size_t eol = head.find("\r\n");
  if (!parseStatusLine(head.substr(0, eol), response, error)) {
    return std::nullopt;
  }
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      error = "bad header line: " + std::string(line.substr(0, 40));
      return std::nullopt;
    }
    response.headers[lower(line.substr(0, colon))] = std::string(trim(line.substr(colon + 1)));
  }
  auto te = response.headers.find("transfer-encoding");
  auto cl = response.headers.find("content-length");
  if (te != response.headers.end() && lower(te->second).find("chunked") != std::string::npos) {
    std::optional<std::string> joined = dechunk(body, error);
    if (!joined) {
      return std::nullopt;
    }
    response.body = std::move(*joined);
  } else if (cl != response.headers.end()) {
    char* end = nullptr;
    unsigned long long length = std::strtoull(cl->second.c_str(), &end, 10);
    if (cl->second.empty() || end == nullptr || *end != '\0') {
      error = "bad Content-Length: " + cl->second;
      return std::nullopt;
    }
    if (body.size() < length) {
      error = "body cut short: " + std::to_string(body.size()) + " of " + std::to_string(length) +
              " bytes";
      return std::nullopt;
    }
    response.body = std::string(body.substr(0, length));
  } else {
    response.body = std::string(body);  // framed by the end of the connection
  }
  return response;
}

std::optional<HttpResponse> httpGet(const std::string& text, std::chrono::milliseconds timeout,
                                    std::string& error) {
  std::optional<HttpUrl> url = parseHttpUrl(text, error);
  if (!url) {
    return std::nullopt;
  }
  Clock::time_point deadline = Clock::now() + timeout;
  int fd = connectTo(*url, deadline, error);
  if (fd < 0) {
    return std::nullopt;
  }
  std::string host = url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
  std::string request = "GET " + url->path + " HTTP/1.1\r\nHost: " + host + ":" + url->port +
                        "\r\nAccept: application/json\r\nConnection: close\r\n"
                        "User-Agent: straitctl\r\n\r\n";
  std::string raw;
  bool ok = sendAll(fd, request, deadline, error) && readToEof(fd, raw, deadline, error);
  ::close(fd);
  if (!ok) {
    return std::nullopt;
  }
  return parseResponse(raw, error);
}

}  // namespace strait::ctl
