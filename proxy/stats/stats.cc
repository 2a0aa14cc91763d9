#include "strait/stats/stats.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace strait::stats {

namespace {

void appendEscaped(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void appendLabels(std::string& out, const Labels& labels, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) {
    return;
  }
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) {
      out += ',';
    }
    first = false;
    out += name;
    out += "=\"";
    appendEscaped(out, value);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) {
      out += ',';
    }
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

std::string formatSeconds(uint64_t micros) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", static_cast<double>(micros) / 1e6);
  return buf;
}

const char* typeName(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Histogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

Store::Store(uint32_t worker_shards) {
  for (uint32_t i = 0; i < worker_shards + 1; i++) {
    shards_.push_back(std::make_unique<Shard>());
  }
}

Store::~Store() = default;

uint32_t Store::registerSeries(std::string_view name, std::string_view help, MetricType type,
                               const Labels& labels, uint32_t width) {
  std::lock_guard<std::mutex> guard(lock_);
  std::string key(name);
  key += '\x1f';
  for (const auto& [label, value] : labels) {
    key += label;
    key += '\x1e';
    key += value;
    key += '\x1f';
  }
  Family* family = nullptr;
  if (auto it = family_index_.find(std::string(name)); it != family_index_.end()) {
    family = it->second;
    if (family->type != type) {
      // A programming error (two components disagree on a metric's type): keep the data apart.
      throw std::logic_error("metric registered with two types: " + std::string(name));
    }
  } else {
    families_.push_back(std::make_unique<Family>(
        Family{std::string(name), std::string(help), type, {}}));
    family = families_.back().get();
    family_index_.emplace(family->name, family);
  }
  if (auto it = series_index_.find(key); it != series_index_.end()) {
    return it->second;
  }
  uint32_t slot = next_slot_;
  next_slot_ += width;
  uint32_t needed_chunks = (next_slot_ + Shard::kChunkSlots - 1) >> Shard::kChunkBits;
  if (needed_chunks > Shard::kMaxChunks) {
    throw std::length_error("too many metrics");
  }
  // Allocate new chunks in every shard before the slot is handed out, so a worker never sees a
  // slot whose chunk is missing.
  while (allocated_chunks_ < needed_chunks) {
    for (auto& shard : shards_) {
      shard->chunks_[allocated_chunks_] =
          std::make_unique<std::atomic<uint64_t>[]>(Shard::kChunkSlots);
    }
    allocated_chunks_++;
  }
  family->series.push_back(Series{labels, slot});
  series_index_.emplace(std::move(key), slot);
  return slot;
}

Counter Store::counter(std::string_view name, std::string_view help, const Labels& labels) {
  return Counter{registerSeries(name, help, MetricType::Counter, labels, 1)};
}

Gauge Store::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  return Gauge{registerSeries(name, help, MetricType::Gauge, labels, 1)};
}

Histogram Store::histogram(std::string_view name, std::string_view help, const Labels& labels) {
  return Histogram{registerSeries(name, help, MetricType::Histogram, labels, kBucketCount + 2)};
}

int64_t Store::value(uint32_t slot) const {
  uint64_t sum = 0;
  for (const auto& shard : shards_) {
    sum += shard->read(slot);
  }
  return static_cast<int64_t>(sum);
}

std::string Store::renderPrometheus() const {
  std::lock_guard<std::mutex> guard(lock_);
  std::vector<const Family*> sorted;
  sorted.reserve(families_.size());
  for (const auto& f : families_) {
    sorted.push_back(f.get());
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const Family* a, const Family* b) { return a->name < b->name; });

  std::string out;
  out.reserve(sorted.size() * 256);
  for (const Family* f : sorted) {
    out += "# HELP ";
    out += f->name;
    out += ' ';
    out += f->help;
    out += "\n# TYPE ";
    out += f->name;
    out += ' ';
    out += typeName(f->type);
    out += '\n';
    for (const auto& s : f->series) {
      if (f->type != MetricType::Histogram) {
        out += f->name;
        appendLabels(out, s.labels);
        out += ' ';
        out += std::to_string(value(s.slot));
        out += '\n';
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t b = 0; b < kBucketCount; b++) {
        cumulative += static_cast<uint64_t>(value(s.slot + static_cast<uint32_t>(b)));
        out += f->name;
        out += "_bucket";
        std::string le = b < kBucketCount - 1 ? formatSeconds(kBucketBoundsUs[b]) : "+Inf";
        appendLabels(out, s.labels, "le", le);
        out += ' ';
        out += std::to_string(cumulative);
        out += '\n';
      }
      out += f->name;
      out += "_sum";
      appendLabels(out, s.labels);
      out += ' ';
      out += formatSeconds(static_cast<uint64_t>(value(s.slot + kBucketCount)));
      out += '\n';
      out += f->name;
      out += "_count";
      appendLabels(out, s.labels);
      out += ' ';
      out += std::to_string(value(s.slot + kBucketCount + 1));
      out += '\n';
    }
  }
  return out;
}

}  // namespace strait::stats
