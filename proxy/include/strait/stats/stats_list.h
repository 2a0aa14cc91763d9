#pragma once

// A component's stats declared once (STYLE.md: "stats declared once per component in a single
// sorted list"). The component writes one list macro that names, for each stat, its kind, its
// field, its metric name and its help:
//
//   #define STRAIT_FOO_STATS(COUNTER, GAUGE, HISTOGRAM)
//     COUNTER(requests, "strait_dp_foo_requests_total", "Requests seen.")
//     GAUGE(active, "strait_dp_foo_active", "Requests being handled now.")
//
// (each line but the last ending in a backslash), sorted by field, and from it both the struct's
// members and their registration come:
//
//   struct FooStats { STRAIT_STATS_FIELDS(STRAIT_FOO_STATS) };
//   STRAIT_STATS_REGISTER(STRAIT_FOO_STATS, stats, store, labels);

#include "strait/stats/stats.h"

#define STRAIT_STAT_COUNTER_FIELD_(field, name, help) ::strait::stats::Counter field;
#define STRAIT_STAT_GAUGE_FIELD_(field, name, help) ::strait::stats::Gauge field;
#define STRAIT_STAT_HISTOGRAM_FIELD_(field, name, help) ::strait::stats::Histogram field;

// The struct members of `LIST`.
#define STRAIT_STATS_FIELDS(LIST) \
  LIST(STRAIT_STAT_COUNTER_FIELD_, STRAIT_STAT_GAUGE_FIELD_, STRAIT_STAT_HISTOGRAM_FIELD_)

#define STRAIT_STAT_COUNTER_REGISTER_(field, name, help) \
  strait_stats_out_.field = strait_stats_store_.counter(name, help, strait_stats_labels_);
#define STRAIT_STAT_GAUGE_REGISTER_(field, name, help) \
  strait_stats_out_.field = strait_stats_store_.gauge(name, help, strait_stats_labels_);
#define STRAIT_STAT_HISTOGRAM_REGISTER_(field, name, help) \
  strait_stats_out_.field = strait_stats_store_.histogram(name, help, strait_stats_labels_);

// Registers every stat of `LIST` in `store` with `labels` into the struct `out`. The store throws
// std::logic_error when a name is already registered with another type (and std::length_error
// when it is full): snapshot building turns either into a config error.
#define STRAIT_STATS_REGISTER(LIST, out, store, labels)                                   \
  do {                                                                                    \
    auto& strait_stats_out_ = (out);                                                      \
    ::strait::stats::Store& strait_stats_store_ = (store);                                \
    const ::strait::stats::Labels& strait_stats_labels_ = (labels);                       \
    LIST(STRAIT_STAT_COUNTER_REGISTER_, STRAIT_STAT_GAUGE_REGISTER_,                      \
         STRAIT_STAT_HISTOGRAM_REGISTER_)                                                 \
  } while (0)
