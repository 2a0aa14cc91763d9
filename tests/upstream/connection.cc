#include "tests/upstream/connection.h"

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "tests/upstream/server.h"

namespace strait::testupstream {
namespace {

constexpr size_t kReadBufferSize = 64 * 1024;
// Generated bodies go out in slices of this size, so a 1 GiB body never sits in memory.
constexpr size_t kBodySlice = 64 * 1024;
constexpr size_t kPatternPeriod = 64;
// Pipelined input buffered while a response is in flight; above this we stop reading.
constexpr size_t kMaxPending = 1024 * 1024;
// After "connection: close" we shut down our side and wait this long for the client's EOF, so
// that closing with unread input does not turn into a RST that eats the response.
constexpr uint64_t kDrainTimeoutMs = 2000;
// reset=after_headers with no body size still promises a body, so the client sees truncation.
constexpr uint64_t kResetAdvertisedBytes = 1024;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";

// One slice of the repeating body pattern, plus one period so any offset can start a slice.
const char* bodyPattern() {
  static const std::unique_ptr<char[]> pattern = [] {
    static constexpr std::string_view kLine =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.\n";
    static_assert(kLine.size() == kPatternPeriod);
    auto buffer = std::make_unique<char[]>(kBodySlice + kPatternPeriod);
    for (size_t i = 0; i < kBodySlice + kPatternPeriod; ++i) {
      buffer[i] = kLine[i % kPatternPeriod];
    }
    return buffer;
  }();
  return pattern.get();
}

uv_stream_t* asStream(uv_tcp_t* tcp) {
  return reinterpret_cast<uv_stream_t*>(tcp);
}
uv_handle_t* asHandle(void* handle) {
  return static_cast<uv_handle_t*>(handle);
}

}  // namespace

Connection::Connection(Server& server) : server_(server), readBuffer_(new char[kReadBufferSize]) {
  llhttp_init(&parser_, HTTP_REQUEST, &parserSettings());
  parser_.data = this;
  tcp_.data = this;
  timer_.data = this;
  writeReq_.data = this;
  echoReq_.data = this;
  shutdownReq_.data = this;
  head_.reserve(512);
}

const llhttp_settings_t& Connection::parserSettings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &Connection::onMessageBegin;
    s.on_url = &Connection::onUrl;
    s.on_header_field = &Connection::onHeaderField;
    s.on_header_value = &Connection::onHeaderValue;
    s.on_headers_complete = &Connection::onHeadersComplete;
    s.on_body = &Connection::onBody;
    s.on_message_complete = &Connection::onMessageComplete;
    return s;
  }();
  return settings;
}

int Connection::accept(uv_stream_t* listener) {
  uv_tcp_init(server_.loop(), &tcp_);
  ++openHandles_;
  uv_timer_init(server_.loop(), &timer_);
  ++openHandles_;
  int rc = uv_accept(listener, asStream(&tcp_));
  if (rc != 0) {
    close();
    return rc;
  }
  uv_tcp_nodelay(&tcp_, 1);
  startReading();
  return 0;
}

void Connection::close() {
  closeHandles(false);
}

void Connection::closeWithReset() {
  closeHandles(true);
}

void Connection::closeHandles(bool reset) {
  if (closing_) {
    return;
  }
  closing_ = true;
  reading_ = false;
  if (inFlight_) {
    server_.stats().cancelled++;  // the peer went away before its response was sent
  }
  endInFlight();
  leaveCapacity();
  uv_timer_stop(&timer_);
  uv_close(asHandle(&timer_), &Connection::onClose);
  // close_reset sets SO_LINGER 0, so the kernel answers with RST instead of FIN.
  if (reset && uv_tcp_close_reset(&tcp_, &Connection::onClose) == 0) {
    return;
  }
  uv_close(asHandle(&tcp_), &Connection::onClose);
}

void Connection::onClose(uv_handle_t* handle) {
  auto* self = static_cast<Connection*>(handle->data);
  if (--self->openHandles_ == 0) {
    self->server_.onConnectionClosed(self);
    delete self;
  }
}

// ---- Reading and parsing ----

void Connection::startReading() {
  if (!reading_ && !closing_) {
    uv_read_start(asStream(&tcp_), &Connection::onAlloc, &Connection::onRead);
    reading_ = true;
  }
}

