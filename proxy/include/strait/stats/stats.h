#pragma once

// Data-plane statistics (ARCHITECTURE.md, "Telemetry"): counters, gauges and histograms with
// Prometheus labels, written per worker without locks and merged at scrape time.
//
// Scope: one Store per process. Metrics are registered on the main thread (at startup and when
// a config snapshot is built) and then handed to workers inside that snapshot, so a worker only
// ever touches slots it was given after they existed. Each worker owns one Shard: its slots are
// written by that worker alone (a relaxed load + store, no read-modify-write) and read by the
// main thread at scrape time (relaxed loads; a scrape may miss an in-flight increment).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace strait::stats {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Handles are plain slot indexes: cheap to copy into config snapshots.
struct Counter {
  uint32_t slot = 0;
};
struct Gauge {
  uint32_t slot = 0;
};
struct Histogram {
  uint32_t slot = 0;  // first of kBucketCount + 2 slots: buckets, then sum (µs), then count
};

// Latency buckets in microseconds, rendered in seconds. The last bucket is +Inf.
inline constexpr uint64_t kBucketBoundsUs[] = {500,     1000,    2500,    5000,     10000,
                                               25000,   50000,   100000,  250000,   500000,
                                               1000000, 2500000, 5000000, 10000000, 30000000};
inline constexpr size_t kBucketCount = sizeof(kBucketBoundsUs) / sizeof(kBucketBoundsUs[0]) + 1;

class Store;

// One writer thread's slots.
class Shard {
 public:
  void inc(Counter c, uint64_t n = 1) { bump(c.slot, n); }
  void add(Gauge g, int64_t delta) { bump(g.slot, static_cast<uint64_t>(delta)); }
  void sub(Gauge g, int64_t delta) { bump(g.slot, static_cast<uint64_t>(-delta)); }
  // Only for gauges owned by exactly one shard (e.g. the main thread's).
  void set(Gauge g, int64_t value) {
    slot(g.slot).store(static_cast<uint64_t>(value), std::memory_order_relaxed);
  }
  // A counter whose total is kept elsewhere (a process-wide atomic of a detector), mirrored into
  // this shard before a scrape. Only on the one shard that mirrors it (the main thread's).
  void setTotal(Counter c, uint64_t total) {
    slot(c.slot).store(total, std::memory_order_relaxed);
  }
  void observeUs(Histogram h, uint64_t micros) {
    size_t bucket = 0;
    while (bucket < kBucketCount - 1 && micros > kBucketBoundsUs[bucket]) {
      bucket++;
    }
    bump(h.slot + static_cast<uint32_t>(bucket), 1);
    bump(h.slot + kBucketCount, micros);
    bump(h.slot + kBucketCount + 1, 1);
  }
  uint64_t read(uint32_t index) const { return slot(index).load(std::memory_order_relaxed); }

 private:
  friend class Store;
  static constexpr uint32_t kChunkBits = 12;
  static constexpr uint32_t kChunkSlots = 1u << kChunkBits;
  static constexpr uint32_t kMaxChunks = 1024;  // 4M slots

  void bump(uint32_t index, uint64_t n) {
    auto& s = slot(index);
    s.store(s.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::atomic<uint64_t>& slot(uint32_t index) const {
    return chunks_[index >> kChunkBits][index & (kChunkSlots - 1)];
  }

  std::unique_ptr<std::atomic<uint64_t>[]> chunks_[kMaxChunks];
};

enum class MetricType { Counter, Gauge, Histogram };

class Store {
 public:
  // `worker_shards` writer shards plus one for the main thread (mainShard()).
  explicit Store(uint32_t worker_shards);
  ~Store();

  // Registration (thread-safe, idempotent for the same name and labels). `help` is kept from
  // the first registration of a name.
  Counter counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram histogram(std::string_view name, std::string_view help, const Labels& labels = {});

  Shard& shard(uint32_t worker) { return *shards_[worker]; }
  Shard& mainShard() { return *shards_.back(); }
  uint32_t workerShards() const { return static_cast<uint32_t>(shards_.size() - 1); }

  // Sum over shards (counters and gauges).
  int64_t value(uint32_t slot) const;
  uint64_t counterValue(Counter c) const { return static_cast<uint64_t>(value(c.slot)); }
  int64_t gaugeValue(Gauge g) const { return value(g.slot); }

  // The Prometheus text exposition format (version 0.0.4), families sorted by name.
  std::string renderPrometheus() const;

 private:
  struct Series {
    Labels labels;
    uint32_t slot;
  };
  struct Family {
    std::string name;
    std::string help;
    MetricType type;
    std::vector<Series> series;
  };
  uint32_t registerSeries(std::string_view name, std::string_view help, MetricType type,
                          const Labels& labels, uint32_t width);

  mutable std::mutex lock_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::unique_ptr<Family>> families_;
  // Registration must stay cheap with tens of thousands of routes: families by name and series
  // by "name{labels}" are looked up in hash maps, not scanned.
  std::unordered_map<std::string, Family*> family_index_;
  std::unordered_map<std::string, uint32_t> series_index_;
  uint32_t next_slot_ = 0;
  uint32_t allocated_chunks_ = 0;
};

}  // namespace strait::stats
