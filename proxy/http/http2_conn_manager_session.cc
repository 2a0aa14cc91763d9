// Http2ConnectionManager's nghttp2 server session: its creation and options, the callbacks that
// hand nghttp2's events to the manager, the SETTINGS it opens with, and the two pumps: received
// bytes into nghttp2 (mem_recv), frames out of it into the connection (mem_send), and GOAWAY.

#include "proxy/http/http2_conn_manager.h"

#include <nghttp2/nghttp2.h>

#include "proxy/http/http2_flow_control.h"

namespace strait::http {

namespace {

Http2ConnectionManager& managerOf(void* user_data) {
  return *static_cast<Http2ConnectionManager*>(user_data);
}

bool isTrailers(const nghttp2_frame* frame) {
  return frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_HEADERS;
}

int onBeginHeadersCb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  return managerOf(user_data).onBeginHeaders(frame->hd.stream_id);
}

int onHeaderCb(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
               const uint8_t* value, size_t valuelen, uint8_t, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  return managerOf(user_data).onHeader(
      frame->hd.stream_id, isTrailers(frame),
      std::string_view(reinterpret_cast<const char*>(name), namelen),
      std::string_view(reinterpret_cast<const char*>(value), valuelen));
}

int onFrameRecvCb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  return managerOf(user_data).onFrameRecv(frame->hd.stream_id, frame->hd.type, frame->hd.flags,
                                          isTrailers(frame));
}

int onDataChunkCb(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                  void* user_data) {
  return managerOf(user_data).onDataChunk(stream_id, data, len);
}

int onFrameSendCb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  return managerOf(user_data).onFrameSend(frame->hd.stream_id, frame->hd.type, frame->hd.flags);
}

int onStreamCloseCb(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user_data) {
  return managerOf(user_data).onStreamClose(stream_id, error_code);
}

}  // namespace

nghttp2_session* Http2ConnectionManager::newServerSession(Http2ConnectionManager* manager) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeadersCb);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeaderCb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecvCb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunkCb);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSendCb);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamCloseCb);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // Windows are given back only as the request body moves on (flow control, see the header).
  nghttp2_option_set_no_auto_window_update(option, 1);
  // nghttp2's flood protections stay on at their defaults: at most 1000 queued SETTINGS/PING
  // ACKs (NGHTTP2_ERR_FLOODED ends the connection), at most 32 entries per SETTINGS frame,
  // incoming RST_STREAMs rate-limited to a burst of 1000 and 33/s (rapid reset, CVE-2023-44487),
  // at most 8 CONTINUATION frames per header block (CVE-2024-28182), and HTTP messaging checks
  // (malformed or connection-specific headers, content-length mismatches: PROTOCOL_ERROR).
  nghttp2_session* session = nullptr;
  nghttp2_session_server_new2(&session, callbacks, manager, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  return session;
}

void Http2ConnectionManager::SessionDeleter::operator()(nghttp2_session* session) const {
  nghttp2_session_del(session);
}

void Http2ConnectionManager::submitSettings() {
  const auto& http = listener_->config.http;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, http.http2.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, http.http2.initial_stream_window_kb * 1024},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, http.max_request_headers_kb * 1024},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  nghttp2_submit_settings(session_.get(), NGHTTP2_FLAG_NONE, settings,
                          sizeof(settings) / sizeof(settings[0]));
  nghttp2_session_set_local_window_size(
      session_.get(), NGHTTP2_FLAG_NONE, 0,
      static_cast<int32_t>(http.http2.initial_connection_window_kb * 1024));
}

void Http2ConnectionManager::onData(const char* data, size_t len) {
  if (closed_) {
    return;
  }
  in_nghttp2_ = true;
  ssize_t rc = nghttp2_session_mem_recv(session_.get(), reinterpret_cast<const uint8_t*>(data),
                                        len);
  in_nghttp2_ = false;
  if (rc < 0) {
    // A connection error nghttp2 could not answer with GOAWAY itself (e.g. a bad preface or a
    // flood): nothing more can be said on this connection.
    close(network::CloseType::FlushWrite);
    return;
  }
  syncHeadersTimer();
  sendPending();
}

void Http2ConnectionManager::scheduleSend() {
  if (send_scheduled_ || closed_) {
    return;
  }
  send_scheduled_ = true;
  worker_.dispatcher.flushAtEndOfIteration(this);
}

void Http2ConnectionManager::onEndOfIteration() {
  send_scheduled_ = false;
  sendPending();
}

void Http2ConnectionManager::sendPending() {
  if (closed_) {
    return;
  }
  if (in_nghttp2_) {
    send_wanted_ = true;
    return;
  }
  in_nghttp2_ = true;
  for (;;) {
    send_wanted_ = false;
    buffer::Buffer out;
    http2::FramesTaken taken =
        http2::takeFrames(session_.get(), out, [this](const buffer::Buffer& taken_so_far) {
          return connection_->bufferedBytes() + taken_so_far.length() <= kConnectionWriteLimit;
        });
    if (taken == http2::FramesTaken::Failed) {
      in_nghttp2_ = false;
      close(network::CloseType::NoFlush);
      return;
    }
    // Full resumes from onBelowWriteBufferLowWatermark().
    const bool full = taken == http2::FramesTaken::Full;
    if (!out.empty()) {
      connection_->write(out);
    }
    if (closed_) {
      in_nghttp2_ = false;
      return;
    }
    // Callbacks during mem_send may have asked for more; the socket may have taken everything.
    if (!(send_wanted_ || (full && connection_->bufferedBytes() <= kConnectionWriteLimit))) {
      break;
    }
  }
  in_nghttp2_ = false;
  maybeClose();
}

void Http2ConnectionManager::startDrain() {
  if (draining_ || closed_) {
    return;
  }
  draining_ = true;
  nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_.get()),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  sendPending();
}

}  // namespace strait::http
