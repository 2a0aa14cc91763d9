#include "proxy/network/connection_impl.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <atomic>
#include <vector>

namespace strait::network {

namespace {

constexpr size_t kReadBufferSize = 64 * 1024;
constexpr size_t kMaxTryWriteSlices = 64;
constexpr std::chrono::milliseconds kLingerTimeout{1000};

std::atomic<uint64_t> next_connection_id{1};

// One read buffer per thread; see the class comment in the header.
thread_local char tls_read_buffer[kReadBufferSize];

}  // namespace

// What libuv may still touch after the Connection is gone. Freed in the close callback, which
// libuv runs after every pending request's callback.
struct ConnectionImpl::Socket {
  uv_tcp_t tcp;
  uv_write_t write_req;
  uv_connect_t connect_req;
  uv_shutdown_t shutdown_req;
  ConnectionImpl* owner = nullptr;
  buffer::Buffer writing;  // bytes of the write request in flight
  bool write_in_flight = false;

  static void onClose(uv_handle_t* handle) { delete static_cast<Socket*>(handle->data); }
};

void formatAddress(const sockaddr_storage& addr, std::string& host, std::string& host_port) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    host = text;
    host_port = host + ":" + std::to_string(ntohs(in->sin_port));
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    host = text;
    host_port = "[" + host + "]:" + std::to_string(ntohs(in6->sin6_port));
  } else {
    host = "unknown";
    host_port = "unknown";
  }
}

ConnectionImpl::ConnectionImpl(event::DispatcherImpl& dispatcher, uv_tcp_t* accepted)
    : dispatcher_(dispatcher), id_(next_connection_id.fetch_add(1, std::memory_order_relaxed)) {
  // The accepted handle lives inside a Socket allocated by the listener (see listener_impl.cc).
  socket_ = static_cast<Socket*>(accepted->data);
  socket_->owner = this;
  socket_->tcp.data = socket_;
  uv_tcp_nodelay(&socket_->tcp, 1);
  resolvePeer();
  startReading();
}

ConnectionImpl::ConnectionImpl(event::DispatcherImpl& dispatcher)
    : dispatcher_(dispatcher), id_(next_connection_id.fetch_add(1, std::memory_order_relaxed)) {
  state_ = State::Connecting;
  initSocket();
}

ConnectionImpl::~ConnectionImpl() {
  if (socket_ != nullptr) {
    closeSocket(false);
  }
}

namespace {
// Callbacks for a connection nobody owns any more: everything is ignored.
class OrphanCallbacks : public ConnectionCallbacks {
 public:
  void onData(const char*, size_t) override {}
  void onEvent(ConnectionEvent) override {}
};
OrphanCallbacks orphan_callbacks;
}  // namespace

void ConnectionImpl::releaseWhenClosed(std::unique_ptr<ConnectionImpl> self) {
  callbacks_ = &orphan_callbacks;
  if (socket_ == nullptr || state_ != State::Closing) {
    closeSocket(false);
    dispatcher_.deferredDelete(std::move(self));
    return;
  }
  self_owned_ = std::move(self);
  // Still lingering when the worker stops: closed (and deleted) by the dispatcher's teardown.
  dispatcher_.addShutdownCloser(this, [this]() { closeSocket(false); });
}

void releaseConnection(ConnectionPtr connection) {
  if (connection == nullptr) {
    return;
  }
  auto* impl = dynamic_cast<ConnectionImpl*>(connection.get());
  if (impl == nullptr) {
    return;  // destroyed here: closes
  }
  connection.release();
  impl->releaseWhenClosed(std::unique_ptr<ConnectionImpl>(impl));
}

void ConnectionImpl::initSocket() {
  socket_ = new Socket;
  socket_->owner = this;
  uv_tcp_init(dispatcher_.loop(), &socket_->tcp);
  socket_->tcp.data = socket_;
}

void ConnectionImpl::connect(const sockaddr* address) {
  socket_->connect_req.data = socket_;
  int rc = uv_tcp_connect(&socket_->connect_req, &socket_->tcp, address,
                          [](uv_connect_t* req, int status) {
                            auto* socket = static_cast<Socket*>(req->data);
                            if (socket->owner != nullptr) {
                              socket->owner->onConnect(status);
                            }
                          });
  if (rc != 0) {
    // Report asynchronously like any other connect failure, so callers see one code path.
    failure_reason_ = uv_strerror(rc);
    dispatcher_.post([this, rc]() {
      (void)rc;
      if (state_ == State::Connecting) {
        closeSocket(false);
        if (callbacks_ != nullptr) {
          callbacks_->onEvent(ConnectionEvent::ConnectFailed);
        }
      }
    });
  }
}