void Connection::stopReading() {
  if (reading_) {
    uv_read_stop(asStream(&tcp_));
    reading_ = false;
  }
}

void Connection::onAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(handle->data);
  *buf = uv_buf_init(self->readBuffer_.get(), kReadBufferSize);
}

void Connection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(stream->data);
  if (self->closing_ || nread == 0) {
    return;
  }
  if (nread < 0) {
    self->handleReadEnd(nread);
    return;
  }
  auto length = static_cast<size_t>(nread);
  switch (self->state_) {
    case State::Reading:
      self->feed(buf->base, length);
      break;
    case State::Tunnel:
      self->echo(buf->base, length);
      break;
    case State::Draining:
      break;
    case State::Queued:
    case State::Delaying:
    case State::Writing:
      // Keep reading while a response is in flight so a vanished client is noticed; the bytes
      // are the next pipelined requests.
      self->pending_.append(buf->base, length);
      if (self->pending_.size() > kMaxPending) {
        self->stopReading();
      }
      break;
  }
}

void Connection::handleReadEnd(ssize_t error) {
  if (state_ == State::Writing && error == UV_EOF) {
    // A half-closed client still gets the response it asked for, then the connection closes.
    stopReading();
    closeAfter_ = true;
    return;
  }
  close();
}

void Connection::feed(const char* data, size_t length) {
  inFeed_ = true;
  while (length > 0 && state_ == State::Reading && !closing_) {
    llhttp_errno_t err = llhttp_execute(&parser_, data, length);
    if (err == HPE_OK) {
      length = 0;
      break;
    }
    const char* stop = llhttp_get_error_pos(&parser_);
    size_t used = (stop != nullptr && stop >= data && stop <= data + length)
                      ? static_cast<size_t>(stop - data)
                      : length;
    data += used;
    length -= used;
    if (err == HPE_PAUSED) {
      // Paused at the end of a request: answer it before parsing the next one.
      llhttp_resume(&parser_);
      startResponse(false);
      continue;
    }
    if (err == HPE_PAUSED_UPGRADE) {
      // What follows an upgrade is not HTTP; keep it for the tunnel before answering.
      pending_.append(data, length);
      length = 0;
      startResponse(true);
      break;
    }
    badRequest();
    length = 0;
  }
  if (length > 0 && !closing_) {
    pending_.append(data, length);
  }
  inFeed_ = false;
}

void Connection::drainPending() {
  if (closing_ || state_ != State::Reading) {
    return;
  }
  if (!pending_.empty()) {
    // Parse from work_ so leftovers of this pass can be appended to pending_ again.
    work_.swap(pending_);
    pending_.clear();
    feed(work_.data(), work_.size());
  }
  if (state_ == State::Reading) {
    startReading();
  }
}

int Connection::onMessageBegin(llhttp_t* parser) {
  auto* self = static_cast<Connection*>(parser->data);
  self->request_.reset();
  self->requestBodyBytes_ = 0;
  return 0;
}

int Connection::onUrl(llhttp_t* parser, const char* at, size_t length) {
  static_cast<Connection*>(parser->data)->request_.appendUrl(at, length);
  return 0;
}

int Connection::onHeaderField(llhttp_t* parser, const char* at, size_t length) {
  static_cast<Connection*>(parser->data)->request_.appendHeaderName(at, length);
  return 0;
}

int Connection::onHeaderValue(llhttp_t* parser, const char* at, size_t length) {
  static_cast<Connection*>(parser->data)->request_.appendHeaderValue(at, length);
  return 0;
}

int Connection::onHeadersComplete(llhttp_t* parser) {
  auto* self = static_cast<Connection*>(parser->data);
  self->keepAlive_ = llhttp_should_keep_alive(parser) != 0;
  self->httpMinor_ = parser->http_major == 1 ? parser->http_minor : 1;
  self->method_ = parser->method;
  if (parser->http_major == 1 && parser->http_minor >= 1 &&
      equalsIgnoreCase(self->request_.findHeader("expect"), "100-continue")) {
    self->sendContinue();
  }
  return 0;
}

int Connection::onBody(llhttp_t* parser, const char* /*at*/, size_t length) {
  // Bodies are counted, never stored: a 1 GiB upload costs no memory.
  static_cast<Connection*>(parser->data)->requestBodyBytes_ += length;
  return 0;
}

