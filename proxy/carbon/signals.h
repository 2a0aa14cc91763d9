#pragma once

// The carbon-intensity signal (cluster `carbon_aware`, docs/config.md): one provider's figure for
// the electricity of one locality, what kind of figure it is, and how long it holds. The provider
// adapters (proxy/carbon/providers.h) turn payloads into these; the weight policy reads them and
// goes carbon-blind when one is missing or stale.
//
// Also here: the strict RFC 3339 reader every adapter's timestamps go through, so that all the
// providers agree on what a valid time is.
//
// Scope: plain values, built on whichever thread fetched a payload and handed over whole.
// Thread-safety: nothing is shared; a const CarbonSignal may be read from any thread. Time comes
// from the caller.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/types.h"
#include "strait/common/time.h"

namespace strait::carbon {

// The `source` of the signals each adapter makes.
inline constexpr std::string_view kSourceFile = "file";
inline constexpr std::string_view kSourceElectricityMaps = "electricitymaps";
inline constexpr std::string_view kSourceCarbonAwareSdk = "carbon-aware-sdk";
inline constexpr std::string_view kSourceUkCarbonIntensity = "uk-carbon-intensity";

// How far ahead of the proxy's clock a signal's observed_at may be and still count as current:
// the provider's or the file writer's clock may run a little ahead of ours. Further ahead, the
// value describes a period that has not started (a forecast), not the electricity used now.
inline constexpr std::chrono::seconds kMaxClockSkew{300};

// One locality's carbon intensity at one time, from one provider.
struct CarbonSignal {
  config::Locality locality;  // region (required), zone (optional, "" = the whole region)
  double intensity = 0;       // gCO2eq/kWh, finite and >= 0
  config::CarbonSignalType type = config::CarbonSignalType::Average;
  config::EmissionFactor factor = config::EmissionFactor::Lifecycle;
  std::string source;  // one of the kSource* names, or what a signal file says
  // The provider modelled the value (a forecast or an estimate) rather than measured it.
  bool is_estimated = false;
  SystemTime observed_at;  // when the value is for (the provider's timestamp)
  // After observed_at + ttl the signal is stale. 0 (the default) is never fresh: a signal has to
  // say how long it holds.
  std::chrono::seconds ttl{0};

  // ttl > 0 and observed_at - kMaxClockSkew <= now < observed_at + ttl.
  bool fresh(SystemTime now) const;
};

// What an adapter made of one payload: either signals (ok) or an error, never both, so the caller
// keeps its last good signals whenever a payload is wrong in any way.
struct ParseResult {
  std::vector<CarbonSignal> signals;
  // What is wrong and where: the field path, and for a signal file its line:column.
  std::string error;
  // Entries the payload held that the caller's mapping does not cover (Carbon Aware SDK
  // locations without a locality), counted once per distinct name; not an error.
  size_t ignored = 0;

  bool ok() const { return error.empty(); }
};

// The words the signal file and the providers use: "average", "marginal"; "lifecycle", "direct".
std::string_view signalTypeName(config::CarbonSignalType type);
std::string_view emissionFactorName(config::EmissionFactor factor);
std::optional<config::CarbonSignalType> parseSignalType(std::string_view word);
std::optional<config::EmissionFactor> parseEmissionFactor(std::string_view word);

// A strict RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, 'T' and 'Z' in
// either case. Also the UK Carbon Intensity API's minute precision, `2018-01-20T12:00Z` (seconds
// left out, and then no fraction). Fractions beyond nanoseconds are truncated. Rejected: a space
// for 'T', a missing offset, out-of-range fields (Feb 30, 24:00, a leap second :60), and years
// outside 1970..2200 (no signal is dated there, and the nanosecond system clock ends in 2262).
std::optional<SystemTime> parseRfc3339(std::string_view text);

}  // namespace strait::carbon
