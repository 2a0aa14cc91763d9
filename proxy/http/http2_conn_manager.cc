#include "proxy/http/http2_conn_manager.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>

#include "proxy/http/access_log_emit.h"
#include "proxy/http/active_stream.h"
#include "proxy/http/http2_flow_control.h"
#include "proxy/http/http2_headers.h"

namespace strait::http {

namespace {

// Response bytes one stream may queue before its upstream is paused (see the header).
constexpr size_t kStreamBufferLimit = 256 * 1024;

constexpr std::string_view kHeadersTooLarge = "request headers too large\n";

}  // namespace

// ---- Stream ---------------------------------------------------------------------------------

// One HTTP/2 stream: the request as received, its ActiveStream, and the response body queued
// for nghttp2's data provider. Lives until nghttp2 closes the stream, which can be after the
// ActiveStream finished (its last bytes still waiting for window).
class Http2ConnectionManager::Stream : public DownstreamStream, public event::DeferredDeletable {
 public:
  Stream(Http2ConnectionManager& parent, int32_t id)
      : parent_(parent), id_(id), snapshot_(parent.snapshot_), listener_(parent.listener_) {}
  ~Stream() override {
    if (active_ != nullptr) {
      active_->emitAccessLog();  // a stream cut short with its connection (DC, shutdown)
    }
    active_.reset();
  }

  // DownstreamStream
  WorkerContext& worker() override { return parent_.worker_; }
  const ListenerRuntime& listener() const override { return *listener_; }
  const SnapshotViewSharedPtr& snapshot() const override { return snapshot_; }
  const std::string& remoteAddress() const override {
    return parent_.connection_->remoteAddress();
  }
  const network::Connection& connection() const override { return *parent_.connection_; }
  void encode100Continue(buffer::Buffer&) override {
    const nghttp2_nv nv[] = {{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(":status")),
                              const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>("100")), 7,
                              3, NGHTTP2_NV_FLAG_NONE}};
    nghttp2_submit_headers(session(), NGHTTP2_FLAG_NONE, id_, nullptr, nv, 1, nullptr);
  }
  void encodeHeaders(const ResponseHeaders& headers, bool end_stream, bool close_connection,
                     buffer::Buffer&) override;
  void encodeData(buffer::Buffer& data, bool end_stream, buffer::Buffer&) override;
  void encodeTrailers(const HeaderMap& trailers) override { trailers_ = trailers; }
  void writeDownstream(buffer::Buffer& data) override {
    if (!data.empty()) {
      out_.add(data, false);  // nothing produces raw bytes on HTTP/2; kept as body if it ever does
      out_.resume(session(), id_);
    }
    parent_.scheduleSend();
  }
  bool closeAfterResponse() const override { return false; }
  bool remoteClosed() const override { return false; }
  // Nothing to do: onFinalFrameSent() resets the stream whenever its request is unfinished.
  void setRemoteClosed() override {}
  void readDisable(bool disable) override;
  StreamTimers& timers() override { return timers_; }
  void onStreamComplete(bool close) override;
  void onStreamReset(network::CloseType how) override;

  // From the manager.
  void onHeader(std::string_view name, std::string_view value);
  void onHeadersComplete(bool end_stream);
  void onData(const uint8_t* data, size_t len);
  void onRequestEnd();
  void onClosed();
  void onFinalFrameSent();
  ssize_t readBody(uint8_t* buf, size_t length, uint32_t* flags);
  bool hasActive() const { return active_ != nullptr; }
  // The client sent FIN: a request still arriving can never complete.
  void abandonIfIncomplete() {
    if (active_ != nullptr && !request_ended_) {
      active_->onDownstreamReset();
      dropActive();
    }
  }
  void downstreamReset() {
    if (active_ != nullptr) {
      active_->onDownstreamReset();
    }
  }

 private:
  nghttp2_session* session() { return parent_.session_.get(); }
  void submitResponse(const ResponseHeaders& headers, bool end_stream);
  void sendHeadersTooLarge();
  void submitTrailers(uint32_t* flags);
  void dropActive() {
    timers_.disableAll();
    if (active_ != nullptr) {
      active_->emitAccessLog();  // logs once, however the stream ended
      parent_.worker_.dispatcher.deferredDelete(std::move(active_));
    }
  }

  Http2ConnectionManager& parent_;
  const int32_t id_;
  SnapshotViewSharedPtr snapshot_;
  const ListenerRuntime* listener_;
  RequestHeaders request_;
  std::unique_ptr<ActiveStream> active_;
  StreamTimers timers_{parent_.stream_timer_set_, active_};
  http2::OutboundBody out_{kStreamBufferLimit};  // response body waiting for window
  HeaderMap trailers_;          // sent after the body (gRPC's grpc-status)
  size_t header_bytes_ = 0;
  http2::InboundFlowControl inbound_;  // the request body's window
  bool headers_too_large_ = false;
  bool request_ended_ = false;
  bool response_submitted_ = false;
};