int Connection::onMessageComplete(llhttp_t* parser) {
  // An upgrade request makes llhttp stop with HPE_PAUSED_UPGRADE by itself.
  return parser->upgrade ? 0 : HPE_PAUSED;
}

// ---- Responses ----

void Connection::sendContinue() {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(kContinue.data()), kContinue.size());
  int written = uv_try_write(asStream(&tcp_), &buf, 1);
  if (written == UV_EAGAIN) {
    written = 0;
  }
  if (written < 0) {
    close();
    return;
  }
  if (static_cast<size_t>(written) < kContinue.size()) {
    buf = uv_buf_init(const_cast<char*>(kContinue.data()) + written,
                      static_cast<unsigned>(kContinue.size() - written));
    uv_write(&echoReq_, asStream(&tcp_), &buf, 1, &Connection::onContinueWritten);
  }
}

void Connection::onContinueWritten(uv_write_t* req, int status) {
  auto* self = static_cast<Connection*>(req->data);
  if (status < 0 && !self->closing_) {
    self->close();
  }
}

void Connection::startResponse(bool upgradeRequest) {
  std::string_view path = request_.path();
  const bool isStats = path == "/__stats" || path == "/__control";
  ServerStats& stats = server_.stats();
  if (!isStats) {
    stats.requests++;
    inFlight_ = true;
    stats.in_flight++;
    stats.max_in_flight = std::max(stats.max_in_flight, stats.in_flight);
    if (!countedConnection_) {
      countedConnection_ = true;
      stats.connections++;
    }
  }
  const ResponseControl control = resolveControl(server_.options(), request_);
  closeAfter_ = control.close || !keepAlive_;
  fixedBody_.clear();
  hasFixedBody_ = false;
  chunked_ = false;
  chunkTerminatorSent_ = true;
  resetAfterHeaders_ = false;
  tunnelAfter_ = false;
  bodyOffset_ = 0;
  bodyRemaining_ = 0;
  segmentHead_ = 0;
  segmentCount_ = 0;

  if (upgradeRequest) {
    if (path == "/ws" && equalsIgnoreCase(request_.findHeader("upgrade"), "websocket")) {
      head_.assign(
          "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
          "connection: Upgrade\r\nx-upstream-name: ");
      head_.append(server_.options().name);
      head_.append("\r\n\r\n");
      tunnelAfter_ = true;
      closeAfter_ = false;
      pushSegment(head_.data(), head_.size());
      beginWrite();
      return;
    }
    // Any other upgrade (or CONNECT) gets a plain answer; the stream after it is not HTTP.
    closeAfter_ = true;
  }
  if (control.reset == ResetMode::Immediate) {
    closeWithReset();
    return;
  }

  int status = control.status;
  const char* contentType = nullptr;
  uint64_t bodyLength = control.bodySize;
  if (path == "/__control") {
    // ?capacity=N alone changes the capacity and leaves a forced status in place.
    if (control.capacityGiven) {
      server_.capacity().setCapacity(control.capacity);
    }
    if (control.statusGiven || !control.capacityGiven) {
      server_.setForcedStatus(control.statusGiven ? control.status : 0);
    }
    buildStats();
    status = 200;
  } else if (isStats) {
    buildStats();
    status = 200;
  } else if (server_.forcedStatus() != 0) {
    status = server_.forcedStatus();
  } else if (path == "/echo") {
    buildEcho();
    status = control.statusGiven ? control.status : 200;
  } else if (path == "/healthz" && !control.statusGiven) {
    fixedBody_.assign("ok\n");
    hasFixedBody_ = true;
    status = 200;
    contentType = "text/plain";
  }
  if (hasFixedBody_) {
    bodyLength = fixedBody_.size();
    contentType = contentType != nullptr ? contentType : "application/json";
  }

  const bool isHead = method_ == HTTP_HEAD;
  const bool noBodyStatus = status < 200 || status == 204 || status == 304;
  const bool emitLength = !(status < 200 || status == 204);
  if (control.reset == ResetMode::AfterHeaders) {
    resetAfterHeaders_ = true;
    bodyLength = bodyLength > 0 ? bodyLength : kResetAdvertisedBytes;
    buildHead(status, bodyLength, emitLength, contentType);
  } else {
    // HTTP/1.0 has no chunked encoding; those clients get a content-length instead.
    chunked_ = control.chunked && httpMinor_ >= 1 && !noBodyStatus;
    buildHead(status, bodyLength, emitLength, contentType);
    if (!isHead && !noBodyStatus) {
      bodyRemaining_ = bodyLength;
      chunkTerminatorSent_ = !chunked_;
    }
  }
  pushSegment(head_.data(), head_.size());

  if (isStats) {
    // /__stats and /__control bypass the capacity model: a test must see it while it is full.
    if (control.delayMs > 0) {
      state_ = State::Delaying;
      uv_timer_start(&timer_, &Connection::onTimer, control.delayMs, 0);
      return;
    }
    beginWrite();
    return;
  }
  admit(serviceTime(control));
}

