// The carbon-intensity signal model and the provider adapters against recorded payloads
// (fixtures/, see fixtures/README.md), their variants, and hand-written faults.

#include "proxy/carbon/providers.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace strait::carbon {
namespace {

using config::CarbonSignalType;
using config::EmissionFactor;
using nlohmann::json;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(STRAIT_CARBON_FIXTURES) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "no fixture " << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

SystemTime utc(int year, unsigned month, unsigned day, int hour = 0, int minute = 0,
               int second = 0) {
  return SystemTime(std::chrono::sys_days(std::chrono::year(year) / std::chrono::month(month) /
                                          std::chrono::day(day)) +
                    hours(hour) + minutes(minute) + seconds(second));
}

// An error containing `expected`, and no signals with it.
::testing::AssertionResult failsWith(const ParseResult& result, std::string_view expected) {
  if (result.ok()) {
    return ::testing::AssertionFailure()
           << "parsed (" << result.signals.size() << " signals), expected an error containing \""
           << expected << "\"";
  }
  if (!result.signals.empty()) {
    return ::testing::AssertionFailure() << "an error with signals kept: " << result.error;
  }
  if (result.error.find(expected) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "error \"" << result.error << "\" does not contain \"" << expected << "\"";
  }
  return ::testing::AssertionSuccess();
}

// ---- parseRfc3339 -----------------------------------------------------------------------------

TEST(Rfc3339Test, ReadsUtcWithAndWithoutFractions) {
  EXPECT_EQ(parseRfc3339("2019-05-21T00:00:00Z"), utc(2019, 5, 21));
  EXPECT_EQ(parseRfc3339("2019-05-21T00:00:00.000Z"), utc(2019, 5, 21));
  EXPECT_EQ(parseRfc3339("2022-06-01T14:45:07.5Z"), utc(2022, 6, 1, 14, 45, 7) + milliseconds(500));
  EXPECT_EQ(parseRfc3339("2022-06-01T14:45:07.123456789Z"),
            utc(2022, 6, 1, 14, 45, 7) + nanoseconds(123456789));
  // Beyond nanoseconds: truncated, not rounded.
  EXPECT_EQ(parseRfc3339("2022-06-01T14:45:07.1234567899Z"),
            utc(2022, 6, 1, 14, 45, 7) + nanoseconds(123456789));
  EXPECT_EQ(parseRfc3339("2022-06-01t14:45:07z"), utc(2022, 6, 1, 14, 45, 7));
  EXPECT_EQ(parseRfc3339("1970-01-01T00:00:00Z"), SystemTime());
}

TEST(Rfc3339Test, AppliesTheOffset) {
  EXPECT_EQ(parseRfc3339("2022-06-01T14:45:00+00:00"), utc(2022, 6, 1, 14, 45));
  EXPECT_EQ(parseRfc3339("2022-06-01T16:45:00+02:00"), utc(2022, 6, 1, 14, 45));
  EXPECT_EQ(parseRfc3339("2022-06-01T09:15:00-05:30"), utc(2022, 6, 1, 14, 45));
  EXPECT_EQ(parseRfc3339("2022-06-01T14:45:00-00:00"), utc(2022, 6, 1, 14, 45));
  // Across a day and a year boundary.
  EXPECT_EQ(parseRfc3339("2023-01-01T00:30:00+01:00"), utc(2022, 12, 31, 23, 30));
}

TEST(Rfc3339Test, ReadsTheUkApisMinutePrecision) {
  EXPECT_EQ(parseRfc3339("2018-01-20T12:00Z"), utc(2018, 1, 20, 12));
  EXPECT_EQ(parseRfc3339("2018-01-20T12:30+01:00"), utc(2018, 1, 20, 11, 30));
}

TEST(Rfc3339Test, ChecksTheCalendar) {
  EXPECT_EQ(parseRfc3339("2024-02-29T00:00:00Z"), utc(2024, 2, 29));
  EXPECT_EQ(parseRfc3339("2023-02-29T00:00:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2019-04-31T00:00:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2019-13-01T00:00:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2019-00-01T00:00:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2019-01-00T00:00:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2019-01-01T24:00:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2019-01-01T12:60:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2016-12-31T23:59:60Z"), std::nullopt);  // leap seconds: not kept
  EXPECT_EQ(parseRfc3339("2019-01-01T12:00:00+24:00"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2019-01-01T12:00:00+01:60"), std::nullopt);
  EXPECT_EQ(parseRfc3339("1969-12-31T23:59:59Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339("2200-12-31T23:59:59Z"), utc(2200, 12, 31, 23, 59, 59));
  EXPECT_EQ(parseRfc3339("2201-01-01T00:00:00Z"), std::nullopt);
}

TEST(Rfc3339Test, RejectsWhatIsNotRfc3339) {
  for (const char* bad : {
           "",
           "2019-05-21",                // a date alone
           "2019-05-21T00:00:00",       // no offset
           "2019-05-21 00:00:00Z",      // a space for 'T'
           "2019-5-21T00:00:00Z",       // one-digit month
           "2019-05-21T0:00:00Z",       // one-digit hour
           "2019-05-21T00:00:0Z",       // one-digit second
           "2019-05-21T00Z",            // hours alone
           "2019-05-21T00:00.5Z",       // a fraction without seconds
           "2019-05-21T00:00:00.Z",     // a point without digits
           "2019-05-21T00:00:00+0200",  // offset without its colon
           "2019-05-21T00:00:00+02",    // offset without minutes
           "2019-05-21T00:00:00UTC",    // a zone name
           "2019-05-21T00:00:00Z ",     // trailing text
           " 2019-05-21T00:00:00Z",     // leading text
           "2019-05-21T00:00:00ZZ",     // two zones
           "+2019-05-21T00:00:00Z",     // a signed year
           "20190521T000000Z",          // ISO 8601 basic format
           "1558396800",                // a Unix time
       }) {
    EXPECT_EQ(parseRfc3339(bad), std::nullopt) << bad;
  }
}

// ---- CarbonSignal::fresh ----------------------------------------------------------------------

TEST(CarbonSignalTest, FreshFromJustBeforeObservedAtUntilTheTtlRunsOut) {
  CarbonSignal signal;
  signal.observed_at = utc(2024, 5, 1, 12);
  signal.ttl = minutes(15);
  EXPECT_TRUE(signal.fresh(utc(2024, 5, 1, 12)));
  EXPECT_TRUE(signal.fresh(utc(2024, 5, 1, 12, 14, 59)));
  EXPECT_FALSE(signal.fresh(utc(2024, 5, 1, 12, 15)));  // observed_at + ttl: stale
  EXPECT_FALSE(signal.fresh(utc(2024, 5, 2, 12)));
  // Ahead of our clock by at most kMaxClockSkew (5 minutes): still current.
  EXPECT_TRUE(signal.fresh(utc(2024, 5, 1, 11, 55)));
  // Further ahead: a value for a period that has not started.
  EXPECT_FALSE(signal.fresh(utc(2024, 5, 1, 11, 54, 59)));
}

TEST(CarbonSignalTest, ASignalWithoutATtlIsNeverFresh) {
  CarbonSignal signal;
  signal.observed_at = utc(2024, 5, 1, 12);
  EXPECT_EQ(signal.ttl, seconds(0));
  EXPECT_FALSE(signal.fresh(utc(2024, 5, 1, 12)));
  EXPECT_FALSE(signal.fresh(utc(2024, 5, 1, 11, 59)));
}

TEST(CarbonSignalTest, NamesAndWordsRoundTrip) {
  for (CarbonSignalType type : {CarbonSignalType::Average, CarbonSignalType::Marginal}) {
    EXPECT_EQ(parseSignalType(signalTypeName(type)), type);
  }
  for (EmissionFactor factor : {EmissionFactor::Lifecycle, EmissionFactor::Direct}) {
    EXPECT_EQ(parseEmissionFactor(emissionFactorName(factor)), factor);
  }
  EXPECT_EQ(signalTypeName(CarbonSignalType::Marginal), "marginal");
  EXPECT_EQ(emissionFactorName(EmissionFactor::Direct), "direct");
  EXPECT_EQ(parseSignalType("Average"), std::nullopt);  // the words are lower case
  EXPECT_EQ(parseEmissionFactor("scope2"), std::nullopt);
}

// ---- parseSignalFile --------------------------------------------------------------------------

// The two signals of fixtures/signals.yaml and signals.json (the same content).
void expectFixtureSignals(const ParseResult& result) {
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.signals.size(), 2u);
  EXPECT_EQ(result.ignored, 0u);

  const CarbonSignal& west = result.signals[0];
  EXPECT_EQ(west.locality.region, "eu-west-1");
  EXPECT_EQ(west.locality.zone, "eu-west-1a");
  EXPECT_EQ(west.intensity, 212.5);
  EXPECT_EQ(west.type, CarbonSignalType::Average);
  EXPECT_EQ(west.factor, EmissionFactor::Lifecycle);
  EXPECT_EQ(west.source, "electricitymaps");
  EXPECT_TRUE(west.is_estimated);
  EXPECT_EQ(west.observed_at, utc(2024, 5, 1, 12));
  EXPECT_EQ(west.ttl, minutes(15));

  // The defaults: the whole region, source "file", measured, the caller's ttl.
  const CarbonSignal& north = result.signals[1];
  EXPECT_EQ(north.locality.region, "eu-north-1");
  EXPECT_EQ(north.locality.zone, "");
  EXPECT_EQ(north.intensity, 18.0);
  EXPECT_EQ(north.type, CarbonSignalType::Marginal);
  EXPECT_EQ(north.factor, EmissionFactor::Direct);
  EXPECT_EQ(north.source, "file");
  EXPECT_FALSE(north.is_estimated);
  EXPECT_EQ(north.observed_at, utc(2024, 5, 1, 12) + milliseconds(250));
  EXPECT_EQ(north.ttl, minutes(10));
}

TEST(SignalFileTest, ReadsYaml) {
  expectFixtureSignals(parseSignalFile(fixture("signals.yaml"), minutes(10)));
}

TEST(SignalFileTest, ReadsJson) {
  expectFixtureSignals(parseSignalFile(fixture("signals.json"), minutes(10)));
}

// A one-signal file: the valid fields below, each changed, removed (value "-") or added by
// `changes`, one per line from line 2 ("  - region: eu-west-1") on.
std::string signalFile(std::initializer_list<std::pair<std::string, std::string>> changes = {}) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"region", "eu-west-1"},
      {"intensity", "212.5"},
      {"type", "average"},
      {"emission_factor", "lifecycle"},
      {"observed_at", "2024-05-01T12:00:00Z"}};
  for (const auto& [key, value] : changes) {
    auto it = std::find_if(fields.begin(), fields.end(),
                           [&](const auto& field) { return field.first == key; });
    if (value == "-") {
      EXPECT_NE(it, fields.end()) << "no field " << key << " to remove";
      if (it != fields.end()) {
        fields.erase(it);
      }
    } else if (it != fields.end()) {
      it->second = value;
    } else {
      fields.emplace_back(key, value);
    }
  }
  std::string out = "signals:\n";
  for (size_t i = 0; i < fields.size(); i++) {
    out += (i == 0 ? "  - " : "    ") + fields[i].first + ": " + fields[i].second + "\n";
  }
  return out;
}

ParseResult parseFile(std::initializer_list<std::pair<std::string, std::string>> changes) {
  return parseSignalFile(signalFile(changes), minutes(10));
}

TEST(SignalFileTest, TheHelpersFileIsValid) {
  const ParseResult result = parseFile({});
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.signals.size(), 1u);
  EXPECT_EQ(result.signals[0].intensity, 212.5);
}