void ConnectionImpl::onConnect(int status) {
  if (status != 0) {
    failure_reason_ = uv_strerror(status);
    closeSocket(false);
    callbacks_->onEvent(ConnectionEvent::ConnectFailed);
    return;
  }
  state_ = State::Open;
  uv_tcp_nodelay(&socket_->tcp, 1);
  resolvePeer();
  if (read_disable_count_ == 0) {
    startReading();
  }
  callbacks_->onEvent(ConnectionEvent::Connected);
  if (state_ == State::Open && !pending_.empty() && !socket_->write_in_flight) {
    flush();
  }
}

void ConnectionImpl::resolvePeer() {
  sockaddr_storage addr{};
  int len = sizeof(addr);
  if (uv_tcp_getpeername(&socket_->tcp, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    formatAddress(addr, remote_address_, remote_address_port_);
  }
}

void ConnectionImpl::startReading() {
  if (reading_ || socket_ == nullptr) {
    return;
  }
  reading_ = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&socket_->tcp),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        buf->base = tls_read_buffer;
        buf->len = kReadBufferSize;
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        auto* socket = static_cast<Socket*>(stream->data);
        if (socket != nullptr && socket->owner != nullptr) {
          socket->owner->onRead(nread, buf->base);
        }
      });
}

void ConnectionImpl::stopReading() {
  if (!reading_ || socket_ == nullptr) {
    return;
  }
  reading_ = false;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&socket_->tcp));
}

void ConnectionImpl::onRead(ssize_t nread, const char* data) {
  if (nread == 0) {
    return;  // EAGAIN
  }
  if (nread > 0) {
    if (lingering_ || state_ != State::Open) {
      return;  // discarding while closing
    }
    bytes_received_ += static_cast<uint64_t>(nread);
    callbacks_->onData(data, static_cast<size_t>(nread));
    return;
  }
  if (lingering_) {
    closeSocket(false);
    return;
  }
  if (nread == UV_EOF) {
    stopReading();
    if (state_ == State::Closing) {
      // Flushing our last bytes: the peer is gone for reading but may still accept them.
      return;
    }
    callbacks_->onEvent(ConnectionEvent::RemoteHalfClose);
    return;
  }
  failure_reason_ = uv_strerror(static_cast<int>(nread));
  closeSocket(false);
  callbacks_->onEvent(ConnectionEvent::RemoteReset);
}

void ConnectionImpl::write(buffer::Buffer& data) {
  if (socket_ == nullptr || lingering_ || (state_ == State::Closing && !flush_close_)) {
    data.clear();
    return;
  }
  pending_.move(data);
  if (state_ == State::Connecting || socket_->write_in_flight) {
    if (!above_high_watermark_ && bufferedBytes() > high_watermark_) {
      above_high_watermark_ = true;
      callbacks_->onAboveWriteBufferHighWatermark();
    }
    return;
  }
  flush();
  if (socket_ != nullptr && !above_high_watermark_ && bufferedBytes() > high_watermark_) {
    above_high_watermark_ = true;
    callbacks_->onAboveWriteBufferHighWatermark();
  }
}

void ConnectionImpl::flush() {
  auto* stream = reinterpret_cast<uv_stream_t*>(&socket_->tcp);
  buffer::RawSlice slices[kMaxTryWriteSlices];
  uv_buf_t bufs[kMaxTryWriteSlices];
  while (!pending_.empty()) {
    size_t n = pending_.frontSlices(slices, kMaxTryWriteSlices);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
      bufs[i] = uv_buf_init(const_cast<char*>(slices[i].data), static_cast<unsigned>(slices[i].len));
      total += slices[i].len;
    }
    int rc = uv_try_write(stream, bufs, static_cast<unsigned>(n));
    if (rc == UV_EAGAIN) {
      break;
    }
    if (rc < 0) {
      failure_reason_ = uv_strerror(rc);
      pending_.clear();
      closeSocket(false);
      callbacks_->onEvent(ConnectionEvent::RemoteReset);
      return;
    }
    pending_.drain(static_cast<size_t>(rc));
    bytes_sent_ += static_cast<uint64_t>(rc);
    if (static_cast<size_t>(rc) < total) {
      break;  // the socket is full
    }
  }
  if (!pending_.empty()) {
    socket_->writing.move(pending_);
    std::vector<buffer::RawSlice> all(64);
    size_t n = socket_->writing.frontSlices(all.data(), all.size());
    while (n == all.size()) {
      all.resize(all.size() * 2);
      n = socket_->writing.frontSlices(all.data(), all.size());
    }
    std::vector<uv_buf_t> queued(n);
    for (size_t i = 0; i < n; i++) {
      queued[i] = uv_buf_init(const_cast<char*>(all[i].data), static_cast<unsigned>(all[i].len));
    }
    socket_->write_req.data = socket_;
    socket_->write_in_flight = true;
    uv_write(&socket_->write_req, stream, queued.data(), static_cast<unsigned>(n),
             [](uv_write_t* req, int status) {
               auto* socket = static_cast<Socket*>(req->data);
               socket->write_in_flight = false;
               if (socket->owner != nullptr) {
                 socket->owner->onWriteComplete(status);
               } else {
                 socket->writing.clear();
               }
             });
    return;
  }
  if (flush_close_) {
    finishFlushClose();
    return;
  }
  checkLowWatermark();
}

