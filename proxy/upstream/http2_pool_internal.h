#pragma once

// Http2Pool's nested classes, declared here for the pool's two .cc files and for nothing else:
// a Stream is one request (http2_pool.cc), a Connection one upstream connection and its nghttp2
// client session (http2_pool_connection.cc).

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string_view>

#include "proxy/http/http2_flow_control.h"
#include "proxy/upstream/http2_pool.h"
#include "strait/buffer/buffer.h"
#include "strait/http/header_map.h"

namespace strait::upstream {

// ---- Stream ---------------------------------------------------------------------------------

// Request body bytes one stream queues before the downstream is paused.
constexpr size_t kStreamBufferLimit = 256 * 1024;

// One request on an upstream HTTP/2 connection.
class Http2Pool::Stream : public UpstreamClient, public event::DeferredDeletable {
 public:
  explicit Stream(Connection& connection) : connection_(connection) {}

  // UpstreamClient
  void attach(UpstreamStreamCallbacks& stream) override { callbacks_ = &stream; }
  void encodeHeaders(const http::RequestHeaders& headers,
                     const http::http1::MessageInfo& info) override;
  void encodeData(buffer::Buffer& data, bool end_stream) override;
  void writeTunnel(buffer::Buffer& data) override { data.clear(); }  // no upgrades on HTTP/2
  void readDisable(bool disable) override;
  void resetStream() override;
  bool reused() const override { return false; }
  HostImpl& host() override;

  ssize_t readBody(uint8_t* buf, size_t length, uint32_t* flags);
  void onHeader(bool trailers, std::string_view name, std::string_view value);
  void onHeadersDone(bool trailers, bool end_stream);
  void onData(const uint8_t* data, size_t len);
  void onEndStream();
  void onClosed(uint32_t error_code);
  void fail(std::string_view detail);

  Connection& connection() { return connection_; }

  int32_t id_ = -1;
  std::list<std::unique_ptr<Stream>>::iterator self_;

 private:
  nghttp2_session* session();

  Connection& connection_;
  UpstreamStreamCallbacks* callbacks_ = nullptr;
  http::ResponseHeaders response_;
  http::HeaderMap trailers_;
  http::http2::OutboundBody out_{kStreamBufferLimit};  // the request body waiting for window
  http::http2::InboundFlowControl inbound_;  // the response body's window
  bool complete_ = false;
};

// ---- Connection -----------------------------------------------------------------------------

// One connection to the pool's host and the nghttp2 client session on it.
class Http2Pool::Connection : public network::ConnectionCallbacks, public event::DeferredDeletable {
 public:
  explicit Connection(Http2Pool& pool) : pool_(pool) {}
  ~Connection() override;

  void connect();
  // A new stream for `callbacks`' request; only when hasCapacity().
  Stream& newStream();
  bool ready() const { return state_ == State::Ready; }
  bool hasCapacity() const;
  bool empty() const { return streams_.empty(); }
  void close();
  void sendPending();
  nghttp2_session* session() { return session_; }
  Http2Pool& pool() { return pool_; }
  void removeStream(Stream& stream);

  // network::ConnectionCallbacks
  void onData(const char* data, size_t len) override;
  void onEvent(network::ConnectionEvent event) override;

  std::list<std::unique_ptr<Connection>>::iterator self_;
  uint64_t streams_opened_ = 0;  // for max_requests_per_connection
  bool retired_ = false;

 private:
  enum class State { Connecting, Ready, Closed };
  void createSession();
  void armIdle();

  Http2Pool& pool_;
  network::ConnectionPtr connection_;      // TLS over `transport_` for a cluster with tls
  network::ConnectionImpl* transport_ = nullptr;
  nghttp2_session* session_ = nullptr;
  std::list<std::unique_ptr<Stream>> streams_;
  event::TimerPtr timer_;  // connect timeout, then idle timeout
  State state_ = State::Connecting;
  bool in_nghttp2_ = false;
  bool send_wanted_ = false;
};

}  // namespace strait::upstream
