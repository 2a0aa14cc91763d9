#pragma once

// HTTP/2 on one connection (nghttp2): each stream is an exchange. A response body is queued in
// its exchange and pulled by nghttp2 through a data provider that defers while the queue is
// empty; write() and finish() resume it. nghttp2 sends WINDOW_UPDATE on its own as request DATA
// is delivered, so a stream may carry a body for hours without stalling. The connection's
// deadline: idle while no exchange is in progress (none dispatched and still open), the
// request-head one while a stream's header block is arriving on such a connection, none while
// an exchange is in progress.

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "control/http_server_connection.h"
#include "control/http_server_exchange.h"
#include "control/nghttp2_types.h"

namespace strait::cp::http {

class Http2Session;

// One stream. Dropped by the handler before finish(), it stays with the session until the peer
// resets the stream or closes the connection.
class Http2Exchange : public ExchangeBase {
 public:
  Http2Exchange(Http2Session& session, int32_t stream_id, HttpRequest request);

  // Exchange
  void start(int status, std::vector<std::pair<std::string, std::string>> headers) override;
  void write(std::string_view data) override;
  void finish() override;
  void respond(int status, std::string_view content_type, std::string_view body) override;
  size_t pendingBytes() const override;

  // A request header as it arrives. False once the header block is over `max_bytes`.
  bool addHeader(std::string_view name, std::string_view value, size_t max_bytes);
  bool headerTooLarge() const { return header_too_large_; }
  // The header block is complete: from here the exchange is in progress.
  void markHeadComplete() { head_complete_ = true; }
  bool headComplete() const { return head_complete_; }
  // The data provider's read: copies queued body bytes, defers while there are none.
  ssize_t readBody(uint8_t* buf, size_t length, uint32_t* data_flags);
  void detach();

 private:
  bool writable() const { return session_ != nullptr && !isClosed() && !responseFinished(); }
  void submitHead(int status, const std::vector<std::pair<std::string, std::string>>& headers);

  Http2Session* session_;
  int32_t stream_id_;
  size_t header_bytes_ = 0;
  bool header_too_large_ = false;
  bool head_complete_ = false;
  bool started_ = false;
  // HEAD, 204 and 304 responses have no body.
  bool bodyless_ = false;
  // Body bytes not yet taken by nghttp2 start at queue_offset_.
  std::string queue_;
  size_t queue_offset_ = 0;
};

class Http2Session : public Session {
 public:
  explicit Http2Session(Connection& connection);

  // Session
  void receive(std::string_view data) override;
  void goAway() override;
  void detachExchanges() override;
  // A header block not finished in time: GOAWAY and close (no stream to answer 408 on yet).
  void requestHeadTimedOut() override { connection_.shutdown(); }

  // From the exchange.
  void submitResponse(int32_t stream_id, const std::vector<nghttp2_nv>& headers, bool has_body);
  void resume(int32_t stream_id);
  size_t pendingWriteBytes() const { return connection_.pendingWriteBytes(); }

 private:
  using Streams = std::unordered_map<int32_t, std::shared_ptr<Http2Exchange>>;

  static Http2Session& from(void* user_data) { return *static_cast<Http2Session*>(user_data); }
  static const nghttp2_session_callbacks* callbacks();
  static int onBeginHeaders(nghttp2_session* session, const nghttp2_frame* frame, void* user_data);
  static int onHeader(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* user_data);
  static int onFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data);
  static int onDataChunkRecv(nghttp2_session* session, uint8_t flags, int32_t stream_id,
                             const uint8_t* data, size_t len, void* user_data);
  static int onStreamClose(nghttp2_session* session, int32_t stream_id, uint32_t error_code,
                           void* user_data);
  static ssize_t readBody(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source* source, void* user_data);

  std::shared_ptr<Http2Exchange> find(int32_t stream_id) const;
  void onRequestHead(const std::shared_ptr<Http2Exchange>& exchange);
  // Hands nghttp2's output to the connection. Not from inside nghttp2_session_mem_recv (nghttp2
  // forbids it): receive() flushes once that returns.
  void flush();
  // A callback's answer: stop nghttp2 if the connection closed under it.
  int callbackResult() const;

  Connection& connection_;
  Nghttp2SessionPtr session_;
  Streams streams_;
  // Streams in streams_ whose head is complete: the exchanges in progress.
  size_t heads_complete_ = 0;
  bool receiving_ = false;
  bool flushing_ = false;
};

}  // namespace strait::cp::http
