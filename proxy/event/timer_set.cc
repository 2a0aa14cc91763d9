#include "proxy/event/timer_set.h"

#include <algorithm>

namespace strait::event {

class TimerSet::Member : public Timer {
 public:
  Member(TimerSet& set, TimerCb cb) : set_(set), cb_(std::move(cb)) {
    set_.members_.push_back(this);
    self_ = std::prev(set_.members_.end());
  }
  ~Member() override {
    set_.members_.erase(self_);
    std::replace(set_.firing_.begin(), set_.firing_.end(), this, static_cast<Member*>(nullptr));
  }

  void enableTimer(std::chrono::milliseconds delay) override {
    uint64_t ms = static_cast<uint64_t>(delay.count() < 0 ? 0 : delay.count());
    due_ = set_.nowMs() + ms;
    enabled_ = true;
    set_.schedule(due_);
  }
  void disableTimer() override { enabled_ = false; }
  bool enabled() const override { return enabled_; }

 private:
  friend class TimerSet;
  TimerSet& set_;
  TimerCb cb_;
  uint64_t due_ = 0;
  bool enabled_ = false;
  std::list<Member*>::iterator self_;
};

TimerSet::TimerSet(Dispatcher& dispatcher)
    : dispatcher_(dispatcher), shared_(dispatcher.createTimer([this]() { onFire(); })) {}

uint64_t TimerSet::nowMs() const {
  auto since = dispatcher_.approximateMonotonicTime().time_since_epoch();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(since).count());
}

TimerSet::~TimerSet() = default;

TimerPtr TimerSet::createTimer(TimerCb cb) { return std::make_unique<Member>(*this, std::move(cb)); }

void TimerSet::schedule(uint64_t due) {
  if (shared_->enabled() && next_due_ <= due) {
    return;  // fires first; onFire() re-arms for what is left
  }
  next_due_ = due;
  uint64_t now = nowMs();
  // One millisecond more than the difference: the shared timer runs on the loop's clock, which
  // may lag the dispatcher's time by a fraction of a millisecond; firing early would only re-arm.
  shared_->enableTimer(std::chrono::milliseconds(due > now ? due - now + 1 : 0));
}

void TimerSet::onFire() {
  uint64_t now = nowMs();
  firing_.clear();
  bool rest = false;
  uint64_t earliest = 0;
  for (Member* member : members_) {
    if (!member->enabled_) {
      continue;
    }
    if (member->due_ <= now) {
      member->enabled_ = false;
      firing_.push_back(member);
    } else if (!rest || member->due_ < earliest) {
      rest = true;
      earliest = member->due_;
    }
  }
  if (rest) {
    schedule(earliest);
  }
  // A callback may destroy other members (they null their entry) or re-arm any (schedule()).
  for (size_t i = 0; i < firing_.size(); i++) {
    if (Member* member = firing_[i]) {
      member->cb_();
    }
  }
  firing_.clear();
}

}  // namespace strait::event