void ConnectionImpl::onWriteComplete(int status) {
  bytes_sent_ += socket_->writing.length();
  socket_->writing.clear();
  if (status < 0) {
    failure_reason_ = uv_strerror(status);
    closeSocket(false);
    callbacks_->onEvent(ConnectionEvent::RemoteReset);
    return;
  }
  if (!pending_.empty()) {
    flush();
    return;
  }
  if (flush_close_) {
    finishFlushClose();
    return;
  }
  checkLowWatermark();
}

void ConnectionImpl::checkLowWatermark() {
  if (above_high_watermark_ && bufferedBytes() <= high_watermark_ / 2) {
    above_high_watermark_ = false;
    callbacks_->onBelowWriteBufferLowWatermark();
  }
}

size_t ConnectionImpl::bufferedBytes() const {
  return pending_.length() + (socket_ != nullptr ? socket_->writing.length() : 0);
}

void ConnectionImpl::readDisable(bool disable) {
  if (disable) {
    if (read_disable_count_++ == 0) {
      stopReading();
    }
    return;
  }
  if (read_disable_count_ == 0) {
    return;
  }
  if (--read_disable_count_ == 0 && state_ == State::Open) {
    startReading();
  }
}

void ConnectionImpl::close(CloseType type) {
  if (socket_ == nullptr) {
    return;
  }
  if (type == CloseType::Reset) {
    closeSocket(true);
    return;
  }
  if (type == CloseType::NoFlush || state_ == State::Connecting) {
    closeSocket(false);
    return;
  }
  if (state_ == State::Closing) {
    return;
  }
  state_ = State::Closing;
  flush_close_ = true;
  stopReading();
  if (!socket_->write_in_flight && pending_.empty()) {
    finishFlushClose();
  }
}

void ConnectionImpl::finishFlushClose() {
  // Shut down the write side and keep reading (and discarding) until the peer closes or a
  // timeout passes: closing a socket with unread input sends a RST, which can make the peer
  // drop the response it has not read yet (the "lingering close" of nginx and Apache).
  flush_close_ = false;
  lingering_ = true;
  socket_->shutdown_req.data = socket_;
  int rc = uv_shutdown(&socket_->shutdown_req, reinterpret_cast<uv_stream_t*>(&socket_->tcp),
                       [](uv_shutdown_t* req, int) {
                         auto* socket = static_cast<Socket*>(req->data);
                         (void)socket;
                       });
  if (rc != 0) {
    closeSocket(false);
    return;
  }
  linger_timer_ = dispatcher_.createTimer([this]() { closeSocket(false); });
  linger_timer_->enableTimer(kLingerTimeout);
  startReading();
}

void ConnectionImpl::closeSocket(bool reset) {
  if (socket_ == nullptr) {
    return;
  }
  Socket* socket = socket_;
  socket_ = nullptr;
  state_ = State::Closed;
  reading_ = false;
  pending_.clear();
  socket->owner = nullptr;
  auto* handle = reinterpret_cast<uv_handle_t*>(&socket->tcp);
  if (uv_is_closing(handle) == 0) {
    if (reset && uv_tcp_close_reset(&socket->tcp, Socket::onClose) == 0) {
      // closed with RST
    } else {
      uv_close(handle, Socket::onClose);
    }
  }
  if (self_owned_ != nullptr) {
    dispatcher_.removeShutdownCloser(this);
    // Deleting the timer that may be running this very callback is deferred too.
    dispatcher_.deferredDelete(std::move(self_owned_));
    return;
  }
  linger_timer_.reset();
}

// The listener allocates the accepted handle inside a Socket so that ConnectionImpl can adopt
// it (see the server-side constructor).
uv_tcp_t* allocateAcceptHandle(uv_loop_t* loop) {
  auto* socket = new ConnectionImpl::Socket;
  socket->owner = nullptr;
  uv_tcp_init(loop, &socket->tcp);
  socket->tcp.data = socket;
  return &socket->tcp;
}

void freeAcceptHandle(uv_tcp_t* handle) {
  uv_close(reinterpret_cast<uv_handle_t*>(handle), ConnectionImpl::Socket::onClose);
}

}  // namespace strait::network
