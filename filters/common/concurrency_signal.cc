#include "filters/common/concurrency_signal.h"

#include <map>
#include <mutex>
#include <string>

namespace strait::filters {

std::shared_ptr<ConcurrencySignal> concurrencySignalFor(std::string_view listener) {
  static std::mutex lock;
  static std::map<std::string, std::weak_ptr<ConcurrencySignal>, std::less<>> signals;
  std::lock_guard<std::mutex> guard(lock);
  auto it = signals.find(listener);
  if (it != signals.end()) {
    if (std::shared_ptr<ConcurrencySignal> alive = it->second.lock()) {
      return alive;
    }
  }
  auto signal = std::make_shared<ConcurrencySignal>();
  signals[std::string(listener)] = signal;
  return signal;
}

}  // namespace strait::filters
