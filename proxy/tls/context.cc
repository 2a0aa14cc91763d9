#include "proxy/tls/context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <map>
#include <mutex>

#include "proxy/tls/spiffe.h"

namespace strait::tls {

namespace {

constexpr long kSessionCacheSize = 20480;
constexpr long kSessionTimeoutSeconds = 3600;

// Session ticket keys per listener, kept for the life of the process so that tickets issued
// before a certificate rotation or a config reload still resume afterwards. Touched only while
// building contexts (main thread); the mutex keeps that true if it ever changes.
std::mutex ticket_keys_mutex;
std::map<std::string, std::array<unsigned char, 80>> ticket_keys;

bool ticketKeysFor(const std::string& listener, std::array<unsigned char, 80>& out) {
  std::lock_guard<std::mutex> lock(ticket_keys_mutex);
  auto it = ticket_keys.find(listener);
  if (it == ticket_keys.end()) {
    std::array<unsigned char, 80> keys;
    if (RAND_bytes(keys.data(), static_cast<int>(keys.size())) != 1) {
      return false;
    }
    it = ticket_keys.emplace(listener, keys).first;
  }
  out = it->second;
  return true;
}

bool unknownCaError(int x509_error) {
  switch (x509_error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      return true;
    default:
      return false;
  }
}

X509StorePtr loadStore(const std::string& path, std::string& error) {
  X509StorePtr store(X509_STORE_new());
  if (store == nullptr || X509_STORE_load_file(store.get(), path.c_str()) != 1) {
    error = "ca " + path + ": " + drainErrors();
    return nullptr;
  }
  return store;
}

}  // namespace

const char* handshakeFailureName(HandshakeFailure reason) {
  switch (reason) {
    case HandshakeFailure::NoClientCert:
      return "no_client_cert";
    case HandshakeFailure::BadClientCert:
      return "bad_client_cert";
    case HandshakeFailure::UnknownCa:
      return "unknown_ca";
    case HandshakeFailure::ProtocolVersion:
      return "protocol_version";
    case HandshakeFailure::NoSharedCipher:
      return "no_shared_cipher";
    case HandshakeFailure::Other:
      return "other";
  }
  return "other";
}

std::string resolvePath(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) {
    return path;
  }
  return base_dir + "/" + path;
}

std::string directoryOf(const std::string& file) {
  size_t slash = file.find_last_of('/');
  if (slash == std::string::npos) {
    return "";
  }
  return slash == 0 ? "/" : file.substr(0, slash);
}

std::string filesFingerprint(const std::string& base_dir, const std::vector<std::string>& paths) {
  std::string all;
  for (const auto& path : paths) {
    std::ifstream in(resolvePath(base_dir, path), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    all += path;
    all.push_back('\0');
    all += text.str();
    all.push_back('\0');
  }
  return std::to_string(std::hash<std::string>{}(all)) + ":" + std::to_string(all.size());
}

std::vector<std::string> clusterTlsFiles(const config::ClusterTls& config) {
  std::vector<std::string> files;
  for (const std::string* path : {&config.ca, &config.cert, &config.key}) {
    if (!path->empty()) {
      files.push_back(*path);
    }
  }
  return files;
}

std::vector<std::string> listenerTlsFiles(const config::ListenerTls& config) {
  std::vector<std::string> files;
  for (const auto& certificate : config.certificates) {
    files.push_back(certificate.cert);
    files.push_back(certificate.key);
  }
  if (config.client_validation) {
    for (const auto& bundle : config.client_validation->trust_bundles) {
      files.push_back(bundle.ca);
    }
  }
  return files;
}

std::string drainErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::vector<std::string> uriSans(X509* cert) {
  std::vector<std::string> out;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) {
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); i++) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_URI) {
      const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                       static_cast<size_t>(ASN1_STRING_length(uri)));
    }
  }
  return out;
}

std::string certificateSha256(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &len) != 1) {
    return "";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; i++) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

// ---- ServerContext --------------------------------------------------------------------------

ServerContext::~ServerContext() = default;

