#include "control/http_server_connection.h"

#include <algorithm>
#include <utility>

#include "control/http_server_h1.h"
#include "control/http_server_h2.h"
#include "control/http_server_tls.h"

namespace strait::cp::http {
namespace {

constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string peerAddress(const uv_tcp_t* tcp) {
  sockaddr_storage addr{};
  int len = sizeof(addr);
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return {};
  }
  char ip[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET6) {
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    uv_ip6_name(a6, ip, sizeof(ip));
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(a6->sin6_port));
  }
  const auto* a4 = reinterpret_cast<const sockaddr_in*>(&addr);
  uv_ip4_name(a4, ip, sizeof(ip));
  return std::string(ip) + ":" + std::to_string(ntohs(a4->sin_port));
}

}  // namespace

// One uv_write: the bytes stay alive until libuv is done with them.
struct Connection::WriteRequest {
  uv_write_t req;
  Connection* connection;
  std::string data;
};

Connection::Connection(uv_loop_t* loop, ConnectionOwner& owner, const HttpServerOptions& options,
                       ssl_ctx_st* tls)
    : owner_(&owner),
      options_(options),
      timer_(loop, [this] { onDeadline(); }),
      tls_(tls != nullptr ? std::make_unique<TlsSession>(tls) : nullptr) {
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
}

Connection::~Connection() = default;

bool Connection::start() {
  peer_.peer_address = peerAddress(&tcp_);
  uv_tcp_nodelay(&tcp_, 1);
  resumeReading();
  if (!reading_) {
    close();
    return false;
  }
  // A plaintext connection's first bytes are the first request's head, or HTTP/2's preface.
  setDeadline(tls_ ? Deadline::Handshake : Deadline::RequestHead);
  return true;
}

void Connection::setDeadline(Deadline deadline) {
  if (state_ != State::Open || deadline == deadline_) {
    return;
  }
  deadline_ = deadline;
  std::chrono::milliseconds timeout = timeoutOf(deadline);
  if (timeout.count() > 0) {
    timer_.start(timeout);
  } else {
    timer_.stop();
  }
}

std::chrono::milliseconds Connection::timeoutOf(Deadline deadline) const {
  switch (deadline) {
    case Deadline::Handshake:
      return options_.handshake_timeout;
    case Deadline::RequestHead:
      return options_.request_header_timeout;
    case Deadline::Idle:
      return options_.idle_timeout;
    case Deadline::None:
      break;
  }
  return std::chrono::milliseconds::zero();
}

void Connection::onDeadline() {
  if (state_ != State::Open) {
    return;
  }
  switch (deadline_) {
    case Deadline::Handshake:
      // Nothing can be said to a peer without a TLS session.
      close();
      break;
    case Deadline::RequestHead:
      if (session_) {
        session_->requestHeadTimedOut();
      } else {
        // Nothing yet, or a piece of HTTP/2's preface: no protocol to answer in.
        close();
      }
      break;
    case Deadline::Idle:
      shutdown();
      break;
    case Deadline::None:
      break;
  }
}

void Connection::pauseReading() {
  if (reading_) {
    uv_read_stop(stream());
    reading_ = false;
  }
}

void Connection::resumeReading() {
  if (!reading_ && state_ == State::Open) {
    reading_ = uv_read_start(stream(), &Connection::onAlloc, &Connection::onRead) == 0;
  }
}

void Connection::onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(handle->data);
  // Each read is consumed before the next one, so one buffer per connection is enough.
  *buf = uv_buf_init(self->read_buffer_.data(), self->read_buffer_.size());
}

void Connection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(stream->data);
  if (nread < 0) {
    // EOF or a socket error: the peer is gone, whatever was in flight.
    self->close();
    return;
  }
  if (nread == 0 || self->state_ != State::Open) {
    return;
  }
  std::string_view data(buf->base, static_cast<size_t>(nread));
  if (self->tls_) {
    self->receiveCiphertext(data);
  } else {
    self->receivePlaintext(data);
  }
}

void Connection::receiveCiphertext(std::string_view data) {
  std::string plain;
  std::string out;
  bool was_done = tls_->handshakeDone();
  bool ok = tls_->receive(data, plain, out);
  if (!out.empty()) {
    sendRaw(std::move(out));
  }
  if (!was_done && tls_->handshakeDone()) {
    onHandshake();
  }
  if (!plain.empty()) {
    receivePlaintext(plain);
  }
  if (!ok) {
    // A failed handshake's alert, if any, is on its way; the handler never saw this connection.
    closeAfterWrites();
  }
}

