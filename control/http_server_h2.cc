#include "control/http_server_h2.h"

#include <algorithm>
#include <cstring>

namespace strait::cp::http {
namespace {

constexpr uint32_t kMaxConcurrentStreams = 100;
// Taken body bytes are dropped from the queue's front once there are this many.
constexpr size_t kQueueCompactBytes = 64 * 1024;

// HTTP/1.1 connection headers have no meaning in HTTP/2, and clients reject a response with them.
bool connectionSpecific(std::string_view name) {
  return name == "connection" || name == "transfer-encoding" || name == "keep-alive" ||
         name == "upgrade" || name == "proxy-connection";
}

nghttp2_nv headerField(std::string_view name, std::string_view value) {
  // nghttp2 copies names and values on submit.
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

Http2Exchange::Http2Exchange(Http2Session& session, int32_t stream_id, HttpRequest request)
    : ExchangeBase(std::move(request)), session_(&session), stream_id_(stream_id) {}

bool Http2Exchange::addHeader(std::string_view name, std::string_view value, size_t max_bytes) {
  header_bytes_ += name.size() + value.size() + 4;
  header_too_large_ = header_too_large_ || header_bytes_ > max_bytes;
  if (header_too_large_) {
    return false;
  }
  HttpRequest& request = mutableRequest();
  if (name == ":method") {
    request.method = value;
  } else if (name == ":path") {
    request.path = value;
  } else if (!name.starts_with(':')) {
    request.headers.emplace_back(name, value);
  }
  return true;
}

void Http2Exchange::start(int status, std::vector<std::pair<std::string, std::string>> headers) {
  if (writable() && !started_) {
    submitHead(status, headers);
  }
}

void Http2Exchange::submitHead(int status,
                               const std::vector<std::pair<std::string, std::string>>& headers) {
  started_ = true;
  bodyless_ = request().method == "HEAD" || status == 204 || status == 304;
  std::string status_text = std::to_string(status);
  std::vector<nghttp2_nv> fields{headerField(":status", status_text)};
  for (const auto& [name, value] : headers) {
    if (!connectionSpecific(name)) {
      fields.push_back(headerField(name, value));
    }
  }
  bool body_follows = !bodyless_ && !(responseFinished() && queue_.empty());
  session_->submitResponse(stream_id_, fields, body_follows);
}

void Http2Exchange::write(std::string_view data) {
  if (!writable()) {
    return;
  }
  if (!started_) {
    submitHead(200, {});
  }
  if (bodyless_ || data.empty()) {
    return;
  }
  queue_.append(data);
  session_->resume(stream_id_);
}

void Http2Exchange::finish() {
  if (!writable()) {
    return;
  }
  markFinished();
  if (!started_) {
    submitHead(200, {});
    return;
  }
  session_->resume(stream_id_);
}

void Http2Exchange::respond(int status, std::string_view content_type, std::string_view body) {
  if (!writable() || started_) {
    return;
  }
  // The body is queued first so that HEADERS and DATA leave together.
  queue_.assign(body);
  markFinished();
  submitHead(status, {{"content-type", std::string(content_type)},
                      {"content-length", std::to_string(body.size())}});
}

size_t Http2Exchange::pendingBytes() const {
  if (session_ == nullptr) {
    return 0;
  }
  return queue_.size() - queue_offset_ + session_->pendingWriteBytes();
}

ssize_t Http2Exchange::readBody(uint8_t* buf, size_t length, uint32_t* data_flags) {
  size_t n = std::min(length, queue_.size() - queue_offset_);
  std::memcpy(buf, queue_.data() + queue_offset_, n);
  queue_offset_ += n;
  if (queue_offset_ == queue_.size()) {
    queue_.clear();
    queue_offset_ = 0;
  } else if (queue_offset_ >= kQueueCompactBytes) {
    queue_.erase(0, queue_offset_);
    queue_offset_ = 0;
  }
  if (queue_.empty() && responseFinished()) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  } else if (n == 0) {
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

void Http2Exchange::detach() {
  session_ = nullptr;
  queue_.clear();
  queue_offset_ = 0;
}

Http2Session::Http2Session(Connection& connection) : connection_(connection) {
  nghttp2_session* session = nullptr;
  nghttp2_session_server_new(&session, callbacks(), this);
  session_.reset(session);
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams}};
  // Sent with the first flush, after the client's preface has been read.
  nghttp2_submit_settings(session_.get(), NGHTTP2_FLAG_NONE, settings, std::size(settings));
}

const nghttp2_session_callbacks* Http2Session::callbacks() {
  static const Nghttp2CallbacksPtr kCallbacks = [] {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Http2Session::onBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &Http2Session::onHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Http2Session::onFrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Http2Session::onDataChunkRecv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Http2Session::onStreamClose);
    return Nghttp2CallbacksPtr(cbs);
  }();
  return kCallbacks.get();
}

void Http2Session::receive(std::string_view data) {
  receiving_ = true;
  ssize_t rv = nghttp2_session_mem_recv(session_.get(),
                                        reinterpret_cast<const uint8_t*>(data.data()), data.size());
  receiving_ = false;
  // Draining (closed from a callback, the connection's SessionCall holding off the rest): what
  // nghttp2 queued inside, a GOAWAY among it, still goes out.
  if (connection_.closed()) {
    return;
  }
  flush();
  if (rv < 0) {
    // A protocol error: nghttp2 has queued a GOAWAY saying so, which the flush sent.
    connection_.closeAfterWrites();
  }
}

void Http2Session::flush() {
  if (receiving_ || flushing_ || connection_.closed()) {
    return;
  }
  // nghttp2 may close a stream while it sends, and the handler's on_close may close the server.
  Connection::SessionCall call(connection_);
  flushing_ = true;
  std::string out;
  for (;;) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
    if (n <= 0) {
      break;
    }
    out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  flushing_ = false;
  connection_.send(out);
  if (!nghttp2_session_want_read(session_.get()) && !nghttp2_session_want_write(session_.get())) {
    // Both sides said GOAWAY and no stream is left.
    connection_.closeAfterWrites();
  }
}

void Http2Session::goAway() {
  nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_.get()), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  flush();
}

