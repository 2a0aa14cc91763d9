#pragma once

// Owning pointers for OpenSSL objects, so no error path can leak one.

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>

namespace strait::cp::http {

template <auto Free>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpenSslDeleter<SSL_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;

}  // namespace strait::cp::http
