#include "proxy/accesslog/writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace strait::accesslog {

Writer::Writer(size_t queue_bytes) : capacity_(queue_bytes) {
  // Both halves of the double buffer are sized once; a swap exchanges their storage, so the
  // steady state never allocates.
  pending_.reserve(capacity_);
  writing_.reserve(capacity_);
  thread_ = std::thread([this]() { run(); });
}

Writer::~Writer() {
  {
    std::lock_guard<std::mutex> guard(lock_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

bool Writer::open(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  std::lock_guard<std::mutex> guard(open_lock_);
  path_ = path;
  regular_ = regular;
  has_file_ = true;
  switchTo(fd);
  return true;
}

bool Writer::reopen(std::string& error) {
  std::lock_guard<std::mutex> guard(open_lock_);
  if (!has_file_ || !regular_) {
    return true;  // a terminal or a pipe is not rotated; keep writing to it
  }
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = path_ + ": " + std::strerror(errno);
    return false;
  }
  reopens_.fetch_add(1, std::memory_order_relaxed);
  switchTo(fd);
  return true;
}

void Writer::close() {
  std::lock_guard<std::mutex> guard(open_lock_);
  if (!has_file_) {
    return;
  }
  has_file_ = false;
  regular_ = false;
  path_.clear();
  switchTo(-1);
}

void Writer::switchTo(int fd) {
  std::unique_lock<std::mutex> lock(lock_);
  // One switch at a time: the bytes between two switches belong to the file in between.
  idle_.wait(lock, [&]() { return !switch_pending_; });
  switch_pending_ = true;
  switch_at_ = pending_.size();
  switch_lines_ = pending_lines_;
  next_fd_ = fd;
  lock.unlock();
  wake_.notify_one();
}

bool Writer::submit(std::string_view line) {
  bool wake;
  {
    std::lock_guard<std::mutex> guard(lock_);
    if (pending_.size() + line.size() > capacity_) {
      dropped_lines_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    // The thread is woken for the first line of a batch only; later lines join the batch it
    // will take when it is done with the one it is writing.
    wake = pending_.empty() && !switch_pending_;
    pending_.append(line);
    pending_lines_++;
  }
  if (wake) {
    wake_.notify_one();
  }
  return true;
}

bool Writer::flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(lock_);
  return idle_.wait_for(lock, timeout,
                        [&]() { return pending_.empty() && !switch_pending_ && !busy_; });
}

void Writer::writeAll(int fd, const char* data, size_t len, uint64_t lines) {
  if (len == 0) {
    return;
  }
  if (fd < 0) {
    dropped_lines_.fetch_add(lines, std::memory_order_relaxed);  // no file configured
    return;
  }
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      // A full disk or a closed pipe: the rest of the batch is lost; say so in the counters.
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      dropped_lines_.fetch_add(lines, std::memory_order_relaxed);
      written_bytes_.fetch_add(done, std::memory_order_relaxed);
      return;
    }
    done += static_cast<size_t>(n);
  }
  written_bytes_.fetch_add(len, std::memory_order_relaxed);
  written_lines_.fetch_add(lines, std::memory_order_relaxed);
}

void Writer::run() {
  std::unique_lock<std::mutex> lock(lock_);
  while (true) {
    wake_.wait(lock, [&]() { return stop_ || !pending_.empty() || switch_pending_; });
    if (pending_.empty() && !switch_pending_) {
      break;  // stopping with nothing left to write
    }
    bool switching = switch_pending_;
    size_t switch_at = switch_at_;
    uint64_t switch_lines = switch_lines_;
    int next_fd = next_fd_;
    uint64_t lines = pending_lines_;
    switch_pending_ = false;
    next_fd_ = -1;
    pending_lines_ = 0;
    writing_.swap(pending_);
    busy_ = true;
    lock.unlock();
    idle_.notify_all();  // a waiting switchTo() may queue its switch now

    if (switching) {
      writeAll(fd_, writing_.data(), switch_at, switch_lines);
      if (fd_ >= 0) {
        ::close(fd_);
      }
      fd_ = next_fd;
      writeAll(fd_, writing_.data() + switch_at, writing_.size() - switch_at, lines - switch_lines);
    } else {
      writeAll(fd_, writing_.data(), writing_.size(), lines);
    }
    writing_.clear();

    lock.lock();
    busy_ = false;
    idle_.notify_all();
  }
}

}  // namespace strait::accesslog