TEST(SignalFileTest, ReadsEveryTtlUnitAndTheEdgeValues) {
  EXPECT_EQ(parseFile({{"ttl", "300s"}}).signals.at(0).ttl, seconds(300));
  EXPECT_EQ(parseFile({{"ttl", "15m"}}).signals.at(0).ttl, minutes(15));
  EXPECT_EQ(parseFile({{"ttl", "1h"}}).signals.at(0).ttl, hours(1));
  EXPECT_EQ(parseFile({{"ttl", "87600h"}}).signals.at(0).ttl, hours(87600));
  EXPECT_EQ(parseFile({{"ttl", "\"15m\""}}).signals.at(0).ttl, minutes(15));  // as JSON writes it
  EXPECT_EQ(parseFile({{"intensity", "0"}}).signals.at(0).intensity, 0.0);
  EXPECT_EQ(parseFile({{"zone", "\"\""}}).signals.at(0).locality.zone, "");
  EXPECT_FALSE(parseFile({{"estimated", "false"}}).signals.at(0).is_estimated);
}

TEST(SignalFileTest, IntensityMustBeAFiniteNonNegativeNumber) {
  EXPECT_TRUE(failsWith(parseFile({{"intensity", "-5"}}),
                        "3:16: signals[0].intensity: must not be negative, got -5"));
  EXPECT_TRUE(failsWith(parseFile({{"intensity", "\"212\""}}),
                        "3:16: signals[0].intensity: expected a number (gCO2eq/kWh), got \"212\""));
  EXPECT_TRUE(failsWith(parseFile({{"intensity", "abc"}}),
                        "signals[0].intensity: expected a number (gCO2eq/kWh), got \"abc\""));
  EXPECT_TRUE(
      failsWith(parseFile({{"intensity", "212gCO2"}}), "signals[0].intensity: expected a number"));
  EXPECT_TRUE(failsWith(parseFile({{"intensity", ".inf"}}),
                        "signals[0].intensity: must be a finite number, got .inf"));
  EXPECT_TRUE(failsWith(parseFile({{"intensity", "nan"}}),
                        "signals[0].intensity: must be a finite number, got nan"));
  EXPECT_TRUE(
      failsWith(parseFile({{"intensity", "1e999"}}), "signals[0].intensity: number out of range"));
  EXPECT_TRUE(failsWith(parseFile({{"intensity", "[1]"}}),
                        "signals[0].intensity: expected a number (gCO2eq/kWh), got a list"));
}

