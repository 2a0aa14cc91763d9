#pragma once

// A RandomGenerator whose draws the test scripts in advance.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>

#include "strait/common/random.h"

namespace strait::testing {

// Returns the scripted values in order, then 0 forever; counts the draws.
class ScriptedRandom : public RandomGenerator {
 public:
  void push(std::initializer_list<uint64_t> values) { values_.insert(values_.end(), values); }
  uint64_t random() override {
    ++calls_;
    if (values_.empty()) {
      return 0;
    }
    uint64_t v = values_.front();
    values_.pop_front();
    return v;
  }
  size_t calls() const { return calls_; }

 private:
  std::deque<uint64_t> values_;
  size_t calls_ = 0;
};

}  // namespace strait::testing