std::shared_ptr<const ServerContext> ServerContext::create(const config::ListenerTls& config,
                                                           const std::string& listener_name,
                                                           const std::string& base_dir,
                                                           stats::Store& store,
                                                           std::string& error) {
  std::shared_ptr<ServerContext> context(new ServerContext());
  const std::string where = "listener " + listener_name + " tls: ";
  ERR_clear_error();
  // The listener's ALPN list in its order of preference; protocols Strait does not serve are
  // never selected. After the handshake the connection's first bytes decide the codec (an h2
  // client sends the HTTP/2 preface), so ALPN only has to pick what the client will speak.
  for (const auto& alpn : config.alpn) {
    if (alpn == "h2" || alpn == "http/1.1") {
      context->alpn_preference_.push_back(alpn);
    }
  }
  if (config.client_validation) {
    context->require_client_certificate_ = config.client_validation->require_client_certificate;
    for (const auto& bundle : config.client_validation->trust_bundles) {
      std::string store_error;
      X509StorePtr bundle_store = loadStore(resolvePath(base_dir, bundle.ca), store_error);
      if (bundle_store == nullptr) {
        error = where + "trust domain " + bundle.trust_domain + ": " + store_error;
        return nullptr;
      }
      context->trust_.push_back(TrustDomain{bundle.trust_domain, std::move(bundle_store)});
    }
  }
  std::vector<std::vector<std::string>> names;
  for (const auto& certificate : config.certificates) {
    if (!context->addCertificate(certificate, config, base_dir, where, error)) {
      return nullptr;
    }
    names.push_back(certificate.server_names);
  }
  if (context->contexts_.empty()) {
    error = where + "no certificate";
    return nullptr;
  }
  context->selector_ = std::make_unique<CertificateSelector>(names);

  // The fallback's SSL_CTX starts every connection, so it holds the session cache and keys.
  SSL_CTX* initial = context->contexts_[context->selector_->fallback()].get();
  std::array<unsigned char, 80> keys;
  if (!ticketKeysFor(listener_name, keys) ||
      SSL_CTX_set_tlsext_ticket_keys(initial, keys.data(), static_cast<long>(keys.size())) != 1) {
    error = where + "session ticket keys: " + drainErrors();
    return nullptr;
  }

  const stats::Labels labels{{"listener", listener_name}};
  context->stats_.handshakes = store.counter(
      "strait_dp_tls_handshakes_total", "Downstream TLS handshakes completed.", labels);
  context->stats_.resumed = store.counter("strait_dp_tls_handshakes_resumed_total",
                                          "Downstream TLS handshakes that resumed a session.",
                                          labels);
  for (size_t i = 0; i < kHandshakeFailureCount; i++) {
    stats::Labels with_reason = labels;
    with_reason.emplace_back("reason", handshakeFailureName(static_cast<HandshakeFailure>(i)));
    context->stats_.failures[i] =
        store.counter("strait_dp_tls_handshake_failures_total",
                      "Downstream TLS handshakes that failed, by reason.", with_reason);
  }
  return context;
}