TEST(SignalFileTest, EnumWordsAreChecked) {
  EXPECT_TRUE(
      failsWith(parseFile({{"type", "avg"}}),
                "4:11: signals[0].type: unknown type \"avg\" (expected average or marginal)"));
  EXPECT_TRUE(failsWith(parseFile({{"emission_factor", "scope2"}}),
                        "5:22: signals[0].emission_factor: unknown emission_factor \"scope2\" "
                        "(expected lifecycle or direct)"));
  EXPECT_TRUE(failsWith(parseFile({{"estimated", "yes"}}),
                        "signals[0].estimated: expected true or false, got \"yes\""));
  EXPECT_TRUE(failsWith(parseFile({{"estimated", "\"true\""}}),
                        "signals[0].estimated: expected true or false, got \"true\""));
}

TEST(SignalFileTest, RequiredFieldsAreNamedAtTheirEntry) {
  EXPECT_TRUE(
      failsWith(parseFile({{"observed_at", "-"}}), "2:5: signals[0]: missing key \"observed_at\""));
  EXPECT_TRUE(failsWith(parseFile({{"type", "-"}}), "2:5: signals[0]: missing key \"type\""));
  EXPECT_TRUE(failsWith(parseFile({{"emission_factor", "-"}}),
                        "2:5: signals[0]: missing key \"emission_factor\""));
  EXPECT_TRUE(
      failsWith(parseFile({{"intensity", "-"}}), "2:5: signals[0]: missing key \"intensity\""));
  // Without region the entry starts at intensity, on line 2.
  EXPECT_TRUE(failsWith(parseFile({{"region", "-"}}), "2:5: signals[0]: missing key \"region\""));
  EXPECT_TRUE(
      failsWith(parseFile({{"region", "\"\""}}), "2:13: signals[0].region: must not be empty"));
  EXPECT_TRUE(failsWith(parseFile({{"source", "\"\""}}), "signals[0].source: must not be empty"));
  EXPECT_TRUE(failsWith(parseFile({{"zone", ""}}), "signals[0].zone: expected a string, got null"));
  EXPECT_TRUE(failsWith(parseFile({{"region", "{name: eu-west-1}"}}),
                        "signals[0].region: expected a string, got a map"));
}

TEST(SignalFileTest, ObservedAtMustBeRfc3339) {
  EXPECT_TRUE(failsWith(parseFile({{"observed_at", "2024-05-01 12:00:00Z"}}),
                        "6:18: signals[0].observed_at: expected an RFC 3339 time such as "
                        "2024-05-01T12:00:00Z, got \"2024-05-01 12:00:00Z\""));
  EXPECT_TRUE(failsWith(parseFile({{"observed_at", "2024-05-01T12:00:00"}}),
                        "signals[0].observed_at: expected an RFC 3339 time"));
}

TEST(SignalFileTest, TtlMustBeAPositiveDurationWithAUnit) {
  EXPECT_TRUE(failsWith(parseFile({{"ttl", "15"}}),
                        "7:10: signals[0].ttl: expected a duration such as 300s, 15m or 1h, got "
                        "\"15\""));
  EXPECT_TRUE(failsWith(parseFile({{"ttl", "15min"}}), "signals[0].ttl: expected a duration"));
  EXPECT_TRUE(failsWith(parseFile({{"ttl", "1.5h"}}), "signals[0].ttl: expected a duration"));
  EXPECT_TRUE(failsWith(parseFile({{"ttl", "-5m"}}), "signals[0].ttl: expected a duration"));
  EXPECT_TRUE(failsWith(parseFile({{"ttl", "0s"}}), "signals[0].ttl: must be positive, got 0s"));
  EXPECT_TRUE(failsWith(parseFile({{"ttl", "87601h"}}),
                        "signals[0].ttl: too long (at most 87600h), got 87601h"));
  EXPECT_TRUE(
      failsWith(parseFile({{"ttl", "99999999999999999999999s"}}), "signals[0].ttl: too long"));
}

