#pragma once

// strait-cp's HTTP server: HTTP/1.1 (llhttp) and HTTP/2 (nghttp2: h2c with prior knowledge, and
// h2 by ALPN over TLS) on one libuv loop, with optional TLS and client-certificate verification
// (OpenSSL). It carries the discovery protocol (docs/discovery-protocol.md: one long-lived
// HTTP/2 stream per proxy, HTTP/1.1 long-polls) and the admin endpoints. It is strait-cp's own
// code: the control plane shares only config and protocol types with the proxy.
//
// One Exchange per request (an HTTP/1.1 request on a connection, an HTTP/2 stream). The handler
// is called when the request head is complete; the request body arrives later through the
// exchange's callbacks, and the response may be written at any time after, in pieces, until
// finish(). An exchange outlives its connection safely: once the peer is gone, closed() is true,
// on_close has been called once, and writes are dropped. An exchange the handler drops before
// finish() is kept by the server: an HTTP/1.1 connection then stays open until the peer closes
// it, and an HTTP/2 stream until the peer resets it or closes the connection (no timeout ends
// it: the server cannot tell a dropped exchange from one the handler answers later).
//
// Everything runs on the loop's thread: the handler, the callbacks, and every call made here.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct uv_loop_s;

namespace strait::cp {

struct HttpRequest {
  std::string method;
  std::string path;  // as sent, with the query string
  // Names lower-cased, in arrival order (HTTP/2 pseudo-headers are not included).
  std::vector<std::pair<std::string, std::string>> headers;
  int http_major = 1;  // 1 or 2
  // With TLS and a verified client certificate: its first URI SAN ("spiffe://..."), else empty.
  std::string peer_uri_san;
  std::string peer_address;  // "ip:port"

  std::optional<std::string_view> header(std::string_view name) const;
};

class Exchange {
 public:
  struct Callbacks {
    std::function<void(std::string_view)> on_data;  // a piece of the request body
    std::function<void()> on_end;                   // the request body is complete
    // The peer went away (connection closed, stream reset) before finish(); called once.
    std::function<void()> on_close;
  };

  virtual ~Exchange() = default;
  virtual const HttpRequest& request() const = 0;
  // Body pieces that arrived before the callbacks were set are delivered at once.
  virtual void setCallbacks(Callbacks callbacks) = 0;

  // The response head; `headers` names lower-case. content-length is added by respond(); a
  // streamed response is chunked on HTTP/1.1.
  virtual void start(int status, std::vector<std::pair<std::string, std::string>> headers) = 0;
  // Without start() first, write() and finish() start a 200 response.
  virtual void write(std::string_view data) = 0;
  virtual void finish() = 0;
  // start + write + finish, with content-length.
  virtual void respond(int status, std::string_view content_type, std::string_view body) = 0;

  // The peer is gone, or the server is done with the exchange (response sent, request read).
  virtual bool closed() const = 0;
  // Response bytes queued and not yet written to the socket (for back-pressure). On HTTP/1.1,
  // the connection's; on HTTP/2, the stream's queue and the connection's.
  virtual size_t pendingBytes() const = 0;
};

using ExchangePtr = std::shared_ptr<Exchange>;
using Handler = std::function<void(const ExchangePtr&)>;

// Timeouts are per connection and bound only what a client can make the server wait for
// without asking anything of the handler. A connection with an exchange in progress (a request
// the handler has not finished answering, or whose body is still arriving) has none of them, so
// a parked long-poll or a long-lived HTTP/2 discovery stream is never closed by a timer; neither
// is an exchange the handler dropped. A zero (or negative) duration disables that timeout.
struct HttpServerOptions {
  size_t max_request_header_bytes = 64 * 1024;  // over it: 431
  // From accept to a finished TLS handshake; then the connection is closed. A handshake is a
  // few round trips that a client starts at once, so 10 s is ample even on a slow link
  // (nginx's ssl_handshake_timeout is 60 s, tuned for browsers on any network; strait-cp's
  // clients are proxies and scripts).
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  // To a request's complete head. HTTP/1.1: from its first byte, or from accept (or the end of
  // the TLS handshake) for a connection's first request, or from the previous response's end
  // for a request already waiting behind it; on expiry with part of a head received the answer
  // is 408 and the connection closes, with nothing received it just closes. HTTP/2: from the
  // HEADERS that opens a stream on a connection with no exchange in progress to the end of its
  // header block; on expiry, GOAWAY and close. It also bounds a new connection whose first
  // bytes do not yet say HTTP/1.1 or HTTP/2. Request heads here are a few hundred bytes sent at
  // once, so 10 s is generous (nginx's client_header_timeout is 60 s) and keeps a slowloris
  // from holding a connection for long.
  std::chrono::milliseconds request_header_timeout = std::chrono::seconds(10);
  // A connection with no exchange in progress: HTTP/1.1 between keep-alive requests, HTTP/2
  // with no open stream. It is closed, on HTTP/2 after a GOAWAY. Five minutes, between nginx's
  // keepalive_timeout (75 s) and Envoy's idle_timeout (1 h): a proxy keeps its discovery stream
  // open and is never idle, and a script that polls again keeps its connection.
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(5);
  // TLS: cert_file (PEM chain) and key_file both set, or neither (plaintext); listen() fails if
  // only one is, or if a file does not load. With `ca_file` as well, every client must present
  // a certificate that chains to it, or its handshake fails.
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
};

// The server may be closed from inside its handler or an exchange callback, but destroyed only
// from outside them. Closed from inside, a connection finishes closing once the callback has
// returned into the server, so what was already answered, and HTTP/2's GOAWAY, are still sent.
// Its handles are closed in the destructor; the loop must then run once more for their close
// callbacks, which free them.
class HttpServer {
 public:
  HttpServer(uv_loop_s* loop, HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens ("127.0.0.1", port 0 for any). False with `error` set.
  bool listen(const std::string& address, uint16_t port, std::string& error);
  uint16_t port() const;
  // Stops accepting and closes every connection (their exchanges see on_close).
  void close();
  size_t connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strait::cp