void Http2ConnectionManager::Stream::onHeader(std::string_view name, std::string_view value) {
  if (headers_too_large_) {
    return;
  }
  header_bytes_ += http2::fieldListSize(name, value);
  const auto& http = listener_->config.http;
  if (header_bytes_ > size_t{http.max_request_headers_kb} * 1024 ||
      request_.headers.size() >= http.max_headers) {
    headers_too_large_ = true;
    return;
  }
  http2::addRequestField(request_, name, value);
}

void Http2ConnectionManager::Stream::onHeadersComplete(bool end_stream) {
  request_ended_ = end_stream;
  if (headers_too_large_) {
    sendHeadersTooLarge();
    return;
  }
  request_.version_major = 2;
  request_.version_minor = 0;
  http1::MessageInfo info;
  if (const std::string* length = request_.headers.get("content-length")) {
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(length->data(), length->data() + length->size(), value);
    if (ec == std::errc() && ptr == length->data() + length->size()) {
      info.content_length = value;  // nghttp2 checks the DATA against it
    }
  }
  if (!end_stream && !info.content_length.has_value()) {
    info.chunked = true;  // a body of unknown length: chunked to an HTTP/1.1 upstream
  }
  info.has_body = !end_stream;
  active_ = std::make_unique<ActiveStream>(*this);
  // Keep a raw pointer: decodeHeaders may finish the stream (a direct response), which hands
  // active_ to deferred deletion.
  ActiveStream* active = active_.get();
  active->decodeHeaders(request_, info);
  if (end_stream && active_ != nullptr) {
    active_->decodeComplete();
  }
}

void Http2ConnectionManager::Stream::onData(const uint8_t* data, size_t len) {
  inbound_.onData(session(), id_, len, active_ != nullptr);
  if (active_ != nullptr) {
    active_->decodeData(reinterpret_cast<const char*>(data), len);
  }
}

void Http2ConnectionManager::Stream::onRequestEnd() {
  request_ended_ = true;
  if (active_ != nullptr) {
    active_->decodeComplete();
  }
}

void Http2ConnectionManager::Stream::readDisable(bool disable) {
  if (inbound_.readDisable(session(), id_, disable)) {
    parent_.sendPending();  // the WINDOW_UPDATE
  }
}

void Http2ConnectionManager::Stream::encodeHeaders(const ResponseHeaders& headers,
                                                   bool end_stream, bool close_connection,
                                                   buffer::Buffer&) {
  submitResponse(headers, end_stream);
  if (close_connection) {
    // Draining: this connection takes no new streams; the others finish.
    parent_.startDrain();
  }
}

void Http2ConnectionManager::Stream::submitResponse(const ResponseHeaders& headers,
                                                    bool end_stream) {
  http2::FieldList fields;
  http2::responseFields(headers, fields);
  std::vector<nghttp2_nv> nv;
  nv.reserve(fields.fields.size());
  for (const auto& [name, value] : fields.fields) {
    nv.push_back({const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
                  const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())),
                  name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  response_submitted_ = true;
  out_.setEnded(end_stream);
  if (end_stream) {
    nghttp2_submit_response(session(), id_, nv.data(), nv.size(), nullptr);
    return;
  }
  nghttp2_data_provider provider;
  provider.source.ptr = this;
  provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                              uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
    return static_cast<Stream*>(source->ptr)->readBody(buf, length, flags);
  };
  nghttp2_submit_response(session(), id_, nv.data(), nv.size(), &provider);
}