TEST(SignalFileTest, UnknownKeysAreErrorsWithASuggestion) {
  EXPECT_TRUE(failsWith(parseFile({{"intensty", "212.5"}}),
                        "7:5: signals[0].intensty: unknown key \"intensty\" (did you mean "
                        "\"intensity\"?)"));
  EXPECT_TRUE(failsWith(parseFile({{"emissionFactor", "direct"}}),
                        "unknown key \"emissionFactor\" (did you mean \"emission_factor\"?)"));
  EXPECT_TRUE(failsWith(parseFile({{"colour", "green"}}),
                        "signals[0].colour: unknown key \"colour\" (allowed: region, zone, "
                        "intensity, type, emission_factor, source, estimated, observed_at, "
                        "ttl)"));
  EXPECT_TRUE(failsWith(parseSignalFile("signal:\n  - region: eu-west-1\n", minutes(10)),
                        "1:1: signal: unknown key \"signal\" (did you mean \"signals\"?)"));
}

TEST(SignalFileTest, RepeatedKeysAreErrors) {
  const std::string text = signalFile() + "    type: marginal\n";
  EXPECT_TRUE(failsWith(parseSignalFile(text, minutes(10)),
                        "7:5: signals[0].type: duplicate key \"type\""));
}

TEST(SignalFileTest, TheDocumentMustHoldAListOfSignals) {
  EXPECT_TRUE(failsWith(parseSignalFile("", minutes(10)), "empty document"));
  EXPECT_TRUE(failsWith(parseSignalFile("# nothing yet\n", minutes(10)), "empty document"));
  EXPECT_TRUE(failsWith(parseSignalFile("- region: eu-west-1\n", minutes(10)),
                        "1:1: expected a map, got a list"));
  EXPECT_TRUE(failsWith(parseSignalFile("{}", minutes(10)), "1:1: missing key \"signals\""));
  EXPECT_TRUE(failsWith(parseSignalFile("signals: {}\n", minutes(10)),
                        "1:10: signals: expected a list, got a map"));
  EXPECT_TRUE(failsWith(parseSignalFile("signals: []\n", minutes(10)),
                        "1:10: signals: no signals (the list is empty)"));
  EXPECT_TRUE(failsWith(parseSignalFile("signals:\n  - eu-west-1\n", minutes(10)),
                        "2:5: signals[0]: expected a map, got \"eu-west-1\""));
}

TEST(SignalFileTest, SyntaxErrorsCarryYamlCppsPosition) {
  // An unclosed flow sequence: yaml-cpp gives up at the last thing it read.
  EXPECT_TRUE(failsWith(
      parseSignalFile("signals:\n  - region: [eu-west-1\n    intensity: 1\n", minutes(10)),
      "3:14: end of sequence flow not found"));
  // A tab where YAML wants spaces: yaml-cpp points at the '-' after it.
  EXPECT_TRUE(failsWith(parseSignalFile("signals:\n\t- region: eu-west-1\n", minutes(10)),
                        "2:2: illegal block entry"));
}

TEST(SignalFileTest, ATypoInAJsonFileIsPlacedToo) {
  EXPECT_TRUE(failsWith(parseSignalFile(fixture("signals_mistyped.json"), minutes(10)),
                        "5:20: signals[0].intensity: expected a number (gCO2eq/kWh), got "
                        "\"212.5\""));
}

TEST(SignalFileTest, OneSignalPerLocalityTypeAndFactor) {
  const std::string entry =
      "  - region: eu-west-1\n"
      "    intensity: 200\n"
      "    type: average\n"
      "    emission_factor: lifecycle\n"
      "    observed_at: 2024-05-01T12:00:00Z\n";
  EXPECT_TRUE(failsWith(parseSignalFile("signals:\n" + entry + entry, minutes(10)),
                        "7:5: signals[1]: a second signal for region \"eu-west-1\" (average, "
                        "lifecycle); the first is signals[0] at line 2"));

  // Another zone, type or factor is another signal.
  std::string others = "signals:\n" + entry;
  others +=
      "  - {region: eu-west-1, zone: eu-west-1b, intensity: 1, type: average, "
      "emission_factor: lifecycle, observed_at: 2024-05-01T12:00:00Z}\n";
  others +=
      "  - {region: eu-west-1, intensity: 2, type: marginal, emission_factor: lifecycle, "
      "observed_at: 2024-05-01T12:00:00Z}\n";
  others +=
      "  - {region: eu-west-1, intensity: 3, type: average, emission_factor: direct, "
      "observed_at: 2024-05-01T12:00:00Z}\n";
  const ParseResult result = parseSignalFile(others, minutes(10));
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.signals.size(), 4u);
  EXPECT_EQ(result.signals[1].locality.zone, "eu-west-1b");
  EXPECT_EQ(result.signals[2].type, CarbonSignalType::Marginal);
  EXPECT_EQ(result.signals[3].factor, EmissionFactor::Direct);
}

TEST(SignalFileTest, OneBadEntryDropsTheWholeFile) {
  std::string text = signalFile();
  text +=
      "  - {region: eu-north-1, intensity: -1, type: average, emission_factor: lifecycle, "
      "observed_at: 2024-05-01T12:00:00Z}\n";
  EXPECT_TRUE(failsWith(parseSignalFile(text, minutes(10)),
                        "7:37: signals[1].intensity: must not be negative, got -1"));
}

// ---- Electricity Maps -------------------------------------------------------------------------

const config::Locality kFrankfurt{"eu-central-1", "eu-central-1a"};

ParseResult parseEm(const std::string& text, std::string_view expected_zone = {}) {
  return parseElectricityMaps(text, kFrankfurt, minutes(60), expected_zone);
}

// fixtures/electricitymaps_latest.json with one field changed (or removed: a discarded value).
std::string emWith(const std::string& key, const json& value) {
  json body = json::parse(fixture("electricitymaps_latest.json"));
  if (value.is_discarded()) {
    body.erase(key);
  } else {
    body[key] = value;
  }
  return body.dump();
}

const json kRemoved = json(json::value_t::discarded);

