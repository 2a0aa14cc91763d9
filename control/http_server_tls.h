#pragma once

// TLS for the HTTP server (OpenSSL 3): a server context made from HttpServerOptions, and per
// connection a TLS session over memory BIOs. The loop owns the socket and is non-blocking, so
// OpenSSL never touches it: ciphertext read from the socket is fed in, and whatever OpenSSL
// wants to send comes back out as bytes for the connection to write.

#include <string>
#include <string_view>

#include "control/http_server.h"
#include "control/ssl_types.h"

namespace strait::cp::http {

// The server's SSL_CTX: certificate chain and key, ALPN (h2, then http/1.1), and with a CA file
// a required, verified client certificate. Null with `error` set if a file does not load.
SslCtxPtr makeServerContext(const HttpServerOptions& options, std::string& error);

class TlsSession {
 public:
  explicit TlsSession(SSL_CTX* context);

  // Ciphertext from the peer. Plaintext is appended to `plain` and bytes for the peer to `out`
  // (handshake messages, alerts, tickets). False when the connection must end: a failed
  // handshake (`out` then holds the alert), a TLS error, or the peer's close_notify.
  bool receive(std::string_view ciphertext, std::string& plain, std::string& out);
  // Plaintext to the peer, encrypted into `out`. False on a TLS error.
  bool encrypt(std::string_view plain, std::string& out);
  // A close_notify for the peer, into `out`.
  void closeNotify(std::string& out);

  bool handshakeDone() const { return handshake_done_; }
  // The protocol chosen by ALPN ("h2", "http/1.1"), empty if the client offered none.
  std::string alpn() const;
  // The verified client certificate's first URI SAN, empty without one.
  std::string peerUriSan() const;

 private:
  void drain(std::string& out);
  bool readPlaintext(std::string& plain);

  SslPtr ssl_;
  BIO* in_;   // owned by ssl_
  BIO* out_;  // owned by ssl_
  bool handshake_done_ = false;
};

}  // namespace strait::cp::http
