#pragma once

// A listening socket on one worker's loop. Each worker has its own socket bound to the same
// address with SO_REUSEPORT, so the kernel spreads new connections across workers and a
// connection stays on the worker that accepted it.

#include <uv.h>

#include <functional>
#include <string>

#include "proxy/event/dispatcher_impl.h"
#include "strait/network/connection.h"

namespace strait::network {

class ListenerImpl {
 public:
  using AcceptCb = std::function<void(ConnectionPtr)>;

  // Takes ownership of `fd`, a bound and listening socket (see bindListenSocket()).
  ListenerImpl(event::DispatcherImpl& dispatcher, int fd, AcceptCb on_accept);
  ~ListenerImpl();
  ListenerImpl(const ListenerImpl&) = delete;
  ListenerImpl& operator=(const ListenerImpl&) = delete;

  // Stops accepting new connections (drain); already accepted ones are unaffected.
  void stopAccepting();
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  void onConnection(int status);

  event::DispatcherImpl& dispatcher_;
  uv_tcp_t* handle_;
  AcceptCb on_accept_;
  std::string error_;
};

// Creates, binds (SO_REUSEADDR + SO_REUSEPORT) and listens on a TCP socket. `port` 0 picks a
// free port. Returns the fd and sets `bound_port`, or -1 with `error` set.
int bindListenSocket(const std::string& address, uint16_t port, int backlog,
                     uint16_t& bound_port, std::string& error);

// Parses an IPv4/IPv6 literal and port into `out`. False if `address` is not a literal.
bool parseIpAddress(const std::string& address, uint16_t port, sockaddr_storage& out);

}  // namespace strait::network
