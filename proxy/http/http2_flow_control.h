#pragma once

// Flow control through an nghttp2 session, shared by the downstream connection manager and the
// upstream pool: the DATA a stream receives (request bodies, response bodies), and the frames a
// connection takes out of its session to write. Both sessions run with nghttp2's automatic
// WINDOW_UPDATEs off, so a received byte is given back to the windows only when it is consumed
// here.

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "strait/buffer/buffer.h"

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

// Why takeFrames() stopped.
enum class FramesTaken : uint8_t {
  All,     // the session has nothing more to send for now
  Full,    // `has_room` said no: the rest waits for the connection to drain
  Failed,  // nghttp2 failed: the session is unusable and the connection must close
};

// Appends the frames `session` has ready (nghttp2_session_mem_send) to `out`, asking
// `has_room(out)` before each one, so that frames are produced only while the connection can
// take them. On Failed, `out` holds frames that must not be written.
template <typename HasRoom>
FramesTaken takeFrames(nghttp2_session* session, buffer::Buffer& out, HasRoom&& has_room) {
  for (;;) {
    if (!has_room(std::as_const(out))) {
      return FramesTaken::Full;
    }
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session, &data);
    if (n < 0) {
      return FramesTaken::Failed;
    }
    if (n == 0) {
      return FramesTaken::All;
    }
    out.add(data, static_cast<size_t>(n));
  }
}

// Every frame `session` has ready, however many bytes: All or Failed.
inline FramesTaken takeFrames(nghttp2_session* session, buffer::Buffer& out) {
  return takeFrames(session, out, [](const buffer::Buffer&) { return true; });
}

}  // namespace strait::http::http2
