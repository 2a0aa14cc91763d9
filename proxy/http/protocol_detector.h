#pragma once

// Owns a plaintext downstream connection until its first bytes say which protocol it speaks:
// the HTTP/2 preface selects HTTP/2 (h2c, prior knowledge), anything else HTTP/1.1. Almost every
// connection decides on its first read ("GET " differs from "PRI " at the first byte), so the
// detector costs one small object per connection and no copy of the request bytes. Until then
// the connection is idle: the listener's idle_timeout closes it.

#include <string>

#include "proxy/http/server_connection.h"

namespace strait::http {

class ProtocolDetector : public ServerConnection, public network::ConnectionCallbacks {
 public:
  ProtocolDetector(WorkerContext& worker, const std::string& listener_name,
                   network::ConnectionPtr connection, List& owner);
  ~ProtocolDetector() override;

  // ServerConnection
  void startDrain() override { close(); }
  void closeNow() override { close(); }
  void feed(const char* data, size_t len) override { onData(data, len); }

  // network::ConnectionCallbacks
  void onData(const char* data, size_t len) override;
  void onEvent(network::ConnectionEvent event) override;

 private:
  void select(DownstreamProtocol protocol, const char* data, size_t len);
  void close();

  WorkerContext& worker_;
  std::string listener_name_;
  network::ConnectionPtr connection_;
  event::TimerPtr idle_timer_;
  std::string seen_;  // a split preface prefix, kept until it completes or differs
  bool done_ = false;
};

}  // namespace strait::http
