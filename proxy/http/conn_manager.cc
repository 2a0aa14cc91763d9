#include "proxy/http/conn_manager.h"

#include "proxy/http/access_log_emit.h"
#include "proxy/http/active_stream.h"

namespace strait::http {

namespace {

// Pipelined bytes held while a request is being answered; past this, reading pauses.
constexpr size_t kMaxPendingInput = 64 * 1024;

}  // namespace

ConnectionManager::ConnectionManager(WorkerContext& worker,
                                     const std::string& listener_name,
                                     network::ConnectionPtr connection, List& owner)
    : ServerConnection(owner), worker_(worker), listener_name_(listener_name),
      connection_(std::move(connection)) {
  refreshSnapshot();
  codec_ = http1::createServerCodec(*this, listener_->limits);
  connection_->setCallbacks(*this);
  connection_->setWriteBufferLimits(1024 * 1024);
  worker_.shard.inc(listener_->stats.cx_total);
  worker_.shard.add(listener_->stats.cx_active, 1);
  timer_ = worker_.dispatcher.createTimer([this]() { onTimer(); });
  // Until the first byte, the connection is idle; the first byte starts the headers timer.
  armIdleTimer();
}

ConnectionManager::~ConnectionManager() {
  stream_.reset();
  network::releaseConnection(std::move(connection_));
}

void ConnectionManager::refreshSnapshot() {
  refreshListener(worker_, listener_name_, snapshot_, listener_);
}

void ConnectionManager::armIdleTimer() {
  timer_mode_ = TimerMode::Idle;
  timer_->enableTimer(listener_->config.http.idle_timeout);
}

void ConnectionManager::onTimer() {
  if (timer_mode_ == TimerMode::RequestHeaders) {
    timer_mode_ = TimerMode::None;
    onRequestError(408, "request headers timeout");
    return;
  }
  close(network::CloseType::FlushWrite);
}

void ConnectionManager::onData(const char* data, size_t len) {
  if (closed_) {
    return;
  }
  if (tunnelled_) {
    if (stream_ != nullptr) {
      stream_->decodeTunnelData(data, len);
    }
    return;
  }
  if (stream_ != nullptr && stream_->requestComplete()) {
    // A pipelined request while the previous one is answered: keep it for later.
    pending_input_.add(data, len);
    if (pending_input_.length() > kMaxPendingInput && !read_disabled_for_pipeline_) {
      read_disabled_for_pipeline_ = true;
      connection_->readDisable(true);
    }
    return;
  }
  dispatch(data, len);
}

void ConnectionManager::dispatch(const char* data, size_t len) {
  if (stream_ == nullptr && timer_mode_ != TimerMode::RequestHeaders) {
    refreshSnapshot();
    request_start_ = worker_.dispatcher.approximateMonotonicTime();
    timer_mode_ = TimerMode::RequestHeaders;
    timer_->enableTimer(listener_->config.http.request_headers_timeout);
  }
  dispatching_ = true;
  auto result = codec_->dispatch(data, len);
  dispatching_ = false;
  switch (result.status) {
    case http1::DispatchResult::Status::Ok:
    case http1::DispatchResult::Status::Error:
      break;
    case http1::DispatchResult::Status::Paused:
      if (result.consumed < len) {
        pending_input_.add(data + result.consumed, len - result.consumed);
      }
      break;
    case http1::DispatchResult::Status::Upgraded:
      tunnelled_ = true;
      if (stream_ != nullptr && result.consumed < len) {
        stream_->decodeTunnelData(data + result.consumed, len - result.consumed);
      }
      break;
  }
  if (completed_in_dispatch_) {
    // The codec must not be re-entered from its own callback: the stream that completed inside
    // it (a direct response, a local reply) is followed up here.
    completed_in_dispatch_ = false;
    afterStreamComplete();
  }
}

void ConnectionManager::dispatchPending() {
  if (in_dispatch_pending_) {
    return;  // the loop below is already running further up the stack
  }
  in_dispatch_pending_ = true;
  // Feed what arrived while the previous response was going out, until the codec pauses on
  // the next complete request that is still being answered.
  while (!pending_input_.empty() && !closed_ && stream_ == nullptr) {
    std::string input = pending_input_.toString();
    pending_input_.clear();
    dispatch(input.data(), input.size());  // re-queues what the codec did not consume
  }
  in_dispatch_pending_ = false;
  if (!closed_ && read_disabled_for_pipeline_ && pending_input_.length() <= kMaxPendingInput) {
    read_disabled_for_pipeline_ = false;
    connection_->readDisable(false);
  }
}

void ConnectionManager::onRequestHeaders(RequestHeaders& headers, const http1::MessageInfo& info) {
  timer_->disableTimer();
  timer_mode_ = TimerMode::None;
  refreshSnapshot();
  stream_ = std::make_unique<ActiveStream>(*this);
  stream_->decodeHeaders(headers, info);
}

void ConnectionManager::onRequestBody(const char* data, size_t len) {
  if (stream_ != nullptr) {
    stream_->decodeData(data, len);
  }
}

void ConnectionManager::onRequestComplete() {
  if (stream_ != nullptr) {
    stream_->decodeComplete();
  }
}

void ConnectionManager::onRequestError(uint16_t status, std::string_view reason) {
  timer_->disableTimer();
  timer_mode_ = TimerMode::None;
  auto it = listener_->stats.rq_rejected.find(status);
  if (it != listener_->stats.rq_rejected.end()) {
    worker_.shard.inc(it->second);
  }
  if (stream_ != nullptr) {
    stream_->onDownstreamProtocolError(status, reason);
    return;
  }
  // No stream yet (the head was bad): answer and close.
  ResponseHeaders response;
  response.status = status;
  response.headers.add("content-type", "text/plain");
  response.headers.add("content-length", std::to_string(reason.size() + 1));
  buffer::Buffer out;
  codec_->encodeHeaders(response, false, true, out);
  buffer::Buffer body;
  body.add(reason);
  body.add("\n", 1);
  codec_->encodeData(body, true, out);
  listener_->stats.rq_by_class.inc(worker_.shard, status);  // before the client can have it
  connection_->write(out);
  emitCodecErrorAccessLog(worker_, *connection_, status, request_start_, reason.size() + 1);
  close(network::CloseType::FlushWrite);
}

void ConnectionManager::onStreamComplete(bool close_connection) {
  stream_->emitAccessLog();
  stream_timers_.disableAll();
  worker_.dispatcher.deferredDelete(std::move(stream_));
  if (close_connection || draining_ || remote_closed_ || tunnelled_ || worker_.draining) {
    close(network::CloseType::FlushWrite);
    return;
  }
  if (dispatching_) {
    completed_in_dispatch_ = true;
    return;
  }
  afterStreamComplete();
}

void ConnectionManager::afterStreamComplete() {
  // Byte counters move per request, not only when a keep-alive connection finally closes.
  uint64_t rx = connection_->bytesReceived();
  uint64_t tx = connection_->bytesSent();
  worker_.shard.inc(listener_->stats.cx_rx_bytes, rx - last_rx_);
  worker_.shard.inc(listener_->stats.cx_tx_bytes, tx - last_tx_);
  last_rx_ = rx;
  last_tx_ = tx;
  codec_->resume();
  armIdleTimer();
  dispatchPending();
}

void ConnectionManager::onStreamReset(network::CloseType how) {
  stream_->emitAccessLog();
  stream_timers_.disableAll();
  worker_.dispatcher.deferredDelete(std::move(stream_));
  close(how);
}

void ConnectionManager::onEvent(network::ConnectionEvent event) {
  switch (event) {
    case network::ConnectionEvent::RemoteHalfClose:
      remote_closed_ = true;
      if (stream_ != nullptr && stream_->requestComplete() && !tunnelled_) {
        return;  // answer what was asked, then close (onStreamComplete)
      }
      if (stream_ != nullptr) {
        stream_->onDownstreamReset();
      }
      close(network::CloseType::NoFlush);
      return;
    case network::ConnectionEvent::RemoteReset:
      if (stream_ != nullptr) {
        stream_->onDownstreamReset();
      }
      close(network::CloseType::NoFlush);
      return;
    case network::ConnectionEvent::Connected:
    case network::ConnectionEvent::ConnectFailed:
      return;
  }
}

void ConnectionManager::onAboveWriteBufferHighWatermark() {
  if (stream_ != nullptr) {
    stream_->onDownstreamWriteHigh();
  }
}

void ConnectionManager::onBelowWriteBufferLowWatermark() {
  if (stream_ != nullptr) {
    stream_->onDownstreamWriteLow();
  }
}

void ConnectionManager::startDrain() {
  draining_ = true;
  if (stream_ == nullptr) {
    close(network::CloseType::FlushWrite);
  }
}

void ConnectionManager::closeNow() {
  if (stream_ != nullptr) {
    stream_->onDownstreamReset();
  }
  close(network::CloseType::NoFlush);
}

void ConnectionManager::close(network::CloseType type) {
  if (closed_) {
    return;
  }
  closed_ = true;
  if (stream_ != nullptr) {
    stream_->emitAccessLog();  // a stream cut short with its connection (DC, shutdown)
  }
  timer_->disableTimer();
  stream_timers_.disableAll();
  worker_.shard.inc(listener_->stats.cx_rx_bytes, connection_->bytesReceived() - last_rx_);
  worker_.shard.inc(listener_->stats.cx_tx_bytes, connection_->bytesSent() - last_tx_);
  worker_.shard.sub(listener_->stats.cx_active, 1);
  connection_->close(type);
  removeSelf(worker_.dispatcher);
}

}  // namespace strait::http
