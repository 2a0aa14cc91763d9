#pragma once

// The process-wide access log writer: one thread that owns the log file and does every
// write(2), so that a slow or stalled disk never stalls a worker.
//
// Workers hand it whole lines through submit(): a short critical section that appends the line
// to a bounded in-memory batch (a memcpy into capacity reserved up front, no allocation) and
// wakes the thread only when the batch was empty. The thread swaps the batch for its own (double
// buffering, both reserved once) and writes it with as few write(2) calls as the kernel allows.
// When the batch is full (the disk is not keeping up) the line is dropped and counted; a worker
// never waits for the disk.
//
// Lines are never torn: a batch is written whole to one file, and a file switch (reopen after
// rotation, a new path on reload) takes effect at a line boundary: every line submitted before
// the switch goes to the old file, every line after it to the new one.
//
// Thread safety: submit() from any thread; open(), reopen(), close() and the counters from any
// thread (the server calls them on the main thread). The destructor writes what is queued, then
// joins the thread; a caller that cannot wait for a stuck file (a pipe nobody reads) calls
// flush() with a deadline first and, if it fails, leaks the Writer instead of destroying it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace strait::accesslog {

class Writer {
 public:
  static constexpr size_t kDefaultQueueBytes = 4 * 1024 * 1024;

  explicit Writer(size_t queue_bytes = kDefaultQueueBytes);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Opens `path` (O_WRONLY|O_APPEND|O_CREAT, 0644, never truncated) on the calling thread, so a
  // bad path is reported to the caller, and switches to it. On failure the current file stays.
  bool open(const std::string& path, std::string& error);
  // Log rotation: opens the current path again (a fresh file after `mv`) and switches to it. A
  // no-op when the current file is not a regular file (/dev/stdout, a pipe) or none is open.
  bool reopen(std::string& error);
  // Stops logging to a file: lines queued so far are still written, later ones are discarded.
  void close();
  const std::string& path() const { return path_; }

  // Queues one whole line (with its '\n'). False when it was dropped (queue full).
  bool submit(std::string_view line);

  // Blocks until every line submitted before the call has been written (tests, shutdown), or
  // until `timeout` has passed; false then.
  bool flush(std::chrono::milliseconds timeout = std::chrono::hours(24));

  uint64_t writtenLines() const { return written_lines_.load(std::memory_order_relaxed); }
  uint64_t writtenBytes() const { return written_bytes_.load(std::memory_order_relaxed); }
  uint64_t droppedLines() const { return dropped_lines_.load(std::memory_order_relaxed); }
  uint64_t writeErrors() const { return write_errors_.load(std::memory_order_relaxed); }
  uint64_t reopens() const { return reopens_.load(std::memory_order_relaxed); }

 private:
  void run();
  // Hands `fd` (or -1: no file) to the thread, effective after the bytes queued so far.
  void switchTo(int fd);
  void writeAll(int fd, const char* data, size_t len, uint64_t lines);

  const size_t capacity_;
  std::mutex lock_;
  std::condition_variable wake_;  // the thread: work to do
  std::condition_variable idle_;  // flush() and switchTo(): a batch was taken or written
  // Guarded by lock_.
  std::string pending_;
  uint64_t pending_lines_ = 0;
  bool switch_pending_ = false;
  size_t switch_at_ = 0;  // bytes of pending_ that go to the old file
  uint64_t switch_lines_ = 0;
  int next_fd_ = -1;
  bool busy_ = false;  // the thread is writing a batch it took
  bool stop_ = false;
  // Main-thread side (open/reopen/close are serialised by open_lock_).
  std::mutex open_lock_;
  std::string path_;
  bool regular_ = false;
  bool has_file_ = false;
  // The thread's own.
  std::string writing_;
  int fd_ = -1;

  std::atomic<uint64_t> written_lines_{0};
  std::atomic<uint64_t> written_bytes_{0};
  std::atomic<uint64_t> dropped_lines_{0};
  std::atomic<uint64_t> write_errors_{0};
  std::atomic<uint64_t> reopens_{0};
  std::thread thread_;
};

}  // namespace strait::accesslog