void Http2Session::detachExchanges() {
  Streams streams = std::move(streams_);
  streams_.clear();
  heads_complete_ = 0;
  for (auto& [id, exchange] : streams) {
    exchange->detach();
    exchange->deliverClose();
  }
}

void Http2Session::submitResponse(int32_t stream_id, const std::vector<nghttp2_nv>& headers,
                                  bool has_body) {
  nghttp2_data_provider body{};
  body.read_callback = &Http2Session::readBody;
  // Fails only if the stream is already gone, which on_stream_close reports anyway.
  nghttp2_submit_response(session_.get(), stream_id, headers.data(), headers.size(),
                          has_body ? &body : nullptr);
  flush();
}

void Http2Session::resume(int32_t stream_id) {
  nghttp2_session_resume_data(session_.get(), stream_id);
  flush();
}

std::shared_ptr<Http2Exchange> Http2Session::find(int32_t stream_id) const {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second;
}

int Http2Session::callbackResult() const {
  return connection_.closing() ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

// nghttp2 callbacks, all from inside nghttp2_session_mem_recv() or mem_send().

int Http2Session::onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  Http2Session& self = from(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  HttpRequest request;
  request.http_major = 2;
  request.peer_address = self.connection_.peer().peer_address;
  request.peer_uri_san = self.connection_.peer().peer_uri_san;
  int32_t id = frame->hd.stream_id;
  self.streams_[id] = std::make_shared<Http2Exchange>(self, id, std::move(request));
  if (self.heads_complete_ == 0) {
    self.connection_.setDeadline(Connection::Deadline::RequestHead);
  }
  return 0;
}

int Http2Session::onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                           size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                           void* user_data) {
  Http2Session& self = from(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;  // trailers are not kept
  }
  if (auto exchange = self.find(frame->hd.stream_id)) {
    // Past the limit the rest of the block is dropped; the stream is answered 431.
    exchange->addHeader(std::string_view(reinterpret_cast<const char*>(name), namelen),
                        std::string_view(reinterpret_cast<const char*>(value), valuelen),
                        self.connection_.options().max_request_header_bytes);
  }
  return 0;
}

int Http2Session::onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  Http2Session& self = from(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) {
    return 0;
  }
  auto exchange = self.find(frame->hd.stream_id);
  if (!exchange) {
    return 0;
  }
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    self.onRequestHead(exchange);
  }
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    exchange->deliverEnd();
  }
  return self.callbackResult();
}

void Http2Session::onRequestHead(const std::shared_ptr<Http2Exchange>& exchange) {
  exchange->markHeadComplete();
  ++heads_complete_;
  connection_.setDeadline(Connection::Deadline::None);
  if (exchange->headerTooLarge()) {
    exchange->respond(431, "text/plain", "request header too large\n");
    return;
  }
  connection_.dispatch(exchange);
}

int Http2Session::onDataChunkRecv(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                                  size_t len, void* user_data) {
  Http2Session& self = from(user_data);
  if (auto exchange = self.find(stream_id)) {
    exchange->deliverData(std::string_view(reinterpret_cast<const char*>(data), len));
  }
  return self.callbackResult();
}

int Http2Session::onStreamClose(nghttp2_session*, int32_t stream_id, uint32_t, void* user_data) {
  Http2Session& self = from(user_data);
  auto it = self.streams_.find(stream_id);
  if (it == self.streams_.end()) {
    return 0;
  }
  std::shared_ptr<Http2Exchange> exchange = std::move(it->second);
  self.streams_.erase(it);
  if (exchange->headComplete()) {
    --self.heads_complete_;
  }
  if (self.heads_complete_ == 0) {
    // The streams left, if any, have a header block still arriving: it is timed from here.
    self.connection_.setDeadline(self.streams_.empty() ? Connection::Deadline::Idle
                                                       : Connection::Deadline::RequestHead);
  }
  exchange->detach();
  exchange->deliverClose();
  return 0;
}

ssize_t Http2Session::readBody(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                               uint32_t* data_flags, nghttp2_data_source*, void* user_data) {
  auto exchange = from(user_data).find(stream_id);
  if (!exchange) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  return exchange->readBody(buf, length, data_flags);
}

}  // namespace strait::cp::http
