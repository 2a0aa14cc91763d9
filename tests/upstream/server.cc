#include "tests/upstream/server.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tests/upstream/connection.h"

namespace strait::testupstream {
namespace {

constexpr int kBacklog = 1024;

}  // namespace

Server::Server(Options options)
    : options_(std::move(options)),
      capacity_(options_.capacity),
      latency_(options_.latency, options_.seed) {}

int Server::bind() {
  sockaddr_storage address{};
  int rc = 0;
  if (options_.address.find(':') != std::string::npos) {
    rc = uv_ip6_addr(options_.address.c_str(), options_.port,
                     reinterpret_cast<sockaddr_in6*>(&address));
  } else {
    rc = uv_ip4_addr(options_.address.c_str(), options_.port,
                     reinterpret_cast<sockaddr_in*>(&address));
  }
  if (rc != 0) {
    std::fprintf(stderr, "strait-test-upstream: bad address %s: %s\n", options_.address.c_str(),
                 uv_strerror(rc));
    return rc;
  }
  uv_tcp_init(&loop_, &listener_);
  listener_.data = this;
  rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&address), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), kBacklog, &Server::onConnection);
  }
  if (rc != 0) {
    std::fprintf(stderr, "strait-test-upstream: cannot listen on %s:%u: %s\n",
                 options_.address.c_str(), options_.port, uv_strerror(rc));
  }
  return rc;
}

int Server::announce() {
  sockaddr_storage bound{};
  int length = sizeof(bound);
  int rc = uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &length);
  if (rc != 0) {
    return rc;
  }
  unsigned port = bound.ss_family == AF_INET6
                      ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  std::printf("listening on %s:%u\n", options_.address.c_str(), port);
  std::fflush(stdout);
  if (options_.portFile.empty()) {
    return 0;
  }
  // Write a temporary file and rename it so a polling reader never sees a partial number.
  std::string temp = options_.portFile + ".tmp." + std::to_string(uv_os_getpid());
  FILE* file = std::fopen(temp.c_str(), "w");
  if (file == nullptr) {
    std::fprintf(stderr, "strait-test-upstream: cannot write %s: %s\n", temp.c_str(),
                 std::strerror(errno));
    return UV_EIO;
  }
  std::fprintf(file, "%u\n", port);
  bool ok = std::fclose(file) == 0;
  if (!ok || std::rename(temp.c_str(), options_.portFile.c_str()) != 0) {
    std::fprintf(stderr, "strait-test-upstream: cannot publish %s: %s\n", options_.portFile.c_str(),
                 std::strerror(errno));
    return UV_EIO;
  }
  return 0;
}

int Server::run() {
  uv_loop_init(&loop_);
  int rc = bind();
  if (rc == 0) {
    rc = announce();
  }
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    return 1;
  }
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  sigterm_.data = this;
  sigint_.data = this;
  uv_signal_start(&sigterm_, &Server::onSignal, SIGTERM);
  uv_signal_start(&sigint_, &Server::onSignal, SIGINT);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  return 0;
}

void Server::onConnection(uv_stream_t* listener, int status) {
  auto* self = static_cast<Server*>(listener->data);
  if (status < 0 || self->stopping_) {
    return;
  }
  auto* connection = new Connection(*self);
  if (connection->accept(listener) != 0) {
    // The connection closes itself and is freed in its close callback.
    return;
  }
  self->connections_.insert(connection);
  self->stats_.accepted++;
  self->stats_.active++;
}

void Server::onConnectionClosed(Connection* connection) {
  if (connections_.erase(connection) > 0) {
    stats_.active--;
  }
}

void Server::onSignal(uv_signal_t* handle, int /*signum*/) {
  static_cast<Server*>(handle->data)->shutdown();
}

void Server::shutdown() {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  // Closing a connection removes it from the set, so iterate over a copy.
  std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (Connection* connection : open) {
    connection->close();
  }
}

}  // namespace strait::testupstream
