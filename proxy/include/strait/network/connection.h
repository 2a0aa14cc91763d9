#pragma once

// A TCP connection as the HTTP layer sees it: bytes in through callbacks, a Buffer out, flow
// control through read-disable and write-buffer watermarks.

#include <cstdint>
#include <memory>
#include <string>

#include "strait/buffer/buffer.h"
#include "strait/event/dispatcher.h"

namespace strait::network {

enum class ConnectionEvent {
  Connected,        // client connections: the connect completed
  ConnectFailed,    // client connections: the connect failed (see failureReason())
  RemoteHalfClose,  // the peer sent FIN; what is buffered can still be written
  RemoteReset,      // the peer reset the connection or a socket error occurred; it is closed
};

enum class CloseType {
  FlushWrite,  // write what is buffered, shut down the write side, drain reads briefly, close
  NoFlush,     // close now, dropping what is buffered
  Reset,       // close now with a TCP RST
};

class ConnectionCallbacks {
 public:
  virtual ~ConnectionCallbacks() = default;
  // `data` is valid only during the call: keep what you need by copying it.
  virtual void onData(const char* data, size_t len) = 0;
  virtual void onEvent(ConnectionEvent event) = 0;
  // The write buffer went over its high watermark: stop producing until the low watermark.
  virtual void onAboveWriteBufferHighWatermark() {}
  virtual void onBelowWriteBufferLowWatermark() {}
};

// What a TLS connection learned in its handshake (see Connection::tlsInfo()).
struct TlsInfo {
  std::string version;                  // "TLSv1.3"
  std::string alpn;                     // negotiated protocol, "" if none
  std::string server_name;              // SNI the client sent (server side)
  bool resumed = false;                 // a resumed session
  std::string peer_principal;           // verified SPIFFE ID of the peer's certificate
  std::string peer_certificate_sha256;  // lower-case hex SHA-256 of the peer certificate's DER
  std::string local_principal;          // SPIFFE ID of the certificate we presented, if any
};

class Connection : public event::DeferredDeletable {
 public:
  enum class State { Connecting, Open, Closing, Closed };

  virtual void setCallbacks(ConnectionCallbacks& callbacks) = 0;
  // Moves `data` into the connection; written as soon as the socket takes it.
  virtual void write(buffer::Buffer& data) = 0;
  // Stops (true) or resumes (false) reading. Calls nest: reading resumes when every disable
  // has been matched by an enable.
  virtual void readDisable(bool disable) = 0;
  virtual bool readEnabled() const = 0;
  virtual void close(CloseType type) = 0;
  virtual State state() const = 0;
  virtual size_t bufferedBytes() const = 0;
  virtual void setWriteBufferLimits(size_t high_watermark) = 0;
  // "1.2.3.4" (peer's address without the port) and "1.2.3.4:5678".
  virtual const std::string& remoteAddress() const = 0;
  virtual const std::string& remoteAddressAndPort() const = 0;
  virtual const std::string& failureReason() const = 0;
  virtual uint64_t id() const = 0;
  virtual uint64_t bytesReceived() const = 0;
  virtual uint64_t bytesSent() const = 0;
  // TLS (plain TCP connections keep these defaults). secure(): the bytes are protected by TLS.
  // peerPrincipal(): the verified SPIFFE ID of the peer, "" without a verified client
  // certificate. tlsInfo(): what the handshake negotiated, null until it completes.
  virtual bool secure() const { return false; }
  virtual const std::string& peerPrincipal() const {
    static const std::string kNone;
    return kNone;
  }
  virtual const TlsInfo* tlsInfo() const { return nullptr; }
};

using ConnectionPtr = std::unique_ptr<Connection>;

}  // namespace strait::network