void Connection::onHandshake() {
  peer_.peer_uri_san = tls_->peerUriSan();
  std::string protocol = tls_->alpn();
  if (protocol == "h2") {
    session_ = std::make_unique<Http2Session>(*this);
    setDeadline(Deadline::Idle);
    return;
  }
  if (protocol == "http/1.1") {
    session_ = std::make_unique<Http1Session>(*this);
  }
  // Without ALPN the first bytes decide, as on plaintext.
  setDeadline(Deadline::RequestHead);
}

void Connection::receivePlaintext(std::string_view data) {
  SessionCall call(*this);
  if (session_) {
    session_->receive(data);
    return;
  }
  first_bytes_.append(data);
  if (chooseSession()) {
    std::string bytes = std::move(first_bytes_);
    first_bytes_.clear();
    session_->receive(bytes);
  }
}

bool Connection::chooseSession() {
  size_t n = std::min(first_bytes_.size(), kHttp2Preface.size());
  bool preface_so_far = std::string_view(first_bytes_).substr(0, n) == kHttp2Preface.substr(0, n);
  if (!preface_so_far) {
    session_ = std::make_unique<Http1Session>(*this);
    return true;
  }
  if (n < kHttp2Preface.size()) {
    return false;
  }
  session_ = std::make_unique<Http2Session>(*this);
  // The preface is HTTP/2's whole "head"; what follows is a wait for the first stream.
  setDeadline(Deadline::Idle);
  return true;
}

void Connection::send(std::string_view data) {
  if (state_ == State::Closed || data.empty()) {
    return;
  }
  if (!tls_) {
    sendRaw(std::string(data));
    return;
  }
  std::string out;
  if (!tls_->encrypt(data, out)) {
    close();
    return;
  }
  sendRaw(std::move(out));
}

void Connection::sendRaw(std::string data) {
  auto* write = new WriteRequest{{}, this, std::move(data)};
  write->req.data = write;
  uv_buf_t buf = uv_buf_init(write->data.data(), write->data.size());
  if (uv_write(&write->req, stream(), &buf, 1, &Connection::onWrite) != 0) {
    delete write;
    close();
    return;
  }
  pending_write_bytes_ += buf.len;
  ++writes_in_flight_;
}

void Connection::onWrite(uv_write_t* req, int status) {
  auto* write = static_cast<WriteRequest*>(req->data);
  Connection* self = write->connection;
  self->pending_write_bytes_ -= write->data.size();
  --self->writes_in_flight_;
  delete write;
  if (status != 0) {
    self->close();
    return;
  }
  if (self->state_ == State::Draining && self->writes_in_flight_ == 0) {
    self->close();
  }
}

void Connection::dispatch(const ExchangePtr& exchange) {
  if (state_ == State::Open && owner_ != nullptr) {
    owner_->dispatch(exchange);
  }
}

void Connection::endSession() {
  if (session_ && !session_detached_) {
    session_detached_ = true;
    session_->detachExchanges();
  }
}

void Connection::closeAfterWrites() {
  if (state_ != State::Open) {
    return;
  }
  // A draining connection waits on its writes alone.
  setDeadline(Deadline::None);
  state_ = State::Draining;
  pauseReading();
  if (session_calls_ > 0) {
    drain_deferred_ = true;
    return;
  }
  finishDraining();
}

void Connection::endSessionCall() {
  --session_calls_;
  if (session_calls_ == 0 && drain_deferred_) {
    drain_deferred_ = false;
    if (state_ == State::Draining) {
      finishDraining();
    }
  }
}

void Connection::finishDraining() {
  endSession();
  if (tls_) {
    std::string out;
    tls_->closeNotify(out);
    if (!out.empty()) {
      sendRaw(std::move(out));
    }
  }
  if (writes_in_flight_ == 0) {
    close();
  }
}

void Connection::shutdown() {
  if (state_ == State::Open && session_) {
    session_->goAway();
  }
  closeAfterWrites();
}

void Connection::close() {
  if (state_ == State::Closed) {
    return;
  }
  state_ = State::Closed;
  timer_.close();
  pauseReading();
  endSession();
  // Pending writes are cancelled; their callbacks run before onClosed.
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Connection::onClosed);
}

void Connection::onClosed(uv_handle_t* handle) {
  auto* self = static_cast<Connection*>(handle->data);
  if (self->owner_ != nullptr) {
    self->owner_->onConnectionClosed(*self);
  }
  delete self;
}

}  // namespace strait::cp::http
