// Http2Pool::Connection: one upstream HTTP/2 connection (cleartext, or TLS with ALPN h2), its
// connect and idle timer, and the nghttp2 client session that carries the pool's streams.

#include "proxy/upstream/http2_pool_internal.h"

#include <nghttp2/nghttp2.h>

#include "proxy/tls/tls_connection.h"

namespace strait::upstream {

namespace {

// The connection-level receive window, given back as the streams consume their DATA.
constexpr int32_t kConnectionWindow = 1024 * 1024;

Http2Pool::Stream* streamOf(nghttp2_session* session, int32_t id) {
  return static_cast<Http2Pool::Stream*>(nghttp2_session_get_stream_user_data(session, id));
}

bool isTrailers(const nghttp2_frame* frame) {
  return frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_HEADERS;
}

}  // namespace

Http2Pool::Connection::~Connection() {
  if (session_ != nullptr) {
    nghttp2_session_del(session_);
  }
}

void Http2Pool::Connection::connect() {
  auto& stats = pool_.cluster_.stats;
  pool_.shard_.inc(stats.cx_total);
  pool_.shard_.add(stats.cx_active, 1);
  pool_.host_.cx_active.fetch_add(1, std::memory_order_relaxed);
  auto transport = std::make_unique<network::ConnectionImpl>(pool_.dispatcher_);
  transport_ = transport.get();
  if (pool_.cluster_.tls != nullptr) {
    // h2 over TLS: the cluster's client context offers ALPN h2 only.
    connection_ = tls::TlsConnection::client(pool_.cluster_.tls, std::move(transport),
                                             pool_.dispatcher_, pool_.host_.address());
  } else {
    connection_ = std::move(transport);
  }
  connection_->setCallbacks(*this);
  timer_ = pool_.dispatcher_.createTimer([this]() {
    if (state_ == State::Connecting) {
      pool_.shard_.inc(pool_.cluster_.stats.cx_connect_timeout);
      pool_.host_.cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
      Http2Pool& pool = pool_;
      close();
      pool.onConnectFailed(*this, UpstreamFailure::ConnectTimeout, "connect timeout");
      return;
    }
    close();  // idle
  });
  timer_->enableTimer(pool_.cluster_.config.connect_timeout);
  transport_->connect(pool_.host_.sockAddr());
}

void Http2Pool::Connection::createSession() {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(
      callbacks, [](nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                    size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                    void*) -> int {
        if (frame->hd.type != NGHTTP2_HEADERS) {
          return 0;
        }
        if (Stream* stream = streamOf(session, frame->hd.stream_id)) {
          stream->onHeader(isTrailers(frame),
                           std::string_view(reinterpret_cast<const char*>(name), namelen),
                           std::string_view(reinterpret_cast<const char*>(value), valuelen));
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_frame_recv_callback(
      callbacks, [](nghttp2_session* session, const nghttp2_frame* frame, void* user) -> int {
        auto* self = static_cast<Connection*>(user);
        if (frame->hd.type == NGHTTP2_GOAWAY) {
          self->pool_.retire(*self);
          return 0;
        }
        if (frame->hd.type == NGHTTP2_SETTINGS && self->state_ == State::Ready) {
          self->pool_.onCapacity(*self);  // the peer's stream limit may have changed
          return 0;
        }
        Stream* stream = frame->hd.stream_id != 0 ? streamOf(session, frame->hd.stream_id)
                                                  : nullptr;
        if (stream == nullptr) {
          return 0;
        }
        bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        if (frame->hd.type == NGHTTP2_HEADERS) {
          stream->onHeadersDone(isTrailers(frame), end_stream);
        }
        if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) && end_stream) {
          stream->onEndStream();
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      callbacks, [](nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data,
                    size_t len, void*) -> int {
        if (Stream* stream = streamOf(session, id)) {
          stream->onData(data, len);
        } else {
          nghttp2_session_consume(session, id, len);
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_stream_close_callback(
      callbacks, [](nghttp2_session* session, int32_t id, uint32_t error_code, void*) -> int {
        if (Stream* stream = streamOf(session, id)) {
          stream->onClosed(error_code);
          stream->connection().removeStream(*stream);
        }
        return 0;
      });
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_session_client_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
}

bool Http2Pool::Connection::hasCapacity() const {
  if (state_ != State::Ready || retired_) {
    return false;
  }
  uint32_t limit = nghttp2_session_get_remote_settings(session_,
                                                       NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return streams_.size() < limit;
}

Http2Pool::Stream& Http2Pool::Connection::newStream() {
  timer_->disableTimer();
  const uint32_t max_requests = pool_.cluster_.config.max_requests_per_connection;
  if (max_requests != 0 && ++streams_opened_ >= max_requests) {
    // max_requests_per_connection: this is its last stream; it finishes and the connection
    // closes (retire() sends the next request to a new one).
    pool_.retire(*this);
  }
  streams_.push_back(std::make_unique<Stream>(*this));
  streams_.back()->self_ = std::prev(streams_.end());
  return *streams_.back();
}

void Http2Pool::Connection::removeStream(Stream& stream) {
  auto owned = std::move(*stream.self_);
  streams_.erase(stream.self_);
  pool_.dispatcher_.deferredDelete(std::move(owned));
  if (streams_.empty()) {
    if (retired_ || pool_.draining_) {
      // Nothing more will run on it; closed from the timer, outside nghttp2's callback.
      timer_->enableTimer(std::chrono::milliseconds(0));
      return;
    }
    armIdle();
  }
  pool_.onCapacity(*this);
}

void Http2Pool::Connection::armIdle() {
  if (pool_.cluster_.config.idle_timeout.count() > 0) {
    timer_->enableTimer(pool_.cluster_.config.idle_timeout);
  }
}

void Http2Pool::Connection::onData(const char* data, size_t len) {
  if (state_ != State::Ready) {
    return;
  }
  in_nghttp2_ = true;
  ssize_t rc = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), len);
  in_nghttp2_ = false;
  if (rc < 0) {
    close();
    return;
  }
  sendPending();
}

void Http2Pool::Connection::sendPending() {
  if (state_ != State::Ready) {
    return;
  }
  if (in_nghttp2_) {
    send_wanted_ = true;
    return;
  }
  in_nghttp2_ = true;
  do {
    send_wanted_ = false;
    buffer::Buffer out;
    if (http::http2::takeFrames(session_, out) == http::http2::FramesTaken::Failed) {
      in_nghttp2_ = false;
      close();
      return;
    }
    if (!out.empty()) {
      connection_->write(out);
    }
  } while (send_wanted_ && state_ == State::Ready);
  in_nghttp2_ = false;
  if (state_ == State::Ready && nghttp2_session_want_read(session_) == 0 &&
      nghttp2_session_want_write(session_) == 0) {
    close();
  }
}

void Http2Pool::Connection::onEvent(network::ConnectionEvent event) {
  switch (event) {
    case network::ConnectionEvent::Connected:
      state_ = State::Ready;
      timer_->disableTimer();
      createSession();
      sendPending();
      armIdle();
      pool_.onCapacity(*this);
      return;
    case network::ConnectionEvent::ConnectFailed: {
      pool_.shard_.inc(pool_.cluster_.stats.cx_connect_fail);
      pool_.host_.cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
      std::string reason = connection_->failureReason();
      Http2Pool& pool = pool_;
      close();
      pool.onConnectFailed(*this, UpstreamFailure::ConnectFailure, reason);
      return;
    }
    case network::ConnectionEvent::RemoteHalfClose:
    case network::ConnectionEvent::RemoteReset:
      pool_.shard_.inc(pool_.cluster_.stats.cx_destroy_remote);
      close();
      return;
  }
}

void Http2Pool::Connection::close() {
  if (state_ == State::Closed) {
    return;
  }
  bool was_connecting = state_ == State::Connecting;
  state_ = State::Closed;
  if (pool_.current_ == this) {
    pool_.current_ = nullptr;  // a retry of a failing stream must open a new connection
  }
  timer_->disableTimer();
  pool_.shard_.inc(pool_.cluster_.stats.rx_bytes, connection_->bytesReceived());
  pool_.shard_.inc(pool_.cluster_.stats.tx_bytes, connection_->bytesSent());
  pool_.shard_.sub(pool_.cluster_.stats.cx_active, 1);
  pool_.host_.cx_active.fetch_sub(1, std::memory_order_relaxed);
  pool_.cluster_.resources->releaseConnection();  // taken in Http2Pool::startConnection()
  connection_->close(network::CloseType::NoFlush);
  // Every stream still open fails (a retry may pick a new connection).
  auto streams = std::move(streams_);
  for (auto& stream : streams) {
    stream->fail("upstream connection closed");
  }
  for (auto& stream : streams) {
    pool_.dispatcher_.deferredDelete(std::move(stream));
  }
  if (!was_connecting) {
    pool_.onClosed(*this);
  }
}

}  // namespace strait::upstream
