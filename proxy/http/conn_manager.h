#pragma once

// The HTTP/1.1 connection manager: one per downstream connection. It feeds bytes to the codec,
// runs one request at a time (pipelined requests wait their turn, responses go out in order),
// owns the connection's idle and request-headers timers, and hands each request to an
// ActiveStream, which routes it and proxies it upstream.

#include <list>
#include <memory>

#include "proxy/http/downstream_stream.h"
#include "proxy/http/server_connection.h"
#include "proxy/network/connection_impl.h"
#include "strait/http/http1_codec.h"
#include "strait/http/worker_context.h"

namespace strait::http {

class ActiveStream;

class ConnectionManager : public network::ConnectionCallbacks,
                          public http1::ServerCallbacks,
                          public DownstreamStream,
                          public ServerConnection {
 public:
  // Takes an accepted connection (startServerConnection() puts it in `owner`); it leaves the
  // list (and is deleted) when the connection closes.
  ConnectionManager(WorkerContext& worker, const std::string& listener_name,
                    network::ConnectionPtr connection, List& owner);
  ~ConnectionManager() override;

  // ServerConnection
  // Drain: close now if idle, otherwise after the response in progress.
  void startDrain() override;
  // Shutdown: close now.
  void closeNow() override;
  void feed(const char* data, size_t len) override { onData(data, len); }

  network::Connection& connection() { return *connection_; }
  http1::ServerCodec& codec() { return *codec_; }

  // DownstreamStream (for the one ActiveStream at a time)
  WorkerContext& worker() override { return worker_; }
  const ListenerRuntime& listener() const override { return *listener_; }
  const SnapshotViewSharedPtr& snapshot() const override { return snapshot_; }
  const std::string& remoteAddress() const override { return connection_->remoteAddress(); }
  const network::Connection& connection() const override { return *connection_; }
  void encode100Continue(buffer::Buffer& out) override { codec_->encode100Continue(out); }
  void encodeHeaders(const ResponseHeaders& headers, bool end_stream, bool close_connection,
                     buffer::Buffer& out) override {
    codec_->encodeHeaders(headers, end_stream, close_connection, out);
  }
  void encodeData(buffer::Buffer& data, bool end_stream, buffer::Buffer& out) override {
    codec_->encodeData(data, end_stream, out);
  }
  void writeDownstream(buffer::Buffer& data) override { connection_->write(data); }
  bool closeAfterResponse() const override { return codec_->closeAfterResponse(); }
  bool remoteClosed() const override { return remote_closed_; }
  void setRemoteClosed() override { remote_closed_ = true; }
  void readDisable(bool disable) override { connection_->readDisable(disable); }
  // The connection's route-timeout timer, created on first use and reused by every stream (a
  // timer per request would cost an allocation and a handle close each time). It calls the
  // current stream's onRouteTimeout().
  StreamTimers& timers() override { return stream_timers_; }
  // The stream finished (response written whole, or reset). `close` closes the connection.
  void onStreamComplete(bool close) override;
  // The stream was cut: close the connection without flushing (`how`: NoFlush, or Reset for RST).
  void onStreamReset(network::CloseType how = network::CloseType::NoFlush) override;
  // Raw bytes for an upgraded (tunnelled) connection.
  void setTunnelled() { tunnelled_ = true; }

  // network::ConnectionCallbacks
  void onData(const char* data, size_t len) override;
  void onEvent(network::ConnectionEvent event) override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;

  // http1::ServerCallbacks
  void onRequestHeaders(RequestHeaders& headers, const http1::MessageInfo& info) override;
  void onRequestBody(const char* data, size_t len) override;
  void onRequestComplete() override;
  void onRequestError(uint16_t status, std::string_view reason) override;

 private:
  void dispatch(const char* data, size_t len);
  void dispatchPending();
  void afterStreamComplete();
  void armIdleTimer();
  void onTimer();
  void close(network::CloseType type);
  void refreshSnapshot();

  WorkerContext& worker_;
  std::string listener_name_;
  SnapshotViewSharedPtr snapshot_;
  const ListenerRuntime* listener_ = nullptr;
  network::ConnectionPtr connection_;
  std::unique_ptr<http1::ServerCodec> codec_;
  std::unique_ptr<ActiveStream> stream_;
  buffer::Buffer pending_input_;  // bytes after a paused (complete) request
  event::TimerPtr timer_;
  StreamTimers stream_timers_{worker_.dispatcher, stream_};
  enum class TimerMode { None, Idle, RequestHeaders } timer_mode_ = TimerMode::None;
  bool closed_ = false;
  bool remote_closed_ = false;
  bool draining_ = false;
  bool tunnelled_ = false;
  bool read_disabled_for_pipeline_ = false;
  bool dispatching_ = false;               // inside codec_->dispatch()
  bool completed_in_dispatch_ = false;     // a stream finished inside that dispatch
  bool in_dispatch_pending_ = false;
  uint64_t last_rx_ = 0;
  uint64_t last_tx_ = 0;
  MonotonicTime request_start_{};  // first byte of the request being read (access log)

  friend class ActiveStream;
};

}  // namespace strait::http