TEST(ElectricityMapsTest, ReadsTheLatestIntensity) {
  const ParseResult result = parseEm(fixture("electricitymaps_latest.json"), "DE");
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.signals.size(), 1u);
  const CarbonSignal& signal = result.signals[0];
  EXPECT_EQ(signal.locality.region, "eu-central-1");
  EXPECT_EQ(signal.locality.zone, "eu-central-1a");
  EXPECT_EQ(signal.intensity, 302.0);
  EXPECT_EQ(signal.type, CarbonSignalType::Average);
  EXPECT_EQ(signal.factor, EmissionFactor::Lifecycle);
  EXPECT_EQ(signal.source, "electricitymaps");
  EXPECT_TRUE(signal.is_estimated);
  EXPECT_EQ(signal.observed_at, utc(2019, 5, 21));
  EXPECT_EQ(signal.ttl, minutes(60));
  EXPECT_EQ(result.ignored, 0u);
}

TEST(ElectricityMapsTest, ReadsTheDirectFactorAndAMeasuredValue) {
  const ParseResult result = parseEm(fixture("electricitymaps_direct.json"));
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.signals.size(), 1u);
  EXPECT_EQ(result.signals[0].intensity, 31.5);
  EXPECT_EQ(result.signals[0].factor, EmissionFactor::Direct);
  EXPECT_FALSE(result.signals[0].is_estimated);
  EXPECT_EQ(result.signals[0].observed_at, utc(2024, 3, 10, 14));
}

TEST(ElectricityMapsTest, OlderAnswersWithoutFactorOrEstimateAreLifecycleAndMeasured) {
  const ParseResult result = parseEm(fixture("electricitymaps_legacy.json"), "SE-SE3");
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.signals.size(), 1u);
  EXPECT_EQ(result.signals[0].intensity, 18.0);
  EXPECT_EQ(result.signals[0].factor, EmissionFactor::Lifecycle);
  EXPECT_FALSE(result.signals[0].is_estimated);
  EXPECT_EQ(result.signals[0].observed_at, utc(2022, 11, 2, 9));
}

TEST(ElectricityMapsTest, ANullIntensityIsAnError) {
  EXPECT_TRUE(failsWith(parseEm(fixture("electricitymaps_null.json")),
                        "electricitymaps: carbonIntensity: null: Electricity Maps has no value for "
                        "zone \"IN-NO\""));
}

TEST(ElectricityMapsTest, AnErrorBodyIsAnError) {
  EXPECT_TRUE(
      failsWith(parseEm(fixture("electricitymaps_error.json")),
                "electricitymaps: the API answered an error: Zone 'XX' does not exist or is "
                "not available with your API token."));
  EXPECT_TRUE(failsWith(parseEm(R"({"error":"Unauthorized"})"),
                        "electricitymaps: the API answered an error: Unauthorized"));
}

TEST(ElectricityMapsTest, MalformedBodiesAreErrors) {
  EXPECT_TRUE(
      failsWith(parseEm(fixture("electricitymaps_truncated.json")),
                "electricitymaps: not valid JSON: parse error at line 1, column 69: "
                "syntax error while parsing value - invalid string: missing closing quote"));
  EXPECT_TRUE(failsWith(parseEm(""), "electricitymaps: empty body"));
  EXPECT_TRUE(failsWith(parseEm(" \r\n"), "electricitymaps: empty body"));
  EXPECT_TRUE(failsWith(parseEm("<html><body>502 Bad Gateway</body></html>"),
                        "electricitymaps: not valid JSON: parse error at line 1, column 1"));
  EXPECT_TRUE(failsWith(parseEm(R"({"carbonIntensity":1e999})"),
                        "electricitymaps: not valid JSON: number overflow parsing '1e999'"));
  EXPECT_TRUE(failsWith(parseEm("[]"), "electricitymaps: expected a JSON object, got an array"));
}

TEST(ElectricityMapsTest, FieldsAreChecked) {
  EXPECT_TRUE(failsWith(parseEm(emWith("carbonIntensity", "302")),
                        "electricitymaps: carbonIntensity: expected a number (gCO2eq/kWh), got "
                        "\"302\""));
  EXPECT_TRUE(failsWith(parseEm(emWith("carbonIntensity", -1)),
                        "electricitymaps: carbonIntensity: must not be negative, got -1"));
  EXPECT_TRUE(failsWith(parseEm(emWith("carbonIntensity", kRemoved)),
                        "electricitymaps: missing field \"carbonIntensity\""));
  EXPECT_TRUE(failsWith(parseEm(emWith("datetime", kRemoved)),
                        "electricitymaps: missing field \"datetime\""));
  EXPECT_TRUE(failsWith(parseEm(emWith("datetime", "2019-05-21 00:00")),
                        "electricitymaps: datetime: not an RFC 3339 time: \"2019-05-21 00:00\""));
  EXPECT_TRUE(failsWith(parseEm(emWith("datetime", 1558396800)),
                        "electricitymaps: datetime: expected a string, got 1558396800"));
  EXPECT_TRUE(failsWith(parseEm(emWith("emissionFactorType", "scope3")),
                        "electricitymaps: emissionFactorType: unknown emission factor \"scope3\" "
                        "(expected lifecycle or direct)"));
  EXPECT_TRUE(failsWith(parseEm(emWith("isEstimated", "true")),
                        "electricitymaps: isEstimated: expected true or false, got \"true\""));
  EXPECT_TRUE(
      failsWith(parseEm(emWith("zone", kRemoved)), "electricitymaps: missing field \"zone\""));
  // null for the optional fields is their absence.
  const ParseResult nulls = parseEm(emWith("isEstimated", nullptr));
  ASSERT_TRUE(nulls.ok()) << nulls.error;
  EXPECT_FALSE(nulls.signals.at(0).is_estimated);
}

TEST(ElectricityMapsTest, TheZoneMustBeTheOneAskedFor) {
  EXPECT_TRUE(failsWith(parseEm(fixture("electricitymaps_latest.json"), "FR"),
                        "electricitymaps: zone: expected \"FR\", got \"DE\""));
}

