#pragma once

// Clients for the HTTP server tests: a shell command (curl, openssl, python) run to completion
// or read line by line as it runs, and a plain TCP socket for bytes no well-behaved client sends.
// Every read has a deadline, so a server that fails to answer fails the test instead of hanging
// it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace strait::cp::test {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout
};

inline CommandResult runCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return result;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) {
    result.output.append(buf, n);
  }
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// A command whose output is read a line at a time while it runs. The command itself must be
// bounded in time (curl --max-time) since a read blocks until a line or the end arrives.
class RunningCommand {
 public:
  explicit RunningCommand(const std::string& command) : pipe_(popen(command.c_str(), "r")) {}
  ~RunningCommand() { wait(); }
  RunningCommand(const RunningCommand&) = delete;
  RunningCommand& operator=(const RunningCommand&) = delete;

  // The next line without its newline; empty at the end of the output.
  std::string readLine() {
    std::string line;
    if (pipe_ == nullptr) {
      return line;
    }
    int c;
    while ((c = fgetc(pipe_)) != EOF && c != '\n') {
      line.push_back(static_cast<char>(c));
    }
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    return line;
  }

  // The exit code once the command ends.
  int wait() {
    if (pipe_ != nullptr) {
      int status = pclose(pipe_);
      pipe_ = nullptr;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    return exit_code_;
  }

 private:
  FILE* pipe_;
  int exit_code_ = -1;
};

// A blocking TCP client to 127.0.0.1 with deadlines on every read.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }

  bool send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads until `needle` has arrived, the peer closes, or the deadline passes; returns all that
  // was read so far (kept for the next call too).
  std::string readUntil(const std::string& needle,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (received_.find(needle) == std::string::npos && !eof_ && readSome(deadline)) {
    }
    return received_;
  }

  // Reads until the peer closes the connection; false if the deadline passes first.
  bool readUntilClosed(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_ && readSome(deadline)) {
    }
    return eof_;
  }

  const std::string& received() const { return received_; }

  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  bool readSome(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return false;
    }
    char buf[16384];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      eof_ = true;  // closed or reset: either way the server is done with us
      return false;
    }
    received_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  bool connected_ = false;
  bool eof_ = false;
  std::string received_;
};

}  // namespace strait::cp::test
