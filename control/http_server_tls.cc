#include "control/http_server_tls.h"

#include <openssl/err.h>

namespace strait::cp::http {
namespace {

// ALPN wire format, in the server's order of preference.
constexpr unsigned char kAlpnProtocols[] = "\x02h2\x08http/1.1";

int selectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnProtocols, sizeof(kAlpnProtocols) - 1, in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    // No protocol in common: go on without ALPN, the connection then sniffs the preface.
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

std::string sslError(const std::string& what) {
  char buf[256] = {};
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  ERR_clear_error();
  return what + ": " + buf;
}

bool loadVerification(SSL_CTX* ctx, const std::string& ca_file, std::string& error) {
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    error = sslError("CA file " + ca_file);
    return false;
  }
  // Tells clients which CA their certificate must chain to.
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_file.c_str());
  if (names != nullptr) {
    SSL_CTX_set_client_CA_list(ctx, names);
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return true;
}

}  // namespace

SslCtxPtr makeServerContext(const HttpServerOptions& options, std::string& error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    error = sslError("SSL_CTX_new");
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), options.cert_file.c_str()) != 1) {
    error = sslError("certificate " + options.cert_file);
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), options.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    error = sslError("private key " + options.key_file);
    return nullptr;
  }
  if (!options.ca_file.empty() && !loadVerification(ctx.get(), options.ca_file, error)) {
    return nullptr;
  }
  SSL_CTX_set_alpn_select_cb(ctx.get(), &selectAlpn, nullptr);
  return ctx;
}

TlsSession::TlsSession(SSL_CTX* context)
    : ssl_(SSL_new(context)), in_(BIO_new(BIO_s_mem())), out_(BIO_new(BIO_s_mem())) {
  if (!ssl_ || in_ == nullptr || out_ == nullptr) {
    // Out of memory: receive() and encrypt() then fail and the connection closes.
    BIO_free(in_);
    BIO_free(out_);
    ssl_.reset();
    return;
  }
  SSL_set_bio(ssl_.get(), in_, out_);
  SSL_set_accept_state(ssl_.get());
}

bool TlsSession::receive(std::string_view ciphertext, std::string& plain, std::string& out) {
  if (!ssl_) {
    return false;
  }
  BIO_write(in_, ciphertext.data(), static_cast<int>(ciphertext.size()));
  if (!handshake_done_) {
    int rc = SSL_do_handshake(ssl_.get());
    drain(out);
    if (rc != 1) {
      int err = SSL_get_error(ssl_.get(), rc);
      ERR_clear_error();
      return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE;
    }
    handshake_done_ = true;
  }
  bool ok = readPlaintext(plain);
  drain(out);
  return ok;
}

bool TlsSession::readPlaintext(std::string& plain) {
  char buf[16 * 1024];
  for (;;) {
    int n = SSL_read(ssl_.get(), buf, sizeof(buf));
    if (n > 0) {
      plain.append(buf, static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_.get(), n);
    ERR_clear_error();
    return err == SSL_ERROR_WANT_READ;
  }
}

bool TlsSession::encrypt(std::string_view plain, std::string& out) {
  if (!ssl_) {
    return false;
  }
  if (!plain.empty() && SSL_write(ssl_.get(), plain.data(), static_cast<int>(plain.size())) <= 0) {
    ERR_clear_error();
    return false;
  }
  drain(out);
  return true;
}

void TlsSession::closeNotify(std::string& out) {
  if (handshake_done_) {
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
    drain(out);
  }
}

void TlsSession::drain(std::string& out) {
  char buf[16 * 1024];
  int n;
  while ((n = BIO_read(out_, buf, sizeof(buf))) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string TlsSession::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &len);
  if (data == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(data), len);
}

std::string TlsSession::peerUriSan() const {
  X509* cert = SSL_get0_peer_certificate(ssl_.get());
  if (cert == nullptr || SSL_get_verify_result(ssl_.get()) != X509_V_OK) {
    return {};
  }
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_URI) {
      const ASN1_STRING* uri = name->d.uniformResourceIdentifier;
      return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                         static_cast<size_t>(ASN1_STRING_length(uri)));
    }
  }
  return {};
}

}  // namespace strait::cp::http
