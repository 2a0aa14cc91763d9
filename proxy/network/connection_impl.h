#pragma once

// Connection over a libuv TCP handle.
//
// Reads land in one 64 KiB buffer per thread (libuv calls alloc and read back to back, so one
// scratch buffer serves every connection of the loop): an idle connection owns no read memory.
// Writes try the socket directly (uv_try_write with an iovec of the buffer's slices) and queue a
// uv_write only for what the socket did not take, one write request in flight at a time.
//
// The uv handle, its requests and the bytes in flight live in a separately allocated "Socket"
// freed in the handle's close callback, so the Connection object can be destroyed at any time
// after close() while libuv still finishes with the handle.

#include <uv.h>

#include <sys/socket.h>

#include "proxy/event/dispatcher_impl.h"
#include "strait/network/connection.h"

namespace strait::network {

class ConnectionImpl : public Connection {
 public:
  // Server side: wraps an accepted handle (ownership passes to the connection).
  ConnectionImpl(event::DispatcherImpl& dispatcher, uv_tcp_t* accepted);
  // Client side: connect() must follow.
  explicit ConnectionImpl(event::DispatcherImpl& dispatcher);
  ~ConnectionImpl() override;

  void connect(const sockaddr* address);
  // Takes ownership of itself: a connection still flushing and lingering after
  // close(FlushWrite) finishes on its own and is deleted once closed; any other is closed now.
  void releaseWhenClosed(std::unique_ptr<ConnectionImpl> self);

  // Connection
  void setCallbacks(ConnectionCallbacks& callbacks) override { callbacks_ = &callbacks; }
  void write(buffer::Buffer& data) override;
  void readDisable(bool disable) override;
  bool readEnabled() const override { return read_disable_count_ == 0; }
  void close(CloseType type) override;
  State state() const override { return state_; }
  size_t bufferedBytes() const override;
  void setWriteBufferLimits(size_t high_watermark) override { high_watermark_ = high_watermark; }
  const std::string& remoteAddress() const override { return remote_address_; }
  const std::string& remoteAddressAndPort() const override { return remote_address_port_; }
  const std::string& failureReason() const override { return failure_reason_; }
  uint64_t id() const override { return id_; }
  uint64_t bytesReceived() const override { return bytes_received_; }
  uint64_t bytesSent() const override { return bytes_sent_; }

 private:
  struct Socket;
  friend uv_tcp_t* allocateAcceptHandle(uv_loop_t* loop);
  friend void freeAcceptHandle(uv_tcp_t* handle);

  void initSocket();
  void startReading();
  void stopReading();
  void flush();
  void onWriteComplete(int status);
  void onRead(ssize_t nread, const char* data);
  void onConnect(int status);
  void closeSocket(bool reset);
  void finishFlushClose();
  void checkLowWatermark();
  void resolvePeer();

  event::DispatcherImpl& dispatcher_;
  Socket* socket_ = nullptr;
  ConnectionCallbacks* callbacks_ = nullptr;
  buffer::Buffer pending_;
  State state_ = State::Open;
  uint32_t read_disable_count_ = 0;
  bool reading_ = false;
  bool flush_close_ = false;     // close once pending_ and in-flight bytes are written
  bool lingering_ = false;       // write side shut down, discarding reads until EOF or timeout
  bool above_high_watermark_ = false;
  size_t high_watermark_ = 1024 * 1024;
  event::TimerPtr linger_timer_;
  std::unique_ptr<ConnectionImpl> self_owned_;
  std::string remote_address_;
  std::string remote_address_port_;
  std::string failure_reason_;
  uint64_t id_;
  uint64_t bytes_received_ = 0;
  uint64_t bytes_sent_ = 0;
};

// An uninitialised-but-ready handle for uv_accept(), adoptable by the server-side constructor.
uv_tcp_t* allocateAcceptHandle(uv_loop_t* loop);
// Releases a handle from allocateAcceptHandle() that was never adopted (uv_accept failed).
void freeAcceptHandle(uv_tcp_t* handle);

// Releases a connection its owner no longer wants (see ConnectionImpl::releaseWhenClosed).
void releaseConnection(ConnectionPtr connection);

// Formats a socket address as ("1.2.3.4", "1.2.3.4:80"); IPv6 as ("::1", "[::1]:80").
void formatAddress(const sockaddr_storage& addr, std::string& host, std::string& host_port);

}  // namespace strait::network
