#include "proxy/network/listener_impl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proxy/network/connection_impl.h"

namespace strait::network {

bool parseIpAddress(const std::string& address, uint16_t port, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof(out));
  auto* in = reinterpret_cast<sockaddr_in*>(&out);
  if (inet_pton(AF_INET, address.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    return true;
  }
  std::string v6 = address;
  if (v6.size() > 2 && v6.front() == '[' && v6.back() == ']') {
    v6 = v6.substr(1, v6.size() - 2);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET6, v6.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    return true;
  }
  return false;
}

int bindListenSocket(const std::string& address, uint16_t port, int backlog,
                     uint16_t& bound_port, std::string& error) {
  sockaddr_storage addr;
  if (!parseIpAddress(address, port, addr)) {
    error = "not an IP address: " + address;
    return -1;
  }
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  socklen_t len = addr.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    error = "bind " + address + ":" + std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (::listen(fd, backlog) != 0) {
    error = std::string("listen: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  bound_port = ntohs(bound.ss_family == AF_INET
                         ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                         : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  return fd;
}

ListenerImpl::ListenerImpl(event::DispatcherImpl& dispatcher, int fd, AcceptCb on_accept)
    : dispatcher_(dispatcher), handle_(new uv_tcp_t), on_accept_(std::move(on_accept)) {
  uv_tcp_init(dispatcher_.loop(), handle_);
  handle_->data = this;
  int rc = uv_tcp_open(handle_, fd);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(handle_), 1024, [](uv_stream_t* s, int status) {
      auto* self = static_cast<ListenerImpl*>(s->data);
      if (self != nullptr) {
        self->onConnection(status);
      }
    });
  }
  if (rc != 0) {
    error_ = uv_strerror(rc);
  }
}

ListenerImpl::~ListenerImpl() { stopAccepting(); }

void ListenerImpl::stopAccepting() {
  if (handle_ != nullptr) {
    event::DispatcherImpl::closeHandle(handle_);
    handle_ = nullptr;
  }
}

void ListenerImpl::onConnection(int status) {
  if (status != 0) {
    return;  // e.g. EMFILE: libuv has already shed the connection with its reserve fd
  }
  uv_tcp_t* client = allocateAcceptHandle(dispatcher_.loop());
  if (uv_accept(reinterpret_cast<uv_stream_t*>(handle_), reinterpret_cast<uv_stream_t*>(client)) !=
      0) {
    freeAcceptHandle(client);
    return;
  }
  on_accept_(std::make_unique<ConnectionImpl>(dispatcher_, client));
}

}  // namespace strait::network
