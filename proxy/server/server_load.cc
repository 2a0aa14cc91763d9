// The load signals the main thread measures for the filters (ProcessSignals::cpuUtilisation());
// each worker measures its own event-loop lag (Worker::onLagTick()).

#include <sys/resource.h>

#include <algorithm>
#include <thread>

#include "proxy/server/server.h"

namespace strait::server {

namespace {

std::chrono::microseconds processCpuTime() {
  struct rusage usage {};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) {
    return std::chrono::microseconds(0);
  }
  auto us = [](const timeval& t) {
    return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec);
  };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

}  // namespace

void Server::startCpuSampling() {
  cpu_timer_ = dispatcher_.createTimer([this]() { sampleCpu(); });
  sampleCpu();  // the first sample only starts the period
}

void Server::sampleCpu() {
  uint32_t cores = process_signals_.workerCount();
  const unsigned machine = std::thread::hardware_concurrency();
  if (machine > 0) {
    cores = std::min<uint32_t>(cores, machine);
  }
  std::optional<double> utilisation =
      cpu_meter_.onSample(processCpuTime(), time_source_.monotonicTime(), std::max(cores, 1u));
  if (utilisation.has_value()) {
    process_signals_.setCpuUtilisation(*utilisation);
  }
  cpu_timer_->enableTimer(CpuMeter::kPeriod);
}

}  // namespace strait::server
