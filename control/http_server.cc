#include "control/http_server.h"

#include <uv.h>

#include <signal.h>
#include <strings.h>

#include <unordered_set>

#include "control/http_server_connection.h"
#include "control/http_server_tls.h"

namespace strait::cp {

namespace {

// libuv writes with write(2), which cannot be given MSG_NOSIGNAL: a peer that closes while a
// response is on its way would otherwise kill the process with SIGPIPE. A handler the
// application installed itself is left alone.
void ignoreSigpipe() {
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
  }
}

}  // namespace

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && strncasecmp(key.data(), name.data(), key.size()) == 0) {
      return value;
    }
  }
  return std::nullopt;
}

// Owns the listener and knows every connection until its handle is closed. Connections own
// themselves (they are freed in their close callback), so the server can go away while they
// finish closing.
class HttpServer::Impl : public http::ConnectionOwner {
 public:
  Impl(uv_loop_t* loop, HttpServerOptions options, Handler handler)
      : loop_(loop), options_(std::move(options)), handler_(std::move(handler)) {}
  ~Impl() override;

  bool listen(const std::string& address, uint16_t port, std::string& error);
  uint16_t port() const { return port_; }
  void close();
  size_t connections() const;

  // http::ConnectionOwner
  void dispatch(const ExchangePtr& exchange) override;
  void onConnectionClosed(http::Connection& connection) override;

 private:
  static void onConnection(uv_stream_t* listener, int status);
  static void onListenerClosed(uv_handle_t* handle);
  bool loadTls(std::string& error);
  void accept();
  void closeListener();

  uv_loop_t* loop_;
  HttpServerOptions options_;
  Handler handler_;
  // Heap-allocated: it is freed in its close callback, which may run after the server is gone.
  uv_tcp_t* listener_ = nullptr;
  uint16_t port_ = 0;
  // Null for plaintext.
  http::SslCtxPtr tls_;
  std::unordered_set<http::Connection*> connections_;
};

HttpServer::Impl::~Impl() {
  close();
  // Connections still draining their last writes are closed now: the loop must be able to
  // finish without waiting on a peer that does not read.
  for (http::Connection* connection : connections_) {
    connection->orphan();
    connection->close();
  }
}

bool HttpServer::Impl::listen(const std::string& address, uint16_t port, std::string& error) {
  if (listener_ != nullptr) {
    error = "already listening";
    return false;
  }
  sockaddr_storage addr{};
  if (uv_ip4_addr(address.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(address.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    error = "not an IP address: " + address;
    return false;
  }
  if (!loadTls(error)) {
    return false;
  }
  ignoreSigpipe();
  listener_ = new uv_tcp_t;
  uv_tcp_init(loop_, listener_);
  listener_->data = this;
  int rc = uv_tcp_bind(listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 128, &Impl::onConnection);
  }
  if (rc != 0) {
    error = "listen on " + address + ":" + std::to_string(port) + ": " + uv_strerror(rc);
    closeListener();
    return false;
  }
  sockaddr_storage bound{};
  int len = sizeof(bound);
  uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return true;
}

bool HttpServer::Impl::loadTls(std::string& error) {
  bool cert = !options_.cert_file.empty();
  bool key = !options_.key_file.empty();
  if (!cert && !key && options_.ca_file.empty()) {
    return true;
  }
  if (!cert || !key) {
    error = "TLS needs both cert_file and key_file";
    return false;
  }
  tls_ = http::makeServerContext(options_, error);
  return tls_ != nullptr;
}

void HttpServer::Impl::onConnection(uv_stream_t* listener, int status) {
  if (status == 0) {
    static_cast<Impl*>(listener->data)->accept();
  }
}

void HttpServer::Impl::accept() {
  auto* connection = new http::Connection(loop_, *this, options_, tls_.get());
  connections_.insert(connection);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_), connection->stream()) != 0) {
    connection->close();
    return;
  }
  connection->start();
}

void HttpServer::Impl::closeListener() {
  if (listener_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), &Impl::onListenerClosed);
    listener_ = nullptr;
  }
}

void HttpServer::Impl::onListenerClosed(uv_handle_t* handle) {
  delete reinterpret_cast<uv_tcp_t*>(handle);
}

void HttpServer::Impl::close() {
  closeListener();
  // A connection leaves the set only in its close callback, a later loop iteration, so the set
  // does not change under this loop.
  for (http::Connection* connection : connections_) {
    connection->shutdown();
  }
}

size_t HttpServer::Impl::connections() const {
  size_t open = 0;
  for (const http::Connection* connection : connections_) {
    open += connection->closing() ? 0 : 1;
  }
  return open;
}

void HttpServer::Impl::dispatch(const ExchangePtr& exchange) {
  handler_(exchange);
}

void HttpServer::Impl::onConnectionClosed(http::Connection& connection) {
  connections_.erase(&connection);
}

HttpServer::HttpServer(uv_loop_s* loop, HttpServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(loop, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() = default;

bool HttpServer::listen(const std::string& address, uint16_t port, std::string& error) {
  return impl_->listen(address, port, error);
}

uint16_t HttpServer::port() const {
  return impl_->port();
}

void HttpServer::close() {
  impl_->close();
}

size_t HttpServer::connections() const {
  return impl_->connections();
}

}  // namespace strait::cp