void Http2ConnectionManager::Stream::encodeData(buffer::Buffer& data, bool end_stream,
                                                buffer::Buffer&) {
  http2::OutboundBody::Mark mark = out_.add(data, end_stream);
  out_.resume(session(), id_);
  if (mark == http2::OutboundBody::Mark::High && active_ != nullptr) {
    active_->onDownstreamWriteHigh();  // pauses the upstream
  }
}

ssize_t Http2ConnectionManager::Stream::readBody(uint8_t* buf, size_t length, uint32_t* flags) {
  http2::OutboundBody::Mark mark;
  ssize_t n = out_.read(buf, length, flags, mark);
  if ((*flags & NGHTTP2_DATA_FLAG_EOF) != 0 && !trailers_.empty()) {
    submitTrailers(flags);
  }
  if (mark == http2::OutboundBody::Mark::Low && active_ != nullptr) {
    active_->onDownstreamWriteLow();
  }
  return n;
}

void Http2ConnectionManager::Stream::submitTrailers(uint32_t* flags) {
  std::vector<nghttp2_nv> nv;
  nv.reserve(trailers_.size());
  for (const HeaderEntry& entry : trailers_) {
    if (http2::isConnectionSpecific(entry.name)) {
      continue;
    }
    nv.push_back({const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(entry.name.data())),
                  const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(entry.value.data())),
                  entry.name.size(), entry.value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  // The trailers' HEADERS frame carries END_STREAM instead of the last DATA frame.
  if (nghttp2_submit_trailer(session(), id_, nv.data(), nv.size()) == 0) {
    *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
  }
  trailers_.clear();
}

void Http2ConnectionManager::Stream::onFinalFrameSent() {
  if (!request_ended_) {
    // The response went out before the request ended (a local reply, an early upstream
    // answer): the rest of the request has nowhere to go (RFC 9113 8.1).
    nghttp2_submit_rst_stream(session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_NO_ERROR);
  }
}

void Http2ConnectionManager::Stream::onStreamComplete(bool close) {
  dropActive();
  if (close) {
    parent_.startDrain();  // only the tunnel path asks, which HTTP/2 never takes
  }
  parent_.scheduleSend();
}

void Http2ConnectionManager::Stream::onStreamReset(network::CloseType how) {
  dropActive();
  nghttp2_submit_rst_stream(session(), NGHTTP2_FLAG_NONE, id_,
                            how == network::CloseType::Reset ? NGHTTP2_CANCEL
                                                             : NGHTTP2_INTERNAL_ERROR);
  parent_.sendPending();
}

void Http2ConnectionManager::Stream::sendHeadersTooLarge() {
  auto it = listener_->stats.rq_rejected.find(431);
  if (it != listener_->stats.rq_rejected.end()) {
    parent_.worker_.shard.inc(it->second);
  }
  listener_->stats.rq_by_class.inc(parent_.worker_.shard, 431);
  ResponseHeaders response;
  response.status = 431;
  response.headers.add("content-type", "text/plain");
  response.headers.add("content-length", std::to_string(kHeadersTooLarge.size()));
  submitResponse(response, false);
  out_.add(kHeadersTooLarge, true);
}

void Http2ConnectionManager::Stream::onClosed() {
  if (active_ != nullptr) {
    // The client reset the stream (or the connection went): only this stream's upstream goes.
    active_->onDownstreamReset();
  }
  timers_.disableAll();
}

// ---- Http2ConnectionManager -----------------------------------------------------------------

Http2ConnectionManager::Http2ConnectionManager(WorkerContext& worker,
                                               const std::string& listener_name,
                                               network::ConnectionPtr connection, List& owner)
    : ServerConnection(owner),
      worker_(worker),
      listener_name_(listener_name),
      connection_(std::move(connection)),
      session_(newServerSession(this)),
      stream_timer_set_(worker.dispatcher) {
  refreshSnapshot();
  connection_->setCallbacks(*this);
  connection_->setWriteBufferLimits(kConnectionWriteLimit);
  worker_.shard.inc(listener_->stats.cx_total);
  worker_.shard.add(listener_->stats.cx_active, 1);
  idle_timer_ = worker_.dispatcher.createTimer([this]() {
    startDrain();  // GOAWAY; closes at once since no stream is open
  });
  submitSettings();
  armIdleTimer();
}

Http2ConnectionManager::~Http2ConnectionManager() {
  streams_.clear();  // their ActiveStreams release their upstreams
  if (send_scheduled_) {
    worker_.dispatcher.cancelFlush(this);  // (after the streams: they may have scheduled one)
  }
  network::releaseConnection(std::move(connection_));
}

void Http2ConnectionManager::refreshSnapshot() {
  refreshListener(worker_, listener_name_, snapshot_, listener_);
}

void Http2ConnectionManager::armIdleTimer() {
  idle_timer_->enableTimer(listener_->config.http.idle_timeout);
}

Http2ConnectionManager::Stream* Http2ConnectionManager::findStream(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void Http2ConnectionManager::syncHeadersTimer() {
  if (headers_open_ == headers_timer_for_) {
    return;  // the common case: no block open before or after this read
  }
  if (headers_open_ == 0) {
    headers_timer_->disableTimer();
  } else {
    if (headers_timer_ == nullptr) {
      headers_timer_ = worker_.dispatcher.createTimer([this]() { onHeadersTimeout(); });
    }
    headers_timer_->enableTimer(listener_->config.http.request_headers_timeout);
  }
  headers_timer_for_ = headers_open_;
}

// A request's header block stayed open for request_headers_timeout. Nothing else can arrive on
// the connection meanwhile (CONTINUATION frames must follow their HEADERS), so, as HTTP/1.1
// closes the connection after its 408, the connection ends: GOAWAY, then close.
void Http2ConnectionManager::onHeadersTimeout() {
  if (closed_) {
    return;
  }
  auto it = listener_->stats.rq_rejected.find(408);
  if (it != listener_->stats.rq_rejected.end()) {
    worker_.shard.inc(it->second);
  }
  listener_->stats.rq_by_class.inc(worker_.shard, 408);
  emitCodecErrorAccessLog(worker_, *connection_, 408, headers_started_, 0);
  headers_open_ = 0;
  headers_timer_for_ = 0;
  for (auto& [id, stream] : streams_) {
    stream->downstreamReset();  // requests in flight on the connection go with it
  }
  nghttp2_session_terminate_session(session_.get(), NGHTTP2_NO_ERROR);
  sendPending();
  close(network::CloseType::FlushWrite);
}

void Http2ConnectionManager::maybeClose() {
  if (closed_) {
    return;
  }
  bool want_read = nghttp2_session_want_read(session_.get()) != 0;
  bool want_write = nghttp2_session_want_write(session_.get()) != 0;
  if (!want_read && !want_write) {
    close(network::CloseType::FlushWrite);  // GOAWAY exchanged, or a connection error sent
    return;
  }
  if (want_write) {
    return;
  }
  if (draining_ && streams_.empty()) {
    close(network::CloseType::FlushWrite);
    return;
  }
  if (remote_closed_ && std::none_of(streams_.begin(), streams_.end(), [](const auto& entry) {
        return entry.second->hasActive();
      })) {
    // The client sent FIN and every answer it can still get has been written.
    close(network::CloseType::FlushWrite);
  }
}

int Http2ConnectionManager::onBeginHeaders(int32_t stream_id) {
  refreshSnapshot();  // a new stream uses the config in force
  idle_timer_->disableTimer();
  headers_open_ = stream_id;
  headers_started_ = worker_.dispatcher.approximateMonotonicTime();
  streams_.emplace(stream_id, std::make_unique<Stream>(*this, stream_id));
  return 0;
}

int Http2ConnectionManager::onHeader(int32_t stream_id, bool trailers, std::string_view name,
                                     std::string_view value) {
  if (trailers) {
    return 0;  // request trailers are dropped: HTTP/1.1 upstreams get no trailers
  }
  if (Stream* stream = findStream(stream_id)) {
    stream->onHeader(name, value);
  }
  return 0;
}

int Http2ConnectionManager::onFrameRecv(int32_t stream_id, uint8_t type, uint8_t flags,
                                        bool trailers) {
  Stream* stream = stream_id != 0 ? findStream(stream_id) : nullptr;
  if (stream == nullptr) {
    return 0;
  }
  bool end_stream = (flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (type == NGHTTP2_HEADERS && !trailers) {
    if (stream_id == headers_open_) {
      headers_open_ = 0;
    }
    stream->onHeadersComplete(end_stream);
    return 0;
  }
  if ((type == NGHTTP2_DATA || type == NGHTTP2_HEADERS) && end_stream) {
    stream->onRequestEnd();
  }
  return 0;
}

int Http2ConnectionManager::onDataChunk(int32_t stream_id, const uint8_t* data, size_t len) {
  Stream* stream = findStream(stream_id);
  if (stream == nullptr) {
    nghttp2_session_consume(session_.get(), stream_id, len);
    return 0;
  }
  stream->onData(data, len);
  return 0;
}

int Http2ConnectionManager::onFrameSend(int32_t stream_id, uint8_t type, uint8_t flags) {
  if ((type == NGHTTP2_DATA || type == NGHTTP2_HEADERS) &&
      (flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    if (Stream* stream = findStream(stream_id)) {
      stream->onFinalFrameSent();
    }
  }
  return 0;
}

int Http2ConnectionManager::onStreamClose(int32_t stream_id, uint32_t) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) {
    return 0;
  }
  if (stream_id == headers_open_) {
    headers_open_ = 0;  // reset before its head ended (e.g. headers over the size limit)
  }
  it->second->onClosed();
  worker_.dispatcher.deferredDelete(std::move(it->second));
  streams_.erase(it);
  if (!closed_) {
    updateByteStats();
  }
  if (streams_.empty() && !closed_) {
    armIdleTimer();
  }
  return 0;
}

void Http2ConnectionManager::onEvent(network::ConnectionEvent event) {
  switch (event) {
    case network::ConnectionEvent::RemoteHalfClose: {
      // The client sends nothing more: streams whose request is complete still get their
      // response, the others are abandoned.
      remote_closed_ = true;
      bool any_active = false;
      for (auto& [id, stream] : streams_) {
        stream->abandonIfIncomplete();
        any_active = any_active || stream->hasActive();
      }
      if (!any_active) {
        close(network::CloseType::FlushWrite);
        return;
      }
      maybeClose();
      return;
    }
    case network::ConnectionEvent::RemoteReset:
      for (auto& [id, stream] : streams_) {
        stream->downstreamReset();
      }
      close(network::CloseType::NoFlush);
      return;
    case network::ConnectionEvent::Connected:
    case network::ConnectionEvent::ConnectFailed:
      return;
  }
}

void Http2ConnectionManager::closeNow() {
  for (auto& [id, stream] : streams_) {
    stream->downstreamReset();
  }
  close(network::CloseType::NoFlush);
}

void Http2ConnectionManager::updateByteStats() {
  uint64_t rx = connection_->bytesReceived();
  uint64_t tx = connection_->bytesSent();
  worker_.shard.inc(listener_->stats.cx_rx_bytes, rx - last_rx_);
  worker_.shard.inc(listener_->stats.cx_tx_bytes, tx - last_tx_);
  last_rx_ = rx;
  last_tx_ = tx;
}

void Http2ConnectionManager::close(network::CloseType type) {
  if (closed_) {
    return;
  }
  closed_ = true;
  idle_timer_->disableTimer();
  if (headers_timer_ != nullptr) {
    headers_timer_->disableTimer();
  }
  updateByteStats();
  worker_.shard.sub(listener_->stats.cx_active, 1);
  connection_->close(type);
  removeSelf(worker_.dispatcher);
}

}  // namespace strait::http