TEST(ElectricityMapsTest, TheLocalityNeedsARegion) {
  EXPECT_TRUE(failsWith(
      parseElectricityMaps(fixture("electricitymaps_latest.json"), config::Locality{}, minutes(60)),
      "electricitymaps: the locality has no region"));
}

TEST(ElectricityMapsTest, TheUrlIsAlwaysByZone) {
  EXPECT_EQ(electricityMapsUrl("https://api.electricitymap.org", "DE"),
            "https://api.electricitymap.org/v3/carbon-intensity/latest?zone=DE");
  EXPECT_EQ(electricityMapsUrl("https://api.electricitymap.org//", "US-CAL-CISO"),
            "https://api.electricitymap.org/v3/carbon-intensity/latest?zone=US-CAL-CISO");
  EXPECT_EQ(electricityMapsUrl("http://127.0.0.1:8080", "A B&lat=1"),
            "http://127.0.0.1:8080/v3/carbon-intensity/latest?zone=A%20B%26lat%3D1");
  EXPECT_EQ(electricityMapsUrl("https://api.electricitymap.org", ""), std::nullopt);
  EXPECT_EQ(electricityMapsUrl("", "DE"), std::nullopt);
  EXPECT_EQ(electricityMapsUrl("/", "DE"), std::nullopt);
}

TEST(ElectricityMapsTest, TheTokenGoesInAuthToken) {
  EXPECT_EQ(electricityMapsHeaders("s3cr3t"), (HttpHeaders{{"auth-token", "s3cr3t"}}));
}

// ---- Carbon Aware SDK -------------------------------------------------------------------------

const std::map<std::string, config::Locality> kAzure = {
    {"eastus", {"us-east", ""}},
    {"westus", {"us-west", "us-west-1"}},
    {"westeurope", {"eu-west", ""}},
};

ParseResult parseSdk(const std::string& text) {
  return parseCarbonAwareSdk(text, kAzure, minutes(10));
}

TEST(CarbonAwareSdkTest, KeepsTheLatestValuePerMappedLocation) {
  const ParseResult result = parseSdk(fixture("carbon_aware_bylocations.json"));
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.signals.size(), 3u);
  EXPECT_EQ(result.ignored, 1u);  // northeurope, twice

  // In the payload's order of first appearance.
  const CarbonSignal& east = result.signals[0];
  EXPECT_EQ(east.locality.region, "us-east");
  EXPECT_EQ(east.locality.zone, "");
  EXPECT_EQ(east.intensity, 65.0);  // 14:45 over 14:40
  EXPECT_EQ(east.type, CarbonSignalType::Marginal);
  EXPECT_EQ(east.factor, EmissionFactor::Direct);
  EXPECT_EQ(east.source, "carbon-aware-sdk");
  EXPECT_FALSE(east.is_estimated);
  EXPECT_EQ(east.observed_at, utc(2022, 6, 1, 14, 45));
  EXPECT_EQ(east.ttl, minutes(5));  // from duration

  // The older westus entry comes after the newer one: still the newer wins.
  const CarbonSignal& west = result.signals[1];
  EXPECT_EQ(west.locality.region, "us-west");
  EXPECT_EQ(west.locality.zone, "us-west-1");
  EXPECT_EQ(west.intensity, 312.25);
  EXPECT_EQ(west.observed_at, utc(2022, 6, 1, 14, 45));
  EXPECT_EQ(west.ttl, hours(8));

  // No duration: the caller's ttl. Its time is at +02:00.
  const CarbonSignal& europe = result.signals[2];
  EXPECT_EQ(europe.locality.region, "eu-west");
  EXPECT_EQ(europe.intensity, 250.0);
  EXPECT_EQ(europe.observed_at, utc(2022, 6, 1, 14, 45));
  EXPECT_EQ(europe.ttl, minutes(10));
}

TEST(CarbonAwareSdkTest, TypeAndFactorAreTheCallers) {
  const ParseResult result =
      parseCarbonAwareSdk(fixture("carbon_aware_bylocations.json"), kAzure, minutes(10),
                          CarbonSignalType::Average, EmissionFactor::Lifecycle);
  ASSERT_TRUE(result.ok()) << result.error;
  for (const CarbonSignal& signal : result.signals) {
    EXPECT_EQ(signal.type, CarbonSignalType::Average);
    EXPECT_EQ(signal.factor, EmissionFactor::Lifecycle);
  }
}

TEST(CarbonAwareSdkTest, NothingMappedIsAnError) {
  const ParseResult result = parseCarbonAwareSdk(fixture("carbon_aware_bylocations.json"),
                                                 {{"uksouth", {"uk-south", ""}}}, minutes(10));
  EXPECT_TRUE(failsWith(result,
                        "carbon-aware-sdk: none of the payload's locations is mapped (got "
                        "\"eastus\", \"westus\", \"northeurope\", \"westeurope\")"));
  EXPECT_EQ(result.ignored, 4u);
}

TEST(CarbonAwareSdkTest, AProblemDescriptionIsAnError) {
  EXPECT_TRUE(failsWith(parseSdk(fixture("carbon_aware_problem.json")),
                        "carbon-aware-sdk: the API answered an error: One or more validation "
                        "errors occurred. (status 400); location: The location field is "
                        "required."));
}

TEST(CarbonAwareSdkTest, TheBodyMustBeANonEmptyArray) {
  EXPECT_TRUE(failsWith(parseSdk("[]"), "carbon-aware-sdk: no emissions data (an empty array)"));
  EXPECT_TRUE(failsWith(parseSdk("{}"), "carbon-aware-sdk: expected a JSON array, got an object"));
  EXPECT_TRUE(failsWith(parseSdk(R"([{"location":"eastus")"),
                        "carbon-aware-sdk: not valid JSON: parse error at line 1, column 22: "
                        "syntax error while parsing object - unexpected end of input"));
  EXPECT_TRUE(failsWith(parseSdk("[1]"), "carbon-aware-sdk: [0]: expected an object, got 1"));
}

// One entry of a bylocations answer: the valid fields, with `key` changed (or removed).
std::string sdkWith(const std::string& key, const json& value) {
  json entry = {{"location", "eastus"},
                {"time", "2022-06-01T14:45:00+00:00"},
                {"rating", 65.0},
                {"duration", "00:05:00"}};
  if (value.is_discarded()) {
    entry.erase(key);
  } else {
    entry[key] = value;
  }
  return json::array({entry}).dump();
}

