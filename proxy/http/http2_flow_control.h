#pragma once

// Flow control through an nghttp2 session, shared by the downstream connection manager and the
// upstream pool: the DATA a stream receives (request bodies, response bodies), and the frames a
// connection takes out of its session to write; and the body a stream sends. Both sessions run with nghttp2's automatic
// WINDOW_UPDATEs off, so a received byte is given back to the windows only when it is consumed
// here.

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "strait/buffer/buffer.h"

namespace strait::http::http2 {

// The send side of one stream's body: bytes queued until the peer's window lets nghttp2 take
// them (through the stream's data provider, which calls read()), whether the body has ended,
// and the marks that pause and resume whoever produces it: above `limit` queued bytes the queue
// is High, and Low again once nghttp2 has taken it down to half.
class OutboundBody {
 public:
  enum class Mark : uint8_t { None, High, Low };

  explicit OutboundBody(size_t limit) : limit_(limit) {}

  // Queues `data` (moved from); `end`: the body ends with it. High when the queue just went
  // over the limit.
  Mark add(buffer::Buffer& data, bool end) {
    queue_.move(data);
    end_ = end_ || end;
    if (!above_ && queue_.length() > limit_) {
      above_ = true;
      return Mark::High;
    }
    return Mark::None;
  }
  void add(std::string_view bytes, bool end) {
    queue_.add(bytes);
    end_ = end_ || end;
  }
  void setEnded(bool ended) { end_ = ended; }
  bool ended() const { return end_; }
  // Lets nghttp2 ask read() again for stream `id` (once it exists) after read() deferred.
  void resume(nghttp2_session* session, int32_t id) {
    if (deferred_ && id > 0) {
      deferred_ = false;
      nghttp2_session_resume_data(session, id);
    }
  }
  // The data provider's read callback: up to `length` queued bytes into `buf`, with
  // NGHTTP2_DATA_FLAG_EOF in `flags` once the queue is empty and the body ended; with nothing
  // to give and the body not ended, NGHTTP2_ERR_DEFERRED (resume() when more comes). `mark`:
  // Low when the queue just fell to half the limit.
  ssize_t read(uint8_t* buf, size_t length, uint32_t* flags, Mark& mark) {
    mark = Mark::None;
    size_t n = std::min(length, queue_.length());
    if (n > 0) {
      queue_.copyOut(n, buf);
      queue_.drain(n);
    }
    if (queue_.empty()) {
      if (end_) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (n == 0) {
        deferred_ = true;
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    if (above_ && queue_.length() <= limit_ / 2) {
      above_ = false;
      mark = Mark::Low;
    }
    return static_cast<ssize_t>(n);
  }

 private:
  buffer::Buffer queue_;
  const size_t limit_;
  bool end_ = false;
  bool deferred_ = false;
  bool above_ = false;
};

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
