#pragma once

// OpenSSL contexts built from config, immutable once built and shared by every worker (an
// SSL_CTX is safe to use from several threads; its session cache locks internally).
//
// ServerContext (listener `tls`): one SSL_CTX per configured certificate, all configured alike
// (TLS 1.2 and 1.3, ALPN, session cache and tickets, client validation). A connection starts on
// the fallback certificate's SSL_CTX, which is also the one holding the session cache and the
// ticket keys; the SNI callback moves it to the certificate CertificateSelector picks.
//
// Client validation (mTLS) replaces OpenSSL's chain verification with verifyClientChain(): the
// leaf must carry exactly one URI SAN, a SPIFFE ID, and the chain is verified against the trust
// bundle of that ID's trust domain only, so a CA of one trust domain cannot vouch for another.
//
// ClientContext (cluster `tls`): server verification against `ca` (or the system store), the
// host name checked against `sni`, and an optional client certificate for upstream mTLS.
//
// A rebuilt ServerContext (certificate files changed, config reload) serves new handshakes;
// connections keep the context they started with through their shared_ptr.

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "config/types.h"
#include "proxy/tls/sni.h"
#include "proxy/tls/ssl_types.h"
#include "strait/stats/stats.h"

namespace strait::tls {

// Why a downstream handshake failed: the `reason` label of
// strait_dp_tls_handshake_failures_total. A small fixed set, so the label cannot explode.
enum class HandshakeFailure {
  NoClientCert,
  BadClientCert,
  UnknownCa,
  ProtocolVersion,
  NoSharedCipher,
  Other,
};
constexpr size_t kHandshakeFailureCount = 6;
const char* handshakeFailureName(HandshakeFailure reason);

// What one connection learns during its handshake. The TlsConnection owns it; OpenSSL's
// callbacks reach it through SSL_get_app_data().
struct HandshakeInfo {
  size_t certificate = 0;         // index of the listener certificate served
  bool verify_failed = false;     // set by verifyClientChain
  HandshakeFailure verify_reason = HandshakeFailure::Other;
  std::string verify_detail;
  std::string peer_principal;     // the verified peer SPIFFE ID
};

struct ServerStats {
  stats::Counter handshakes;     // completed
  stats::Counter resumed;        // of which resumed a session
  std::array<stats::Counter, kHandshakeFailureCount> failures;
};

class ServerContext {
 public:
  // Loads every certificate and trust bundle. Relative paths are taken from `base_dir`.
  // Returns nullptr with `error` set ("listeners.edge.tls: cert /x.pem: No such file ...").
  static std::shared_ptr<const ServerContext> create(const config::ListenerTls& config,
                                                     const std::string& listener_name,
                                                     const std::string& base_dir,
                                                     stats::Store& store, std::string& error);
  ~ServerContext();

  // A new server-side SSL for one connection (nullptr if OpenSSL fails to allocate one).
  SslPtr newSsl(HandshakeInfo& info) const;
  const ServerStats& stats() const { return stats_; }
  // The SPIFFE ID in certificate `index`'s URI SAN, if it has one: this listener's identity.
  const std::string& localPrincipal(size_t index) const;
  bool verifiesClients() const { return !trust_.empty(); }

  // Classifies a failed handshake from the SSL's error queue entry and what verification found.
  static HandshakeFailure classify(unsigned long error, const HandshakeInfo& info);

 private:
  struct TrustDomain {
    std::string name;
    X509StorePtr store;
  };
  ServerContext() = default;
  bool addCertificate(const config::TlsCertificate& certificate, const config::ListenerTls& config,
                      const std::string& base_dir, const std::string& where, std::string& error);
  const X509_STORE* trustStore(const std::string& trust_domain) const;
  static int verifyClientChain(X509_STORE_CTX* store_ctx, void* arg);
  static int selectCertificate(SSL* ssl, int* alert, void* arg);
  static int selectAlpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                        const unsigned char* in, unsigned int inlen, void* arg);

  std::vector<SslCtxPtr> contexts_;  // one per certificate, in config order
  std::vector<std::string> local_principals_;
  std::unique_ptr<CertificateSelector> selector_;
  std::vector<TrustDomain> trust_;
  bool require_client_certificate_ = false;
  std::vector<std::string> alpn_preference_;  // "h2" and/or "http/1.1", the listener's order
  ServerStats stats_;
};

using ServerContextSharedPtr = std::shared_ptr<const ServerContext>;

class ClientContext {
 public:
  // `http2`: offer ALPN h2 (cluster protocol http2), else http/1.1.
  static std::shared_ptr<const ClientContext> create(const config::ClusterTls& config,
                                                     const std::string& base_dir,
                                                     std::string& error, bool http2 = false);

  // A new client-side SSL for a connection to `address` (an IP literal or a name): SNI and the
  // verified name are `sni` when set, else the address itself.
  SslPtr newSsl(const std::string& address) const;

 private:
  ClientContext() = default;
  SslCtxPtr ctx_;
  std::string sni_;
};

using ClientContextSharedPtr = std::shared_ptr<const ClientContext>;

// `path` as given when absolute (or when base_dir is empty), else base_dir/path.
std::string resolvePath(const std::string& base_dir, const std::string& path);
// The directory of a config file ("" for a bare name: relative to the working directory).
std::string directoryOf(const std::string& file);
// A fingerprint of the contents of `paths` (each resolved against base_dir): equal fingerprints,
// same bytes (a missing file reads as empty). Tells whether TLS files changed since a load.
std::string filesFingerprint(const std::string& base_dir, const std::vector<std::string>& paths);
// The files a cluster's TLS settings load.
std::vector<std::string> clusterTlsFiles(const config::ClusterTls& config);
// The files a listener's TLS block names (certificates, keys, client trust bundles), as written.
std::vector<std::string> listenerTlsFiles(const config::ListenerTls& config);
// OpenSSL's error queue as one line (emptied), for messages.
std::string drainErrors();
// The URI SANs of a certificate.
std::vector<std::string> uriSans(X509* cert);
// Lower-case hex SHA-256 of a certificate's DER encoding ("" on failure).
std::string certificateSha256(X509* cert);

}  // namespace strait::tls
