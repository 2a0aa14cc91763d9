#pragma once

// The HTTP/2 connection manager: one per downstream HTTP/2 connection (h2c with prior knowledge
// today, h2 over TLS by ALPN later), on an nghttp2 server session. Every HTTP/2 stream gets its
// own Stream (a DownstreamStream) and ActiveStream, so routing, filters and the upstream side
// are the same code as for HTTP/1.1.
//
// Flow control (docs/life-of-a-request.md, "HTTP/2"):
// - Request bodies: automatic WINDOW_UPDATEs are off. Received DATA is consumed (its window
//   given back) as it is handed to the stream, except while the stream has read-disabled its
//   body (the upstream's write buffer is full, or no upstream is attached yet and 1 MiB is
//   buffered): then the bytes are held against the window until it resumes. A client can never
//   have more than the stream window in flight per stream.
// - Response bodies: each stream queues at most kStreamBufferLimit bytes; above it the stream's
//   upstream stops being read, below half of it reading resumes. nghttp2 pulls from the queue
//   only as the client's windows allow, and frames are produced only while the connection's
//   write buffer is under its 1 MiB watermark. So a slow reader costs a bounded amount of memory.
//
// Limits: SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE and the connection
// window from the listener's `http.http2`; SETTINGS_MAX_HEADER_LIST_SIZE from
// `max_request_headers_kb` (a larger request head, or more than `max_headers` fields, is
// answered 431); nghttp2's flood protections at their defaults (see
// http2_conn_manager_session.cc, which holds the session side: callbacks, SETTINGS, the read and
// write pumps; http2_conn_manager.cc holds the streams and the connection's lifecycle).

#include <memory>
#include <string>
#include <unordered_map>

#include "proxy/event/timer_set.h"
#include "proxy/http/listener_runtime.h"
#include "proxy/http/server_connection.h"
#include "proxy/network/connection_impl.h"
#include "strait/http/worker_context.h"

struct nghttp2_session;

namespace strait::http {

class Http2ConnectionManager : public ServerConnection,
                               public network::ConnectionCallbacks,
                               public event::EndOfIterationTarget {
 public:
  Http2ConnectionManager(WorkerContext& worker, const std::string& listener_name,
                         network::ConnectionPtr connection, List& owner);
  ~Http2ConnectionManager() override;

  // ServerConnection
  // Drain: GOAWAY with the last stream id, let the streams in flight finish, then close.
  void startDrain() override;
  void closeNow() override;
  void feed(const char* data, size_t len) override { onData(data, len); }

  // network::ConnectionCallbacks
  void onData(const char* data, size_t len) override;
  void onEvent(network::ConnectionEvent event) override;
  void onBelowWriteBufferLowWatermark() override { sendPending(); }

  class Stream;
  // nghttp2 callbacks (static trampolines in http2_conn_manager_session.cc call these).
  int onBeginHeaders(int32_t stream_id);
  int onHeader(int32_t stream_id, bool trailers, std::string_view name, std::string_view value);
  int onFrameRecv(int32_t stream_id, uint8_t type, uint8_t flags, bool trailers);
  int onDataChunk(int32_t stream_id, const uint8_t* data, size_t len);
  int onFrameSend(int32_t stream_id, uint8_t type, uint8_t flags);
  int onStreamClose(int32_t stream_id, uint32_t error_code);

 private:
  friend class Stream;
  struct SessionDeleter {
    void operator()(nghttp2_session* session) const;
  };
  // The connection's write buffer: frames are produced only below it.
  static constexpr size_t kConnectionWriteLimit = 1024 * 1024;

  // A server session whose callbacks reach `manager`.
  static nghttp2_session* newServerSession(Http2ConnectionManager* manager);
  // SETTINGS and the connection window from the listener's `http` block: the first frames out.
  void submitSettings();
  void refreshSnapshot();
  // Produces frames while the connection's write buffer has room; never inside nghttp2's own
  // callbacks (then it runs once the callback returns).
  void sendPending();
  // sendPending() at the end of this loop iteration: responses that many upstream callbacks of
  // one iteration produce go out in one write instead of one each.
  void scheduleSend();
  void onEndOfIteration() override;
  void maybeClose();
  void close(network::CloseType type);
  void armIdleTimer();
  // After a read: arms the request-headers timer when a request's header block is still open
  // (once per block: drip-fed CONTINUATION frames do not push the deadline back), disarms it
  // when none is.
  void syncHeadersTimer();
  void onHeadersTimeout();
  Stream* findStream(int32_t stream_id);
  void updateByteStats();

  WorkerContext& worker_;
  std::string listener_name_;
  SnapshotViewSharedPtr snapshot_;
  const ListenerRuntime* listener_ = nullptr;
  network::ConnectionPtr connection_;
  std::unique_ptr<nghttp2_session, SessionDeleter> session_;
  // The streams' route and per-try timers, on one libuv timer (declared before streams_: it
  // must outlive them).
  event::TimerSet stream_timer_set_;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  event::TimerPtr idle_timer_;
  // http.request_headers_timeout: the stream whose request header block has begun and not
  // ended (HTTP/2 sends a block contiguously, so there is at most one), and the one the timer
  // is armed for.
  int32_t headers_open_ = 0;
  int32_t headers_timer_for_ = 0;
  MonotonicTime headers_started_{};
  event::TimerPtr headers_timer_;
  uint64_t last_rx_ = 0;
  uint64_t last_tx_ = 0;
  bool in_nghttp2_ = false;   // inside mem_recv/mem_send: no re-entry
  bool send_wanted_ = false;  // a send was asked for while in_nghttp2_
  bool send_scheduled_ = false;  // scheduleSend() registered for this iteration's end
  bool draining_ = false;
  bool remote_closed_ = false;
  bool closed_ = false;
};

}  // namespace strait::http