bool ServerContext::addCertificate(const config::TlsCertificate& certificate,
                                   const config::ListenerTls& config, const std::string& base_dir,
                                   const std::string& where, std::string& error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) {
    error = where + drainErrors();
    return false;
  }
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_NO_COMPRESSION);
  // An idle keep-alive connection gives its record buffers back (about 34 KiB each).
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  const std::string cert_path = resolvePath(base_dir, certificate.cert);
  const std::string key_path = resolvePath(base_dir, certificate.key);
  if (SSL_CTX_use_certificate_chain_file(c, cert_path.c_str()) != 1) {
    error = where + "cert " + cert_path + ": " + drainErrors();
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(c, key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    error = where + "key " + key_path + ": " + drainErrors();
    return false;
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    error = where + "key " + key_path + " does not match cert " + cert_path;
    ERR_clear_error();
    return false;
  }
  // Sessions: a server-side cache (TLS 1.2 session IDs, TLS 1.3 stateful resumption) and
  // stateless tickets. The id context ties sessions to this listener's verification settings
  // (OpenSSL refuses to resume a verified session without one).
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(c, kSessionCacheSize);
  SSL_CTX_set_timeout(c, kSessionTimeoutSeconds);
  static constexpr unsigned char kSessionIdContext[] = "strait";
  SSL_CTX_set_session_id_context(c, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  SSL_CTX_set_tlsext_servername_callback(c, &ServerContext::selectCertificate);
  SSL_CTX_set_tlsext_servername_arg(c, this);
  if (!config.alpn.empty()) {
    SSL_CTX_set_alpn_select_cb(c, &ServerContext::selectAlpn, this);
  }
  if (!trust_.empty()) {
    int mode = SSL_VERIFY_PEER;
    if (require_client_certificate_) {
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(c, mode, nullptr);
    SSL_CTX_set_cert_verify_callback(c, &ServerContext::verifyClientChain, this);
  }
  X509* leaf = SSL_CTX_get0_certificate(c);
  std::string principal;
  for (const auto& uri : uriSans(leaf)) {
    if (parseSpiffeId(uri)) {
      principal = uri;
      break;
    }
  }
  local_principals_.push_back(std::move(principal));
  contexts_.push_back(std::move(ctx));
  return true;
}

SslPtr ServerContext::newSsl(HandshakeInfo& info) const {
  info.certificate = selector_->fallback();
  SslPtr ssl(SSL_new(contexts_[info.certificate].get()));
  if (ssl != nullptr) {
    SSL_set_app_data(ssl.get(), &info);
    SSL_set_accept_state(ssl.get());
  }
  return ssl;
}

const std::string& ServerContext::localPrincipal(size_t index) const {
  static const std::string kNone;
  return index < local_principals_.size() ? local_principals_[index] : kNone;
}

const X509_STORE* ServerContext::trustStore(const std::string& trust_domain) const {
  for (const auto& domain : trust_) {
    if (domain.name == trust_domain) {
      return domain.store.get();
    }
  }
  return nullptr;
}

int ServerContext::selectCertificate(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) {
    return SSL_TLSEXT_ERR_OK;  // no SNI: the fallback it started with
  }
  size_t index = self->selector_->select(name);
  auto* info = static_cast<HandshakeInfo*>(SSL_get_app_data(ssl));
  if (info != nullptr) {
    info->certificate = index;
  }
  SSL_CTX* chosen = self->contexts_[index].get();
  if (SSL_get_SSL_CTX(ssl) != chosen) {
    SSL_set_SSL_CTX(ssl, chosen);
  }
  return SSL_TLSEXT_ERR_OK;
}

int ServerContext::selectAlpn(SSL*, const unsigned char** out, unsigned char* outlen,
                              const unsigned char* in, unsigned int inlen, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  for (const std::string& wanted : self->alpn_preference_) {
    unsigned int i = 0;
    while (i < inlen) {
      unsigned int len = in[i];
      if (i + 1 + len > inlen) {
        break;
      }
      if (len == wanted.size() && std::memcmp(in + i + 1, wanted.data(), len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;  // no protocol in common: go on without ALPN (HTTP/1.1)
}

int ServerContext::verifyClientChain(X509_STORE_CTX* store_ctx, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* info = ssl != nullptr ? static_cast<HandshakeInfo*>(SSL_get_app_data(ssl)) : nullptr;
  auto fail = [&](int x509_error, HandshakeFailure reason, std::string detail) {
    X509_STORE_CTX_set_error(store_ctx, x509_error);
    if (info != nullptr) {
      info->verify_failed = true;
      info->verify_reason = reason;
      info->verify_detail = std::move(detail);
    }
    return 0;
  };
  X509* leaf = X509_STORE_CTX_get0_cert(store_ctx);
  if (leaf == nullptr) {
    return fail(X509_V_ERR_UNSPECIFIED, HandshakeFailure::NoClientCert, "no client certificate");
  }
  std::vector<std::string> uris = uriSans(leaf);
  if (uris.size() != 1) {
    return fail(X509_V_ERR_APPLICATION_VERIFICATION, HandshakeFailure::BadClientCert,
                uris.empty() ? "no URI SAN" : "more than one URI SAN");
  }
  std::string why;
  auto id = parseSpiffeId(uris[0], &why);
  if (!id) {
    return fail(X509_V_ERR_APPLICATION_VERIFICATION, HandshakeFailure::BadClientCert,
                "URI SAN " + uris[0] + " is not a SPIFFE ID: " + why);
  }
  const X509_STORE* store = self->trustStore(id->trust_domain);
  if (store == nullptr) {
    return fail(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, HandshakeFailure::UnknownCa,
                "no trust bundle for trust domain " + id->trust_domain);
  }
  // Verify against that trust domain's bundle only, with the chain the peer sent.
  X509StoreCtxPtr verify(X509_STORE_CTX_new());
  if (verify == nullptr ||
      X509_STORE_CTX_init(verify.get(), const_cast<X509_STORE*>(store), leaf,
                          X509_STORE_CTX_get0_untrusted(store_ctx)) != 1) {
    return fail(X509_V_ERR_OUT_OF_MEM, HandshakeFailure::Other, "cannot verify: out of memory");
  }
  X509_STORE_CTX_set_purpose(verify.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(verify.get()) != 1) {
    int err = X509_STORE_CTX_get_error(verify.get());
    return fail(err,
                unknownCaError(err) ? HandshakeFailure::UnknownCa
                                    : HandshakeFailure::BadClientCert,
                std::string(X509_verify_cert_error_string(err)) + " (trust domain " +
                    id->trust_domain + ")");
  }
  // The SSL client purpose accepts keyAgreement without digitalSignature; a workload
  // certificate must be able to sign.
  uint32_t key_usage = X509_get_key_usage(leaf);
  if (key_usage != UINT32_MAX && (key_usage & KU_DIGITAL_SIGNATURE) == 0) {
    return fail(X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE, HandshakeFailure::BadClientCert,
                "key usage without digitalSignature");
  }
  uint32_t extended = X509_get_extended_key_usage(leaf);
  if (extended != UINT32_MAX && (extended & XKU_SSL_CLIENT) == 0) {
    return fail(X509_V_ERR_INVALID_PURPOSE, HandshakeFailure::BadClientCert,
                "extended key usage without clientAuth");
  }
  X509_STORE_CTX_set_error(store_ctx, X509_V_OK);
  if (info != nullptr) {
    info->peer_principal = id->uri;
  }
  return 1;
}

HandshakeFailure ServerContext::classify(unsigned long error, const HandshakeInfo& info) {
  if (info.verify_failed) {
    return info.verify_reason;
  }
  if (ERR_GET_LIB(error) != ERR_LIB_SSL) {
    return HandshakeFailure::Other;
  }
  switch (ERR_GET_REASON(error)) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return HandshakeFailure::NoClientCert;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
      return HandshakeFailure::NoSharedCipher;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
      return HandshakeFailure::ProtocolVersion;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return HandshakeFailure::BadClientCert;
    default:
      return HandshakeFailure::Other;
  }
}

// ---- ClientContext --------------------------------------------------------------------------

std::shared_ptr<const ClientContext> ClientContext::create(const config::ClusterTls& config,
                                                           const std::string& base_dir,
                                                           std::string& error, bool http2) {
  std::shared_ptr<ClientContext> context(new ClientContext());
  ERR_clear_error();
  context->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* c = context->ctx_.get();
  if (c == nullptr) {
    error = drainErrors();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (!config.ca.empty()) {
    const std::string ca = resolvePath(base_dir, config.ca);
    if (SSL_CTX_load_verify_file(c, ca.c_str()) != 1) {
      error = "ca " + ca + ": " + drainErrors();
      return nullptr;
    }
  } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
    error = "system trust store: " + drainErrors();
    return nullptr;
  }
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  if (!config.cert.empty()) {
    const std::string cert = resolvePath(base_dir, config.cert);
    const std::string key = resolvePath(base_dir, config.key);
    if (SSL_CTX_use_certificate_chain_file(c, cert.c_str()) != 1) {
      error = "cert " + cert + ": " + drainErrors();
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      error = "key " + key + ": " + drainErrors();
      return nullptr;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
      ERR_clear_error();
      error = "key " + key + " does not match cert " + cert;
      return nullptr;
    }
  }
  // ALPN offers the one protocol the cluster speaks.
  static constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  static constexpr unsigned char kAlpnH2[] = {2, 'h', '2'};
  if (http2) {
    SSL_CTX_set_alpn_protos(c, kAlpnH2, sizeof(kAlpnH2));
  } else {
    SSL_CTX_set_alpn_protos(c, kAlpnHttp11, sizeof(kAlpnHttp11));
  }
  context->sni_ = config.sni;
  return context;
}

SslPtr ClientContext::newSsl(const std::string& address) const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (ssl == nullptr) {
    return nullptr;
  }
  SSL_set_connect_state(ssl.get());
  const std::string& name = sni_.empty() ? address : sni_;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1) {
    return ssl;  // an IP address: checked against IP SANs; SNI does not carry addresses
  }
  ERR_clear_error();
  SSL_set_tlsext_host_name(ssl.get(), name.c_str());
  SSL_set1_host(ssl.get(), name.c_str());
  return ssl;
}

}  // namespace strait::tls