// ---- The capacity model ----

uint64_t Connection::serviceTime(const ResponseControl& control) {
  // A request's own delay wins; otherwise the distribution; otherwise --delay-ms.
  if (!control.delayGiven && server_.latency().configured()) {
    return server_.latency().sampleMs();
  }
  return control.delayMs;
}

void Connection::admit(uint64_t serviceMs) {
  CapacityQueue& capacity = server_.capacity();
  if (capacity.capacity() == 0 && serviceMs == 0) {
    // Unlimited and instant: answer now, as the upstream always did (no loop turn added).
    beginWrite();
    return;
  }
  serviceMs_ = serviceMs;
  if (capacity.admit(this, &ticket_)) {
    startService();
    return;
  }
  slot_ = Slot::Queued;
  state_ = State::Queued;
}

void Connection::startService() {
  slot_ = Slot::InService;
  state_ = State::Delaying;
  // Even a zero service time goes through the timer, so a slot is held for one loop turn and
  // releasing it never re-enters another connection's response.
  uv_timer_start(&timer_, &Connection::onTimer, serviceMs_, 0);
}

void Connection::endService() {
  if (slot_ == Slot::InService) {
    slot_ = Slot::None;
    server_.capacity().release();
  }
}

void Connection::leaveCapacity() {
  if (slot_ == Slot::Queued) {
    server_.capacity().leave(ticket_);
  } else if (slot_ == Slot::InService) {
    server_.capacity().release();
  }
  slot_ = Slot::None;
}

void Connection::buildHead(int status, uint64_t contentLength, bool emitLength,
                           const char* contentType) {
  head_.assign("HTTP/1.1 ");
  appendNumber(head_, static_cast<uint64_t>(status));
  head_.push_back(' ');
  head_.append(reasonPhrase(status));
  head_.append("\r\nx-upstream-name: ");
  head_.append(server_.options().name);
  head_.append("\r\nx-upstream-request-body-bytes: ");
  appendNumber(head_, requestBodyBytes_);
  head_.append(kCrlf);
  if (contentType != nullptr) {
    head_.append("content-type: ");
    head_.append(contentType);
    head_.append(kCrlf);
  }
  if (chunked_) {
    head_.append("transfer-encoding: chunked\r\n");
  } else if (emitLength) {
    head_.append("content-length: ");
    appendNumber(head_, contentLength);
    head_.append(kCrlf);
  }
  if (closeAfter_) {
    head_.append("connection: close\r\n");
  } else if (httpMinor_ == 0) {
    head_.append("connection: keep-alive\r\n");
  }
  head_.append(kCrlf);
}

void Connection::buildEcho() {
  fixedBody_.append("{\"method\":");
  appendJsonString(fixedBody_, llhttp_method_name(static_cast<llhttp_method_t>(method_)));
  fixedBody_.append(",\"path\":");
  appendJsonString(fixedBody_, request_.url());
  fixedBody_.append(httpMinor_ == 0 ? ",\"version\":\"1.0\"" : ",\"version\":\"1.1\"");
  fixedBody_.append(",\"headers\":[");
  for (size_t i = 0; i < request_.headerCount(); ++i) {
    fixedBody_.append(i == 0 ? "[" : ",[");
    appendJsonString(fixedBody_, request_.headerName(i));
    fixedBody_.push_back(',');
    appendJsonString(fixedBody_, request_.headerValue(i));
    fixedBody_.push_back(']');
  }
  fixedBody_.append("],\"body_bytes\":");
  appendNumber(fixedBody_, requestBodyBytes_);
  fixedBody_.append(",\"body_sha256\":null}\n");
  hasFixedBody_ = true;
}

