#pragma once

// The HTTP/1.1 connection manager: one per downstream connection. It feeds bytes to the codec,
// runs one request at a time (pipelined requests wait their turn, responses go out in order),
// owns the connection's idle and request-headers timers, and hands each request to an
// ActiveStream, which routes it and proxies it upstream.

#include <list>
#include <memory>

#include "proxy/network/connection_impl.h"
#include "proxy/server/worker_context.h"
#include "strait/http/http1_codec.h"

namespace strait::http {

class ActiveStream;

class ConnectionManager : public network::ConnectionCallbacks,
                          public http1::ServerCallbacks,
                          public event::DeferredDeletable {
 public:
  using List = std::list<std::unique_ptr<ConnectionManager>>;

  // Creates a manager for an accepted connection and adds it to `owner`, which it leaves (and
  // is deleted) when the connection closes.
  static void create(server::WorkerContext& worker, const std::string& listener_name,
                     network::ConnectionPtr connection, List& owner);
  ConnectionManager(server::WorkerContext& worker, const std::string& listener_name,
                    network::ConnectionPtr connection, List& owner);
  ~ConnectionManager() override;

  // Drain: close now if idle, otherwise after the response in progress.
  void startDrain();
  // Shutdown: close now.
  void closeNow();

  // Used by ActiveStream.
  network::Connection& connection() { return *connection_; }
  http1::ServerCodec& codec() { return *codec_; }
  server::WorkerContext& worker() { return worker_; }
  const server::ListenerRuntime& listener() const { return *listener_; }
  const server::SnapshotSharedPtr& snapshot() const { return snapshot_; }
  void writeDownstream(buffer::Buffer& data) { connection_->write(data); }
  // The stream finished (response written whole, or reset). `close` closes the connection.
  void onStreamComplete(bool close);
  // The stream was cut: close the connection without flushing (`how`: NoFlush, or Reset for RST).
  void onStreamReset(network::CloseType how = network::CloseType::NoFlush);
  // The connection's route-timeout timer, created on first use and reused by every stream (a
  // timer per request would cost an allocation and a handle close each time). It calls the
  // current stream's onRouteTimeout().
  event::Timer& routeTimer();
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

  server::WorkerContext& worker_;
  std::string listener_name_;
  server::SnapshotSharedPtr snapshot_;
  const server::ListenerRuntime* listener_ = nullptr;
  network::ConnectionPtr connection_;
  std::unique_ptr<http1::ServerCodec> codec_;
  std::unique_ptr<ActiveStream> stream_;
  buffer::Buffer pending_input_;  // bytes after a paused (complete) request
  event::TimerPtr timer_;
  event::TimerPtr route_timer_;
  List& owner_;
  List::iterator self_;
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

  friend class ActiveStream;
};

}  // namespace strait::http
