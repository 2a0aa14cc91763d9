#pragma once

#include <llhttp.h>
#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "perf/loadgen/options.h"

namespace strait::loadgen {

// What became of one request.
enum class Outcome { Ok, Timeout, Error, Drop };

// Runs the schedule on one uv loop: a 1 ms ticker sends every request whose time has come,
// each on an idle keep-alive connection or a new one (up to --connections), and every request
// ends as one CSV line. Time is uv_hrtime, not uv_now, so offsets have sub-millisecond
// resolution even when the loop is busy.
class Generator {
 public:
  Generator(Options options, FILE* out);
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // Runs every stage, waits for the answers (at most --timeout-ms after the last send) and
  // returns 0; the summary goes to stderr.
  int run();

 private:
  // One client connection; it carries at most one request at a time (no pipelining).
  struct Client {
    Generator* owner{nullptr};
    uv_tcp_t tcp{};
    uv_timer_t timer{};
    uv_connect_t connectReq{};
    uv_write_t writeReq{};
    llhttp_t parser{};
    int openHandles{0};
    bool connected{false};
    bool busy{false};
    bool closing{false};
    bool overloaded{false};
    bool matchingOverloadHeader{false};
    // The request in flight.
    uint64_t startNs{0};
    size_t mixIndex{0};
    size_t stage{0};
    char readBuffer[16384];
  };

  static void onTick(uv_timer_t* timer);
  static void onConnect(uv_connect_t* req, int status);
  static void onWrite(uv_write_t* req, int status);
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onTimeout(uv_timer_t* timer);
  static void onClose(uv_handle_t* handle);
  static int onHeaderField(llhttp_t* parser, const char* at, size_t length);
  static int onHeaderValue(llhttp_t* parser, const char* at, size_t length);
  static int onMessageComplete(llhttp_t* parser);
  static const llhttp_settings_t& parserSettings();

  double nextGapSeconds(double rate);
  // Moves nextArrival_ to the following arrival, across stage boundaries; at the end of the
  // last stage stops sending.
  void advance(bool first);
  void startRequest(size_t mixIndex, size_t stage, uint64_t startNs);
  Client* openClient();
  void send(Client* client);
  void finish(Client* client, int status, Outcome outcome);
  void closeClient(Client* client);
  void record(uint64_t startNs, uint64_t latencyNs, int status, size_t mixIndex, size_t stage,
              Outcome outcome, bool overloaded);
  void maybeStop(uint64_t nowNs);

  Options options_;
  FILE* out_;
  uv_loop_t loop_{};
  uv_timer_t ticker_{};
  sockaddr_in address_{};
  std::mt19937_64 engine_;
  std::discrete_distribution<size_t> pickClass_;
  std::vector<std::string> requests_;  // one prebuilt request per mix class
  std::vector<Client*> idle_;
  std::unordered_set<Client*> all_;
  uint64_t open_{0};
  uint64_t beginNs_{0};
  // The next arrival, as an offset from beginNs_, and the stage it falls in.
  double nextArrival_{0};
  size_t stage_{0};
  double stageEnd_{0};
  bool sending_{true};
  bool stopping_{false};
  uint64_t stopAtNs_{0};
  uint64_t inFlight_{0};
  // Summary counters.
  uint64_t sent_{0};
  uint64_t answered_{0};
  uint64_t timeouts_{0};
  uint64_t errors_{0};
  uint64_t drops_{0};
  uint64_t opened_{0};
};

}  // namespace strait::loadgen
