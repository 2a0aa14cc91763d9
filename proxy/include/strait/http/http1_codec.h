#pragma once

// HTTP/1.1 codec: parses requests (server side) and responses (client side) with llhttp in strict
// mode plus Strait's own checks, and encodes the other direction into a Buffer. No I/O here: the
// connection feeds bytes in with dispatch() and writes out what the encoders produced.

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "strait/buffer/buffer.h"
#include "strait/http/header_map.h"

namespace strait::http::http1 {

struct CodecLimits {
  uint32_t max_header_bytes = 60 * 1024;  // request line excluded; over it: 431
  uint32_t max_headers = 100;             // over it: 431
  uint32_t max_uri_bytes = 16 * 1024;     // over it: 414
  uint64_t max_body_bytes = 0;            // 0: unlimited; over it: 413
};

// How a message's body is delimited, as parsed.
struct MessageInfo {
  bool keep_alive = true;       // false: the connection closes after this message
  bool chunked = false;
  std::optional<uint64_t> content_length;
  bool has_body = false;        // chunked, or content-length > 0, or (response) read-until-close
  bool expect_continue = false; // request carried "Expect: 100-continue" (removed from headers)
  bool upgrade = false;         // request: Connection: upgrade + Upgrade; response: 101
};

// What dispatch() did with the bytes it was given.
struct DispatchResult {
  enum class Status {
    Ok,        // every byte consumed
    Paused,    // a message completed; `consumed` bytes used, the rest belongs to the next message
    Upgraded,  // an upgrade completed; bytes after `consumed` are tunnel data, not HTTP
    Error,     // the error callback has been called; the connection must close
  };
  Status status = Status::Ok;
  size_t consumed = 0;
};

class ServerCallbacks {
 public:
  virtual ~ServerCallbacks() = default;
  // Request line and headers are complete and valid. `headers` stays valid and unchanged by the
  // codec until onRequestComplete() returns; the callee may modify it.
  virtual void onRequestHeaders(RequestHeaders& headers, const MessageInfo& info) = 0;
  virtual void onRequestBody(const char* data, size_t len) = 0;
  virtual void onRequestComplete() = 0;
  // The request is malformed or over a limit. The callee replies `status` (400, 408, 413, 414,
  // 431, 501) with `reason` as the body's short explanation, then closes the connection.
  virtual void onRequestError(uint16_t status, std::string_view reason) = 0;
};

// One per downstream connection. After each complete request dispatch() pauses, so that
// pipelined requests are handled one at a time; call resume() once the response is done and
// dispatch the remaining bytes again.
class ServerCodec {
 public:
  virtual ~ServerCodec() = default;
  virtual DispatchResult dispatch(const char* data, size_t len) = 0;
  virtual void resume() = 0;
  // True between the first byte of a request and its onRequestComplete().
  virtual bool messageInProgress() const = 0;

  // Response encoding. Framing: a `content-length` header is kept; otherwise when end_stream is
  // set with headers, "content-length: 0" is added (not for 1xx, 204, 304); otherwise chunked
  // for HTTP/1.1 clients and close-delimited for HTTP/1.0 ones. HEAD responses carry no body.
  // `close_connection` adds "connection: close". Hop-by-hop headers in `headers` are dropped.
  virtual void encodeHeaders(const ResponseHeaders& headers, bool end_stream,
                             bool close_connection, buffer::Buffer& out) = 0;
  // Moves `data` into `out` (with chunk framing when chunked); `data` is left empty.
  virtual void encodeData(buffer::Buffer& data, bool end_stream, buffer::Buffer& out) = 0;
  // Writes "HTTP/1.1 100 Continue\r\n\r\n".
  virtual void encode100Continue(buffer::Buffer& out) = 0;
  // After encodeHeaders(): true when the connection must close once this response is written
  // (close_connection was set, the client did not ask for keep-alive, the body is
  // close-delimited, or the request was malformed).
  virtual bool closeAfterResponse() const = 0;
};

std::unique_ptr<ServerCodec> createServerCodec(ServerCallbacks& callbacks,
                                               const CodecLimits& limits);

class ClientCallbacks {
 public:
  virtual ~ClientCallbacks() = default;
  virtual void onResponseHeaders(ResponseHeaders& headers, const MessageInfo& info) = 0;
  virtual void onResponseBody(const char* data, size_t len) = 0;
  virtual void onResponseComplete() = 0;
  // The upstream sent something that is not valid HTTP/1.1 (the proxy answers 502).
  virtual void onResponseError(std::string_view reason) = 0;
};

// One per upstream connection: encodes requests, parses their responses (1xx other than 101
// are swallowed).
class ClientCodec {
 public:
  virtual ~ClientCodec() = default;
  // Encodes the request line and headers. Framing: `info.content_length` -> content-length,
  // `info.chunked` -> chunked, neither -> no body. `headers.authority` becomes the Host header.
  // Hop-by-hop headers in `headers` are dropped; "connection: keep-alive" is not added (1.1).
  virtual void encodeHeaders(const RequestHeaders& headers, const MessageInfo& info,
                             buffer::Buffer& out) = 0;
  virtual void encodeData(buffer::Buffer& data, bool end_stream, buffer::Buffer& out) = 0;
  virtual DispatchResult dispatch(const char* data, size_t len) = 0;
  // The upstream closed the connection: completes a close-delimited response, or reports
  // an error if a response was in progress. Returns true if a response completed.
  virtual bool onEof() = 0;
  virtual void resume() = 0;
};

std::unique_ptr<ClientCodec> createClientCodec(ClientCallbacks& callbacks);

}  // namespace strait::http::http1