void Connection::buildStats() {
  const ServerStats& stats = server_.stats();
  fixedBody_.append("{\"requests\":");
  appendNumber(fixedBody_, stats.requests);
  fixedBody_.append(",\"connections\":");
  appendNumber(fixedBody_, stats.connections);
  fixedBody_.append(",\"accepted\":");
  appendNumber(fixedBody_, stats.accepted);
  fixedBody_.append(",\"active\":");
  appendNumber(fixedBody_, stats.active);
  fixedBody_.append(",\"in_flight\":");
  appendNumber(fixedBody_, stats.in_flight);
  fixedBody_.append(",\"max_in_flight\":");
  appendNumber(fixedBody_, stats.max_in_flight);
  fixedBody_.append(",\"cancelled\":");
  appendNumber(fixedBody_, stats.cancelled);
  CapacityQueue& capacity = server_.capacity();
  fixedBody_.append(",\"capacity\":");
  appendNumber(fixedBody_, capacity.capacity());
  fixedBody_.append(",\"in_service\":");
  appendNumber(fixedBody_, capacity.inService());
  fixedBody_.append(",\"max_in_service\":");
  appendNumber(fixedBody_, capacity.maxInService());
  fixedBody_.append(",\"queued\":");
  appendNumber(fixedBody_, capacity.queued());
  fixedBody_.append(",\"max_queued\":");
  appendNumber(fixedBody_, capacity.maxQueued());
  fixedBody_.append("}\n");
  hasFixedBody_ = true;
}

void Connection::badRequest() {
  closeAfter_ = true;
  fixedBody_.clear();
  hasFixedBody_ = false;
  chunked_ = false;
  chunkTerminatorSent_ = true;
  resetAfterHeaders_ = false;
  tunnelAfter_ = false;
  bodyRemaining_ = 0;
  segmentHead_ = 0;
  segmentCount_ = 0;
  requestBodyBytes_ = 0;
  buildHead(400, 0, true, nullptr);
  pushSegment(head_.data(), head_.size());
  beginWrite();
}

void Connection::onTimer(uv_timer_t* timer) {
  auto* self = static_cast<Connection*>(timer->data);
  if (self->state_ == State::Delaying) {
    self->endService();
    self->beginWrite();
  } else if (self->state_ == State::Draining) {
    self->close();
  }
}

// ---- Writing ----

void Connection::pushSegment(const char* data, size_t length) {
  if (length > 0) {
    segments_[segmentHead_ + segmentCount_] = Segment{data, length};
    ++segmentCount_;
  }
}

void Connection::beginWrite() {
  state_ = State::Writing;
  // Put the first body slice beside the head so small responses take one syscall.
  refill();
  pump();
}

void Connection::refill() {
  if (bodyRemaining_ > 0) {
    const size_t slice = hasFixedBody_
                             ? static_cast<size_t>(bodyRemaining_)
                             : static_cast<size_t>(std::min<uint64_t>(bodyRemaining_, kBodySlice));
    const char* data = hasFixedBody_ ? fixedBody_.data() + bodyOffset_
                                     : bodyPattern() + bodyOffset_ % kPatternPeriod;
    if (chunked_) {
      int n = std::snprintf(chunkHead_, sizeof(chunkHead_), "%zx\r\n", slice);
      pushSegment(chunkHead_, static_cast<size_t>(n));
    }
    pushSegment(data, slice);
    if (chunked_) {
      pushSegment(kCrlf.data(), kCrlf.size());
    }
    bodyOffset_ += slice;
    bodyRemaining_ -= slice;
  }
  if (bodyRemaining_ == 0 && !chunkTerminatorSent_) {
    pushSegment(kLastChunk.data(), kLastChunk.size());
    chunkTerminatorSent_ = true;
  }
}

void Connection::consume(size_t bytes) {
  while (bytes > 0 && segmentCount_ > 0) {
    Segment& segment = segments_[segmentHead_];
    if (bytes >= segment.length) {
      bytes -= segment.length;
      ++segmentHead_;
      --segmentCount_;
    } else {
      segment.data += bytes;
      segment.length -= bytes;
      bytes = 0;
    }
  }
  if (segmentCount_ == 0) {
    segmentHead_ = 0;
  }
}