TEST(CarbonAwareSdkTest, EntriesAreChecked) {
  EXPECT_TRUE(failsWith(parseSdk(sdkWith("rating", kRemoved)),
                        "carbon-aware-sdk: [0]: missing field \"rating\""));
  EXPECT_TRUE(failsWith(parseSdk(sdkWith("rating", -3)),
                        "carbon-aware-sdk: [0].rating: must not be negative, got -3"));
  EXPECT_TRUE(failsWith(parseSdk(sdkWith("rating", nullptr)),
                        "carbon-aware-sdk: [0].rating: expected a number (gCO2eq/kWh), got null"));
  EXPECT_TRUE(failsWith(parseSdk(sdkWith("time", "2022-06-01T14:45:00")),
                        "carbon-aware-sdk: [0].time: not an RFC 3339 time: "
                        "\"2022-06-01T14:45:00\""));
  EXPECT_TRUE(failsWith(parseSdk(sdkWith("location", "")),
                        "carbon-aware-sdk: [0].location: must not be empty"));
  EXPECT_TRUE(failsWith(parseSdk(sdkWith("location", 7)),
                        "carbon-aware-sdk: [0].location: expected a string, got 7"));
}

TEST(CarbonAwareSdkTest, ABadEntryOfAnUnmappedLocationIsStillAnError) {
  const std::string text = R"([
    {"location":"eastus","time":"2022-06-01T14:45:00+00:00","rating":65.0},
    {"location":"northeurope","time":"yesterday","rating":120.0}
  ])";
  EXPECT_TRUE(
      failsWith(parseSdk(text), "carbon-aware-sdk: [1].time: not an RFC 3339 time: \"yesterday\""));
}

TEST(CarbonAwareSdkTest, DurationIsADotNetTimeSpan) {
  auto ttlOf = [](const json& duration) {
    const ParseResult result = parseSdk(sdkWith("duration", duration));
    EXPECT_TRUE(result.ok()) << result.error;
    return result.ok() ? result.signals.at(0).ttl : seconds(-1);
  };
  EXPECT_EQ(ttlOf("08:00:00"), hours(8));
  EXPECT_EQ(ttlOf("00:00:30"), seconds(30));
  EXPECT_EQ(ttlOf("00:05:00.0000000"), minutes(5));
  EXPECT_EQ(ttlOf("1.02:00:00"), hours(26));
  EXPECT_EQ(ttlOf(nullptr), minutes(10));  // null: the caller's ttl

  for (const char* bad : {"8h", "8:00:00", "24:00:00", "00:60:00", "00:00:60", "-00:05:00", "00:05",
                          "1.2:00:00", "00:05:00.", "PT5M"}) {
    EXPECT_TRUE(failsWith(parseSdk(sdkWith("duration", bad)),
                          "carbon-aware-sdk: [0].duration: expected a time span such as "
                          "\"08:00:00\", got \"" +
                              std::string(bad) + "\""))
        << bad;
  }
  EXPECT_TRUE(failsWith(parseSdk(sdkWith("duration", "00:00:00")),
                        "carbon-aware-sdk: [0].duration: must be positive, got \"00:00:00\""));
  EXPECT_TRUE(failsWith(parseSdk(sdkWith("duration", 300)),
                        "carbon-aware-sdk: [0].duration: expected a string, got 300"));
}

TEST(CarbonAwareSdkTest, EveryMappedLocalityNeedsARegion) {
  EXPECT_TRUE(failsWith(parseCarbonAwareSdk(fixture("carbon_aware_bylocations.json"),
                                            {{"eastus", config::Locality{}}}, minutes(10)),
                        "carbon-aware-sdk: location \"eastus\" maps to a locality without a "
                        "region"));
}

// ---- UK Carbon Intensity ----------------------------------------------------------------------

const config::Locality kLondon{"eu-west-2", ""};

ParseResult parseUk(const std::string& text, seconds ttl = minutes(10)) {
  return parseUkCarbonIntensity(text, kLondon, ttl);
}

TEST(UkCarbonIntensityTest, ReadsTheActualNationalIntensity) {
  const ParseResult result = parseUk(fixture("uk_intensity.json"));
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.signals.size(), 1u);
  const CarbonSignal& signal = result.signals[0];
  EXPECT_EQ(signal.locality.region, "eu-west-2");
  EXPECT_EQ(signal.locality.zone, "");
  EXPECT_EQ(signal.intensity, 263.0);  // actual, not the forecast 266
  EXPECT_EQ(signal.type, CarbonSignalType::Average);
  EXPECT_EQ(signal.factor, EmissionFactor::Direct);
  EXPECT_EQ(signal.source, "uk-carbon-intensity");
  EXPECT_FALSE(signal.is_estimated);
  EXPECT_EQ(signal.observed_at, utc(2018, 1, 20, 12));
  EXPECT_EQ(signal.ttl, minutes(30));  // to - from, larger than the 10 minutes given
  EXPECT_EQ(result.ignored, 0u);
}

TEST(UkCarbonIntensityTest, ALargerGivenTtlWins) {
  const ParseResult result = parseUk(fixture("uk_intensity.json"), hours(1));
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.signals.at(0).ttl, hours(1));
}

TEST(UkCarbonIntensityTest, WithoutAnActualTheForecastIsAnEstimate) {
  const ParseResult result = parseUk(fixture("uk_intensity_forecast.json"));
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.signals.size(), 1u);
  EXPECT_EQ(result.signals[0].intensity, 121.0);
  EXPECT_TRUE(result.signals[0].is_estimated);
  EXPECT_EQ(result.signals[0].observed_at, utc(2024, 3, 10, 14));
  EXPECT_EQ(result.signals[0].ttl, minutes(30));
}

