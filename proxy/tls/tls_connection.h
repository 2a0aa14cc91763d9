#pragma once

// A TLS transport socket: a Connection that runs OpenSSL over another Connection (the TCP
// ConnectionImpl), so the HTTP layer above is the same with or without TLS.
//
// OpenSSL never touches the socket: it reads ciphertext from one memory BIO, which onData()
// fills with what the TCP connection read, and writes ciphertext into another, which is moved
// into the TCP connection's write buffer after every OpenSSL call. Flow control is the TCP
// connection's: its watermarks are passed up unchanged, and readDisable() stops it reading
// (records already decrypted and buffered are delivered once reading resumes).
//
// Server side: created at accept; the handshake runs on the first bytes; a failed handshake is
// counted by reason and reported as RemoteReset. Client side: created before connect(); the
// handshake starts once TCP connects, and Connected (or ConnectFailed, with the reason) is
// reported when it ends. Writes made before the handshake completes wait for it.

#include <chrono>
#include <memory>
#include <string>

#include "proxy/event/dispatcher_impl.h"
#include "proxy/tls/context.h"
#include "strait/network/connection.h"

namespace strait::tls {

class TlsConnection : public network::Connection, public network::ConnectionCallbacks {
 public:
  // Server side over an accepted connection. Never null: if OpenSSL cannot make an SSL the
  // connection is closed and reports RemoteReset on its first read. A handshake not done within
  // `handshake_timeout` (0: none) fails (reason "other").
  static network::ConnectionPtr server(ServerContextSharedPtr context,
                                       network::ConnectionPtr transport,
                                       event::DispatcherImpl& dispatcher, stats::Shard& shard,
                                       std::chrono::milliseconds handshake_timeout);
  // Client side over a connection about to connect to `address` (the host's IP or name).
  static network::ConnectionPtr client(ClientContextSharedPtr context,
                                       network::ConnectionPtr transport,
                                       event::DispatcherImpl& dispatcher,
                                       const std::string& address);
  ~TlsConnection() override;

  // network::Connection
  void setCallbacks(network::ConnectionCallbacks& callbacks) override { callbacks_ = &callbacks; }
  void write(buffer::Buffer& data) override;
  void readDisable(bool disable) override;
  bool readEnabled() const override { return transport_->readEnabled(); }
  void close(network::CloseType type) override;
  State state() const override;
  size_t bufferedBytes() const override;
  void setWriteBufferLimits(size_t high_watermark) override;
  const std::string& remoteAddress() const override { return transport_->remoteAddress(); }
  const std::string& remoteAddressAndPort() const override {
    return transport_->remoteAddressAndPort();
  }
  const std::string& failureReason() const override;
  uint64_t id() const override { return transport_->id(); }
  uint64_t bytesReceived() const override { return transport_->bytesReceived(); }
  uint64_t bytesSent() const override { return transport_->bytesSent(); }
  bool secure() const override { return true; }
  const std::string& peerPrincipal() const override { return tls_info_.peer_principal; }
  const network::TlsInfo* tlsInfo() const override {
    return handshake_ == Handshake::Done ? &tls_info_ : nullptr;
  }

  // network::ConnectionCallbacks (from the TCP connection)
  void onData(const char* data, size_t len) override;
  void onEvent(network::ConnectionEvent event) override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;

 private:
  enum class Handshake { Pending, Done, Failed };

  TlsConnection(network::ConnectionPtr transport, event::DispatcherImpl& dispatcher, bool client);
  void process();
  bool doHandshake();
  void onHandshakeDone();
  void onHandshakeFailed(const std::string& reason, unsigned long error);
  void readPlaintext();
  void encrypt(buffer::Buffer& data);
  void flushToTransport();
  void fatal(const std::string& reason);

  network::ConnectionPtr transport_;
  event::DispatcherImpl& dispatcher_;
  const bool client_;
  ServerContextSharedPtr server_context_;
  ClientContextSharedPtr client_context_;
  stats::Shard* shard_ = nullptr;
  SslPtr ssl_;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  network::ConnectionCallbacks* callbacks_ = nullptr;
  HandshakeInfo handshake_info_;
  network::TlsInfo tls_info_;
  Handshake handshake_ = Handshake::Pending;
  buffer::Buffer pending_plain_;  // written before the handshake completed
  event::TimerPtr resume_timer_;
  event::TimerPtr handshake_timer_;  // delivers buffered records after readDisable(false)
  std::string failure_reason_;
  bool closed_ = false;           // closed by us (or failed); the transport may still flush
  bool shutdown_sent_ = false;
  bool half_close_reported_ = false;
};

}  // namespace strait::tls
