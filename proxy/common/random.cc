#include "strait/common/random.h"

#include <random>

namespace strait {
namespace {

uint64_t rotateLeft(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

// splitmix64 expands one 64-bit seed into well-mixed state words. xoshiro must not start from an
// all-zero state, and nearby seeds (0, 1, 2, ...) must not give correlated streams; splitmix64,
// a bijective mixer over a Weyl sequence, ensures both.
uint64_t splitMix64(uint64_t& x) {
  x += 0x9e3779b97f4a7c15ULL;
  uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t osSeed() {
  std::random_device device;
  // random_device yields 32 bits per call; two draws make one 64-bit seed.
  uint64_t high = device();
  uint64_t low = device();
  return (high << 32) ^ low;
}

}  // namespace

DefaultRandomGenerator::DefaultRandomGenerator() : DefaultRandomGenerator(osSeed()) {}

DefaultRandomGenerator::DefaultRandomGenerator(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t& word : s_) {
    word = splitMix64(x);
  }
}

// xoshiro256**: the output scrambles the second state word (multiply, rotate, multiply); the
// state advances by a linear xor-shift-rotate step with period 2^256 - 1.
uint64_t DefaultRandomGenerator::random() {
  const uint64_t result = rotateLeft(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotateLeft(s_[3], 45);
  return result;
}

}  // namespace strait
