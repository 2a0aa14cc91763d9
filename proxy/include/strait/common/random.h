#pragma once

// Randomness is injected (ARCHITECTURE.md): the data path never calls rand() directly, so that
// tests can script the choices of load balancers, weighted clusters, faults and jitter.

#include <cstdint>

namespace strait {

class RandomGenerator {
 public:
  virtual ~RandomGenerator() = default;
  virtual uint64_t random() = 0;
  // Uniform in [0, bound) for bound > 0.
  uint64_t bounded(uint64_t bound) { return bound == 0 ? 0 : random() % bound; }
};

// xoshiro256** seeded from the OS; one per worker, never shared between threads.
class DefaultRandomGenerator : public RandomGenerator {
 public:
  DefaultRandomGenerator();
  explicit DefaultRandomGenerator(uint64_t seed);
  uint64_t random() override;

 private:
  uint64_t s_[4];
};

}  // namespace strait
