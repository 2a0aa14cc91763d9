#pragma once

// The carbon-intensity providers' payloads as signals (proxy/carbon/signals.h): one adapter per
// source, each a pure function of the payload's text and the caller's mapping, so that every
// provider's quirks are tested against recorded payloads without a network.
//
// Every adapter is all-or-nothing: any fault (malformed text, a missing or mistyped field, a
// negative or non-finite intensity, an unknown word, a bad timestamp, an HTTP error body, nothing
// usable) gives an error naming the field path and no signals, and the caller keeps its last good
// signals. Fields the adapter does not use are ignored in the providers' payloads (they add
// fields over time), but are errors in our own signal file (a misspelt key there is a mistake).
//
// Scope: free functions, no state. Thread-safety: any thread; nothing is shared. Fetching (HTTP,
// timers, backoff) is the caller's; only the request's URL and headers are built here.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/types.h"
#include "proxy/carbon/signals.h"

namespace strait::carbon {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// ---- our own signal file ----------------------------------------------------------------------
//
// YAML, or JSON (which yaml-cpp reads as YAML):
//
//   signals:
//     - region: eu-west-1          # required
//       zone: eu-west-1a           # optional; absent or "" = the whole region
//       intensity: 212.5           # required, gCO2eq/kWh, a finite number >= 0
//       type: average              # required: average | marginal
//       emission_factor: lifecycle # required: lifecycle | direct
//       source: electricitymaps    # optional, default "file"
//       estimated: false           # optional, default false
//       observed_at: 2024-05-01T12:00:00Z  # required, RFC 3339: when the value is for
//       ttl: 15m                   # optional, default `default_ttl`: <integer><s|m|h>, > 0
//
// At least one signal; no two for the same locality, type and emission factor; no other keys.
// Errors read "<line>:<column>: <path>: <what>" (1-based, from yaml-cpp's marks), so the caller
// prefixes the file's name: "carbon.yaml:4:18: signals[0].intensity: ...".
ParseResult parseSignalFile(std::string_view text, std::chrono::seconds default_ttl);

// ---- Electricity Maps -------------------------------------------------------------------------
//
// GET <base>/v3/carbon-intensity/latest?zone=<zone>, the token in header `auth-token`. The
// answer: {"zone":"DE","carbonIntensity":302,"datetime":"2019-05-21T00:00:00.000Z",
// "updatedAt":"...","emissionFactorType":"lifecycle","isEstimated":true,...}. One signal for
// `locality`: type average (Electricity Maps' carbon intensity is the average of the zone's
// consumption mix), factor from emissionFactorType (absent: lifecycle, the API's default),
// observed_at = datetime, ttl = `ttl`. A null carbonIntensity (no data for the zone) is an error.
// When `expected_zone` is not empty the payload's zone must be it (a misrouted answer would
// otherwise give one locality another zone's figure).
ParseResult parseElectricityMaps(std::string_view text, const config::Locality& locality,
                                 std::chrono::seconds ttl, std::string_view expected_zone = {});

// `<base>/v3/carbon-intensity/latest?zone=<zone>` (base without its trailing '/', the zone
// percent-encoded); nullopt when base or zone is empty. Always by zone: never by lat/lon, and
// never without one (the API would then locate the caller by its IP address, which for a proxy
// is the egress, not the locality).
std::optional<std::string> electricityMapsUrl(std::string_view base, std::string_view zone);
// The request's headers: the token goes in `auth-token`.
HttpHeaders electricityMapsHeaders(std::string_view token);

// ---- Carbon Aware SDK (WebAPI) ----------------------------------------------------------------
//
// GET /emissions/bylocations: a JSON array of {"location":"eastus","time":"2022-06-01T14:45:00
// +00:00","rating":65.0,"duration":"08:00:00"}. One signal per location in `locations` (a
// location name -> the locality it stands for), from its entry with the latest time: intensity =
// rating (gCO2eq/kWh), observed_at = time, ttl = duration ("[d.]HH:MM:SS[.fraction]", > 0) when
// present, else `ttl`. Type and factor default to those of the SDK's WattTime source: marginal
// operating emissions (direct). Locations not in the map are skipped and counted in `ignored`;
// a payload with none of the mapped locations is an error.
ParseResult parseCarbonAwareSdk(std::string_view text,
                                const std::map<std::string, config::Locality>& locations,
                                std::chrono::seconds ttl,
                                config::CarbonSignalType type = config::CarbonSignalType::Marginal,
                                config::EmissionFactor factor = config::EmissionFactor::Direct);

// ---- UK Carbon Intensity (National Grid ESO, api.carbonintensity.org.uk) -----------------------
//
// GET /intensity: {"data":[{"from":"2018-01-20T12:00Z","to":"2018-01-20T12:30Z","intensity":
// {"forecast":266,"actual":263,"index":"moderate"}}]}; or one region, GET /regional/regionid/N:
// {"data":[{"regionid":13,"shortname":"London",...,"data":[{same as above}]}]}. One signal for
// `locality` from the period with the latest `from`: `actual` when present and not null, else
// `forecast` with is_estimated; observed_at = from; ttl = to - from, or `ttl` when larger. Type
// average. Factor direct: the ESO's figure counts the CO2 emitted where the electricity is
// generated (and for imports), not the fuel chain or the plants' construction.
ParseResult parseUkCarbonIntensity(std::string_view text, const config::Locality& locality,
                                   std::chrono::seconds ttl);

}  // namespace strait::carbon
