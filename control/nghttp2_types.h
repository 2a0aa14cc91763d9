#pragma once

// Owning pointers for nghttp2 objects, so no error path can leak one.

#include <nghttp2/nghttp2.h>

#include <memory>

namespace strait::cp::http {

template <auto Free>
struct Nghttp2Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using Nghttp2SessionPtr = std::unique_ptr<nghttp2_session, Nghttp2Deleter<nghttp2_session_del>>;
using Nghttp2CallbacksPtr =
    std::unique_ptr<nghttp2_session_callbacks, Nghttp2Deleter<nghttp2_session_callbacks_del>>;

}  // namespace strait::cp::http