TEST(UkCarbonIntensityTest, ReadsOneRegion) {
  const ParseResult result = parseUk(fixture("uk_regional.json"));
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.signals.size(), 1u);
  const CarbonSignal& signal = result.signals[0];
  EXPECT_EQ(signal.locality.region, "eu-west-2");
  EXPECT_EQ(signal.intensity, 189.0);  // regional periods only have forecasts
  EXPECT_TRUE(signal.is_estimated);
  EXPECT_EQ(signal.type, CarbonSignalType::Average);
  EXPECT_EQ(signal.factor, EmissionFactor::Direct);
  EXPECT_EQ(signal.source, "uk-carbon-intensity");
  EXPECT_EQ(signal.observed_at, utc(2018, 5, 15, 11, 30));
  EXPECT_EQ(signal.ttl, minutes(30));
}

TEST(UkCarbonIntensityTest, ReadsTheForwardRegionalShape) {
  const std::string text = R"({"data":{"regionid":13,"shortname":"London","data":[
      {"from":"2018-05-15T11:30Z","to":"2018-05-15T12:00Z",
       "intensity":{"forecast":189,"index":"moderate"}}
  ]}})";
  const ParseResult result = parseUk(text);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.signals.at(0).intensity, 189.0);
  EXPECT_EQ(result.signals.at(0).observed_at, utc(2018, 5, 15, 11, 30));
}

TEST(UkCarbonIntensityTest, OfSeveralPeriodsTheLatestCounts) {
  const std::string text = R"({"data":[
      {"from":"2018-01-20T12:30Z","to":"2018-01-20T13:00Z",
       "intensity":{"forecast":250,"actual":null}},
      {"from":"2018-01-20T12:00Z","to":"2018-01-20T12:30Z",
       "intensity":{"forecast":266,"actual":263}}
  ]})";
  const ParseResult result = parseUk(text);
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.signals.size(), 1u);
  EXPECT_EQ(result.signals[0].intensity, 250.0);
  EXPECT_TRUE(result.signals[0].is_estimated);
  EXPECT_EQ(result.signals[0].observed_at, utc(2018, 1, 20, 12, 30));
}

TEST(UkCarbonIntensityTest, AnErrorBodyIsAnError) {
  EXPECT_TRUE(failsWith(parseUk(fixture("uk_error.json")),
                        "uk-carbon-intensity: the API answered an error: 400 Bad Request: Please "
                        "enter a valid region ID i.e. 1-17."));
}

// fixtures/uk_intensity.json with its period's `key` (a JSON pointer below data/0) changed.
std::string ukWith(const std::string& pointer, const json& value) {
  json body = json::parse(fixture("uk_intensity.json"));
  const json::json_pointer at("/data/0" + pointer);
  if (value.is_discarded()) {
    body[at.parent_pointer()].erase(at.back());
  } else {
    body[at] = value;
  }
  return body.dump();
}

TEST(UkCarbonIntensityTest, PeriodsAreChecked) {
  EXPECT_TRUE(failsWith(parseUk(ukWith("/to", "2018-01-20T12:00Z")),
                        "uk-carbon-intensity: data[0].to: must be after \"from\""));
  EXPECT_TRUE(failsWith(parseUk(ukWith("/from", "2018-01-20 12:00")),
                        "uk-carbon-intensity: data[0].from: not an RFC 3339 time: "
                        "\"2018-01-20 12:00\""));
  EXPECT_TRUE(failsWith(parseUk(ukWith("/to", kRemoved)),
                        "uk-carbon-intensity: data[0]: missing field \"to\""));
  EXPECT_TRUE(failsWith(parseUk(ukWith("/intensity", kRemoved)),
                        "uk-carbon-intensity: data[0]: missing field \"intensity\""));
  EXPECT_TRUE(failsWith(parseUk(ukWith("/intensity", 263)),
                        "uk-carbon-intensity: data[0].intensity: expected an object, got 263"));
  EXPECT_TRUE(failsWith(parseUk(ukWith("/intensity/actual", "263")),
                        "uk-carbon-intensity: data[0].intensity.actual: expected a number "
                        "(gCO2eq/kWh), got \"263\""));
  EXPECT_TRUE(failsWith(parseUk(ukWith("/intensity/forecast", -1)),
                        "uk-carbon-intensity: data[0].intensity.forecast: must not be negative, "
                        "got -1"));
  json neither = json::parse(fixture("uk_intensity.json"));
  neither["data"][0]["intensity"] = {{"forecast", nullptr}, {"actual", nullptr}, {"index", "low"}};
  EXPECT_TRUE(failsWith(parseUk(neither.dump()),
                        "uk-carbon-intensity: data[0].intensity: neither \"actual\" nor "
                        "\"forecast\" has a value"));
}

TEST(UkCarbonIntensityTest, TheBodyMustHoldPeriods) {
  EXPECT_TRUE(failsWith(parseUk("{}"), "uk-carbon-intensity: missing field \"data\""));
  EXPECT_TRUE(failsWith(parseUk(R"({"data":[]})"),
                        "uk-carbon-intensity: data: no periods (an empty array)"));
  EXPECT_TRUE(failsWith(parseUk(R"({"data":"x"})"),
                        "uk-carbon-intensity: data: expected an array, got \"x\""));
  EXPECT_TRUE(failsWith(parseUk(R"({"data":[{"regionid":13,"shortname":"London"}]})"),
                        "uk-carbon-intensity: data[0]: missing field \"data\""));
  EXPECT_TRUE(
      failsWith(parseUk(R"({"data":[{"regionid":13,"data":[]},{"regionid":14,"data":[]}]})"),
                "uk-carbon-intensity: data: expected one region (/regional/regionid/N), "
                "got 2"));
  EXPECT_TRUE(failsWith(parseUk(R"({"data":[{"regionid":13,"data":[]}]})"),
                        "uk-carbon-intensity: data[0].data: no periods (an empty array)"));
  EXPECT_TRUE(failsWith(parseUk(R"({"data":[{"from":"2018-01-20T12:00Z")"),
                        "uk-carbon-intensity: not valid JSON"));
  EXPECT_TRUE(
      failsWith(parseUk("[]"), "uk-carbon-intensity: expected a JSON object, got an array"));
}

}  // namespace
}  // namespace strait::carbon
