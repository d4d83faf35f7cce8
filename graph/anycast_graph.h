// AnycastGraph: the model the optimizer reads. PoP vertices (capacity, health,
// current load), region vertices (prefixes, demand, current weights) and
// PoP->region path edges carrying the latest measurement per method.
//
// Contract:
//  - A path that was never measured, or whose every measurement expired, is
//    MISSING: FindPath() returns nullptr and PathsOfRegion() leaves it out.
//    A missing path never has a cost; the optimizer treats it as "no route".
//  - Freshness: a measurement's samples decay with `FreshnessPolicy::half_life`
//    (FreshSamples); ExpireStale(now) drops measurements older than `expiry`
//    and removes paths left without measurements. Time is always an explicit
//    `now` (taken from a core/Clock by the caller), never read here.
//  - Ids are dense: PopId in [0, pop_count()), RegionId in [0, region_count()),
//    assigned in insertion order; names are unique per kind.
//  - Boost.Graph is an implementation detail: the public API is plain structs.
//
// Thread model: a value type (copyable, movable). Not synchronised: const
// methods may run concurrently, mutation needs external exclusion.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/ip_address.h"

namespace vantage::graph {

using PopId = int32_t;
using RegionId = int32_t;

// How a measurement was taken. kDns measurements carry `dns_ms`.
enum class Method : uint8_t { kIcmp, kTcp, kStamp, kPassive, kDns };
inline constexpr Method kAllMethods[] = {Method::kIcmp, Method::kTcp, Method::kStamp,
                                         Method::kPassive, Method::kDns};
absl::string_view MethodName(Method method);
absl::StatusOr<Method> ParseMethod(absl::string_view name);

// The latest aggregate of one method on one path.
struct Measurement {
  Method method = Method::kIcmp;
  double rtt_p50_ms = 0;
  double rtt_p90_ms = 0;
  double rtt_p99_ms = 0;
  double loss = 0;               // fraction of probes lost, [0, 1]
  std::optional<double> dns_ms;  // DNS resolution time, when measured
  uint64_t samples = 0;          // probes behind the quantiles
  absl::Time updated = absl::UnixEpoch();

  friend bool operator==(const Measurement&, const Measurement&) = default;
};

struct Pop {
  std::string name{};
  double capacity = 0;  // traffic units (same unit as region demand)
  bool healthy = true;
  double load = 0;      // currently observed load, same unit
  double latitude = 0;  // for pictures and instance generation only
  double longitude = 0;

  friend bool operator==(const Pop&, const Pop&) = default;
};

struct PopWeight {
  PopId pop = 0;
  double weight = 0;
  friend bool operator==(const PopWeight&, const PopWeight&) = default;
};

struct Region {
  std::string name{};
  std::vector<Prefix> prefixes{};
  double demand = 0;
  // The weights routers use now (sorted by pop, each > 0, summing to 1), or
  // empty when the region has none yet.
  std::vector<PopWeight> current_weights{};
  double latitude = 0;
  double longitude = 0;

  friend bool operator==(const Region&, const Region&) = default;
};

struct Path {
  PopId pop = 0;
  RegionId region = 0;
  // Which anycast instance answered probes sent from this PoP towards the
  // region (e.g. an NSID); empty when unknown.
  std::string catchment{};
  // At most one per method, sorted by method.
  std::vector<Measurement> measurements{};

  friend bool operator==(const Path&, const Path&) = default;
};

struct FreshnessPolicy {
  // Samples count half as much after this age.
  absl::Duration half_life = absl::Minutes(5);
  // Measurements older than this are dropped by ExpireStale().
  absl::Duration expiry = absl::Minutes(15);
  friend bool operator==(const FreshnessPolicy&, const FreshnessPolicy&) = default;
};

class AnycastGraph {
 public:
  AnycastGraph();
  ~AnycastGraph();
  AnycastGraph(const AnycastGraph& other);
  AnycastGraph& operator=(const AnycastGraph& other);
  AnycastGraph(AnycastGraph&& other) noexcept;
  AnycastGraph& operator=(AnycastGraph&& other) noexcept;

  // Errors: duplicate or empty name, negative or non-finite numbers.
  absl::StatusOr<PopId> AddPop(Pop pop);
  absl::StatusOr<RegionId> AddRegion(Region region);

  int pop_count() const;
  int region_count() const;
  const Pop& pop(PopId id) const;
  const Region& region(RegionId id) const;
  std::optional<PopId> FindPop(absl::string_view name) const;
  std::optional<RegionId> FindRegion(absl::string_view name) const;

  absl::Status SetPopCapacity(PopId id, double capacity);
  absl::Status SetPopHealthy(PopId id, bool healthy);
  absl::Status SetPopLoad(PopId id, double load);
  absl::Status SetRegionDemand(RegionId id, double demand);
  // Weights must name distinct valid PoPs, be > 0 and sum to 1 (within 1e-9);
  // they are stored sorted by pop.
  absl::Status SetCurrentWeights(RegionId id, std::vector<PopWeight> weights);

  // Stores `m` as the latest measurement of its method on pop->region,
  // creating the path if it was missing. An older measurement than the one
  // stored is ignored (returns OK). Errors: bad ids, non-finite values,
  // quantiles out of order, loss outside [0, 1].
  absl::Status RecordMeasurement(PopId pop, RegionId region, const Measurement& m);
  absl::Status SetCatchment(PopId pop, RegionId region, std::string catchment);

  // nullptr when the path is missing.
  const Path* FindPath(PopId pop, RegionId region) const;
  // The region's non-missing paths, sorted by pop.
  std::vector<const Path*> PathsOfRegion(RegionId region) const;
  // The same without the copy: valid until the graph's paths change.
  const std::vector<const Path*>& RegionPaths(RegionId region) const;
  // Per path of RegionPaths(region) (same order): a process-wide unique
  // stamp of the path's state, renewed whenever the path is created or its
  // measurements or catchment change (expiry included), and kept by a copy
  // of the graph. Equal stamps mean an equal path, so a consumer may reuse
  // what it derived from the path (the optimizer's path costs).
  const std::vector<uint64_t>& PathRevisionsOfRegion(RegionId region) const;
  // Every non-missing path, sorted by (region, pop).
  std::vector<const Path*> AllPaths() const;
  size_t path_count() const;

  const FreshnessPolicy& freshness() const;
  void set_freshness(const FreshnessPolicy& policy);
  // samples * 2^(-age / half_life); age below zero counts as zero.
  double FreshSamples(const Measurement& m, absl::Time now) const;
  // Drops measurements with now - updated > expiry; returns how many.
  int ExpireStale(absl::Time now);

  // A process-wide unique stamp of the region's state: it changes whenever
  // the region (demand, current weights) or one of its paths (creation,
  // measurements, catchment, expiry) changes (setting equal weights is no
  // change). A copy of the graph keeps the
  // stamps (same content); any other graph never shows the same stamp, so
  // equal stamps mean an equal region and paths (the optimizer's warm
  // session reuses a region's candidates on that basis).
  uint64_t region_revision(RegionId id) const;

  // When the snapshot was taken; the `now` a snapshot's consumer uses.
  absl::Time snapshot_time() const;
  void set_snapshot_time(absl::Time t);

  // Graphviz DOT (boost::write_graphviz): PoPs as boxes, regions as ellipses,
  // paths labelled with the median RTT of their freshest measurement.
  std::string ToDot() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vantage::graph
