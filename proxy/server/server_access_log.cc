// The access log writer's place in the process: its counters, and the file a config names.

#include "proxy/server/server.h"

namespace strait::server {

void Server::registerAccessLogStats() {
  access_log_written_ =
      store_->counter("strait_dp_access_log_written_total", "Access log lines written.");
  access_log_written_bytes_ = store_->counter("strait_dp_access_log_written_bytes_total",
                                              "Access log bytes written.");
  access_log_dropped_ = store_->counter(
      "strait_dp_access_log_dropped_total",
      "Access log lines dropped: the writer's queue was full (the disk not keeping up), a write "
      "failed, or no file was open.");
  access_log_write_errors_ = store_->counter("strait_dp_access_log_write_errors_total",
                                             "Failed write(2) calls to the access log.");
  access_log_reopens_ = store_->counter("strait_dp_access_log_reopen_total",
                                        "Access log reopens (SIGUSR1, log rotation).");
}

// The writer thread keeps its counts in atomics; the main shard's slots for these counters are
// written by nobody else, so setting them to the writer's totals before a scrape is exact.
void Server::publishAccessLogStats() {
  auto publish = [this](stats::Counter c, uint64_t value) {
    store_->mainShard().set(stats::Gauge{c.slot}, static_cast<int64_t>(value));
  };
  publish(access_log_written_, access_log_->writtenLines());
  publish(access_log_written_bytes_, access_log_->writtenBytes());
  publish(access_log_dropped_, access_log_->droppedLines());
  publish(access_log_write_errors_, access_log_->writeErrors());
  publish(access_log_reopens_, access_log_->reopens());
}

// Start and reload: open the configured file when its path is new, stop writing when the key is
// gone. The switch happens here, before the new snapshot reaches the workers; a line queued
// after it goes to the new file, in the format of the config its worker runs at that moment.
bool Server::applyAccessLogConfig(const config::Bootstrap& config, std::string& error) {
  if (!config.access_log.has_value()) {
    access_log_->close();
    return true;
  }
  if (config.access_log->path == access_log_->path()) {
    return true;
  }
  return access_log_->open(config.access_log->path, error);
}

}  // namespace strait::server
