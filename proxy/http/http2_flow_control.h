#pragma once

// Flow control for the DATA one HTTP/2 stream receives, shared by the downstream connection
// manager (request bodies) and the upstream pool (response bodies). Both sessions run with
// nghttp2's automatic WINDOW_UPDATEs off, so a received byte is given back to the windows only
// when it is consumed here.

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>

namespace strait::http::http2 {

// Gives received DATA back to the stream's and the connection's windows as it is handed on,
// except while the stream's reader has paused: then the bytes are held against the window and
// given back when reading resumes. So the peer never has more than the stream window in flight.
class InboundFlowControl {
 public:
  // `len` bytes of DATA arrived on stream `id`. Bytes that no reader takes (`has_reader` false:
  // they are dropped) cost no memory and are given back at once, paused or not.
  void onData(nghttp2_session* session, int32_t id, size_t len, bool has_reader) {
    if (!has_reader || read_disables_ == 0) {
      nghttp2_session_consume(session, id, len);
    } else {
      unconsumed_ += len;
    }
  }

  // Pauses (`disable`) or resumes reading; pauses nest, and an unmatched resume is ignored.
  // Returns true when the last resume gave held bytes back: a WINDOW_UPDATE waits to be sent.
  // (Bytes are held only once DATA arrived, so only on a stream that has its id.)
  bool readDisable(nghttp2_session* session, int32_t id, bool disable) {
    if (disable) {
      read_disables_++;
      return false;
    }
    if (read_disables_ == 0) {
      return false;
    }
    if (--read_disables_ == 0 && unconsumed_ > 0) {
      nghttp2_session_consume(session, id, unconsumed_);
      unconsumed_ = 0;
      return true;
    }
    return false;
  }

 private:
  uint32_t read_disables_ = 0;
  size_t unconsumed_ = 0;  // received but not yet given back to the windows
};

}  // namespace strait::http::http2
