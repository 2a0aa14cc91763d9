#pragma once

// A network::Connection that is only what the HTTP layer reads of one: its addresses and TLS
// state. Writes are dropped (the HTTP layer's tests read what was encoded, not the socket).

#include <string>

#include "strait/network/connection.h"

namespace strait::testing {

class FakeConnection : public network::Connection {
 public:
  // `info` (may be null: plain TCP) must outlive the connection.
  explicit FakeConnection(const network::TlsInfo* info = nullptr,
                          std::string remote_address = "127.0.0.1")
      : info_(info),
        remote_address_(std::move(remote_address)),
        remote_address_and_port_(remote_address_ + ":50000") {}
  void setCallbacks(network::ConnectionCallbacks&) override {}
  void write(buffer::Buffer& data) override { data.clear(); }
  void readDisable(bool) override {}
  bool readEnabled() const override { return true; }
  void close(network::CloseType) override {}
  State state() const override { return State::Open; }
  size_t bufferedBytes() const override { return 0; }
  void setWriteBufferLimits(size_t) override {}
  const std::string& remoteAddress() const override { return remote_address_; }
  const std::string& remoteAddressAndPort() const override { return remote_address_and_port_; }
  const std::string& failureReason() const override { return empty_; }
  uint64_t id() const override { return 1; }
  uint64_t bytesReceived() const override { return 0; }
  uint64_t bytesSent() const override { return 0; }
  bool secure() const override { return info_ != nullptr; }
  const network::TlsInfo* tlsInfo() const override { return info_; }

 private:
  const network::TlsInfo* info_;
  std::string remote_address_;
  std::string remote_address_and_port_;
  std::string empty_;
};

}  // namespace strait::testing
