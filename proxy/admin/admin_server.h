#pragma once

// The admin server (ARCHITECTURE.md, "Telemetry"): a small HTTP/1.1 server on the main thread's
// loop, on its own address (localhost by default). Handlers are registered by path and answer
// synchronously; it shares the proxy's HTTP/1.1 codec, so it refuses bad input the same way.

#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>

#include "proxy/event/dispatcher_impl.h"
#include "proxy/network/listener_impl.h"
#include "strait/http/header_map.h"

namespace strait::admin {

struct AdminResponse {
  uint16_t status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using AdminHandler = std::function<AdminResponse(const http::RequestHeaders& request)>;

class AdminServer {
 public:
  explicit AdminServer(event::DispatcherImpl& dispatcher);
  ~AdminServer();

  // `method` is "GET" or "POST"; GET handlers also answer HEAD.
  void addHandler(const std::string& method, const std::string& path, std::string help,
                  AdminHandler handler);
  // Binds and listens; false with `error` set on failure.
  bool listen(const std::string& address, uint16_t port, std::string& error);
  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }

 private:
  class Session;
  AdminResponse handle(const http::RequestHeaders& request);

  struct Entry {
    std::string help;
    AdminHandler handler;
  };
  event::DispatcherImpl& dispatcher_;
  std::unique_ptr<network::ListenerImpl> listener_;
  std::map<std::pair<std::string, std::string>, Entry> handlers_;  // (method, path)
  std::list<std::unique_ptr<Session>> sessions_;
  std::string address_;
  uint16_t port_ = 0;
};

}  // namespace strait::admin