void Connection::pump() {
  while (!closing_) {
    if (segmentCount_ == 0) {
      refill();
    }
    if (segmentCount_ == 0) {
      finishResponse();
      return;
    }
    uv_buf_t bufs[kMaxSegments];
    size_t total = 0;
    for (size_t i = 0; i < segmentCount_; ++i) {
      const Segment& segment = segments_[segmentHead_ + i];
      bufs[i] = uv_buf_init(const_cast<char*>(segment.data), static_cast<unsigned>(segment.length));
      total += segment.length;
    }
    // Try the write inline first; only a full socket buffer costs a queued write request.
    int written = uv_try_write(asStream(&tcp_), bufs, static_cast<unsigned>(segmentCount_));
    if (written == UV_EAGAIN) {
      written = 0;
    }
    if (written < 0) {
      close();
      return;
    }
    consume(static_cast<size_t>(written));
    if (static_cast<size_t>(written) < total) {
      queuedBytes_ = total - static_cast<size_t>(written);
      for (size_t i = 0; i < segmentCount_; ++i) {
        const Segment& segment = segments_[segmentHead_ + i];
        bufs[i] =
            uv_buf_init(const_cast<char*>(segment.data), static_cast<unsigned>(segment.length));
      }
      int rc = uv_write(&writeReq_, asStream(&tcp_), bufs, static_cast<unsigned>(segmentCount_),
                        &Connection::onWrite);
      if (rc != 0) {
        close();
      }
      return;
    }
  }
}

void Connection::onWrite(uv_write_t* req, int status) {
  auto* self = static_cast<Connection*>(req->data);
  if (self->closing_) {
    return;
  }
  if (status < 0) {
    self->close();
    return;
  }
  self->consume(self->queuedBytes_);
  self->queuedBytes_ = 0;
  self->pump();
}

void Connection::endInFlight() {
  if (inFlight_) {
    inFlight_ = false;
    server_.stats().in_flight--;
  }
}

void Connection::finishResponse() {
  endInFlight();
  if (resetAfterHeaders_) {
    closeWithReset();
    return;
  }
  if (tunnelAfter_) {
    state_ = State::Tunnel;
    if (!pending_.empty()) {
      work_.swap(pending_);
      pending_.clear();
      echo(work_.data(), work_.size());
    }
    if (!closing_ && echoReq_.handle == nullptr) {
      startReading();
    }
    return;
  }
  if (closeAfter_) {
    // Shut down our side and wait for the client's EOF: closing with unread input would send
    // a RST that can destroy the response before the client reads it.
    state_ = State::Draining;
    pending_.clear();
    if (uv_shutdown(&shutdownReq_, asStream(&tcp_), &Connection::onShutdown) != 0) {
      close();
      return;
    }
    uv_timer_start(&timer_, &Connection::onTimer, kDrainTimeoutMs, 0);
    startReading();
    return;
  }
  state_ = State::Reading;
  // Inside feed() the parse loop continues by itself; from a callback, resume it here.
  if (!inFeed_) {
    drainPending();
  }
}

void Connection::onShutdown(uv_shutdown_t* req, int status) {
  auto* self = static_cast<Connection*>(req->data);
  if (status < 0 && !self->closing_) {
    self->close();
  }
}

// ---- Upgrade tunnel ----

void Connection::echo(const char* data, size_t length) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(length));
  int written = uv_try_write(asStream(&tcp_), &buf, 1);
  if (written == UV_EAGAIN) {
    written = 0;
  }
  if (written < 0) {
    close();
    return;
  }
  if (static_cast<size_t>(written) < length) {
    // The peer is slower than it sends: stop reading until the echo drains. The bytes stay
    // valid because the read buffer is not reused while reading is stopped.
    stopReading();
    buf = uv_buf_init(const_cast<char*>(data) + written, static_cast<unsigned>(length - written));
    if (uv_write(&echoReq_, asStream(&tcp_), &buf, 1, &Connection::onEchoWritten) != 0) {
      close();
    }
  }
}

void Connection::onEchoWritten(uv_write_t* req, int status) {
  auto* self = static_cast<Connection*>(req->data);
  req->handle = nullptr;
  if (self->closing_) {
    return;
  }
  if (status < 0) {
    self->close();
    return;
  }
  self->startReading();
}

}  // namespace strait::testupstream
