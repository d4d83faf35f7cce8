// Optimizer benchmark: our exact min-cost-flow solve beside LEMON's
// NetworkSimplex and GLPK's glpsol on the same generated instances
// (regions x PoPs, K = 8 candidates per region out of 16 measured), with
// objectives compared, plus the warm re-solve after 1% of path costs change.
//
//   cmake --preset release && cmake --build --preset release -j2 --target optimizer_benchmark
//   build/release/bench/optimizer_benchmark [--glpsol_max_regions=N] [--session_only] [--n1]
//       [--warm_only=ROUNDS]
//
// The comparison table (best of three runs, same process, same instance; process
// CPU ms for in-process solvers, wall ms for the glpsol child incl. parsing)
// is printed first; then the whole Optimize() warm (OptimizerSession) after
// 1% of path costs change beside a cold Optimize() and LEMON on the same LP
// (CPU and wall ms, with the load average: the machine may be shared); then
// Google Benchmark repeats our and LEMON's solves.
#include <benchmark/benchmark.h>
#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "graph/instance_generator.h"
#include "optimizer/network_simplex.h"
#include "optimizer/optimizer_session.h"
#include "optimizer/weight_optimizer.h"

namespace {

using vantage::optimizer::NetworkSimplex;

constexpr double kOverloadPenalty = 1e5;

// The optimizer's LP for one instance (no current weights, no N-1): regions
// -> candidate PoPs -> sink, with an overload arc per PoP.
struct Transport {
  int regions = 0;
  int pops = 0;
  std::vector<NetworkSimplex::ArcSpec> arcs;
  std::vector<double> supply;
  std::vector<int> region_arc_begin;  // arcs of region r: [begin[r], begin[r + 1])
  std::vector<int> tree_arc;
  std::vector<int> upper_arcs;
  double optimize_ms = 0;  // vantage::optimizer::Optimize end to end (N-1 off)
  double optimize_objective = 0;
};

struct Size {
  int regions;
  int pops;
};

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Process CPU time in ms: the machine is shared, wall time is noisy.
double CpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// The LP that `result` solved (its candidates, costs and usable capacities;
// no current weights), as a transportation network.
std::unique_ptr<Transport> TransportOf(const vantage::optimizer::OptimizationResult* result,
                                       Size size) {
  auto t = std::make_unique<Transport>();
  t->optimize_objective = result->lp_objective;
  t->regions = size.regions;
  t->pops = size.pops;
  const int sink = t->regions + t->pops;
  t->supply.assign(static_cast<size_t>(sink) + 1, 0.0);
  t->tree_arc.assign(static_cast<size_t>(sink) + 1, -1);
  std::vector<double> load(static_cast<size_t>(t->pops), 0.0);
  double total = 0;
  for (const auto& plan : result->regions) {
    t->region_arc_begin.push_back(static_cast<int>(t->arcs.size()));
    // Greedy start: the whole region on its cheapest candidate (candidates
    // are sorted by cost), as the optimizer does.
    t->tree_arc[static_cast<size_t>(plan.region)] = static_cast<int>(t->arcs.size());
    load[static_cast<size_t>(plan.candidates.front().pop)] += plan.solved_demand;
    for (const auto& c : plan.candidates) {
      t->arcs.push_back({plan.region, t->regions + c.pop, NetworkSimplex::kInfinity, c.cost_ms});
    }
    t->supply[static_cast<size_t>(plan.region)] = plan.solved_demand;
    total += plan.solved_demand;
  }
  t->region_arc_begin.push_back(static_cast<int>(t->arcs.size()));
  for (int p = 0; p < t->pops; ++p) {
    const double e = result->pops[static_cast<size_t>(p)].usable;
    const int cap_arc = static_cast<int>(t->arcs.size());
    t->arcs.push_back({t->regions + p, sink, e, 0.0});
    t->arcs.push_back({t->regions + p, sink, NetworkSimplex::kInfinity, kOverloadPenalty});
    if (load[static_cast<size_t>(p)] < e) {
      t->tree_arc[static_cast<size_t>(t->regions) + static_cast<size_t>(p)] = cap_arc;
    } else {
      t->tree_arc[static_cast<size_t>(t->regions) + static_cast<size_t>(p)] = cap_arc + 1;
      t->upper_arcs.push_back(cap_arc);
    }
  }
  t->supply[static_cast<size_t>(sink)] = -total;
  return t;
}

// The generated instance every table uses, and its optimizer settings (K = 8).
vantage::graph::AnycastGraph BenchInstance(Size size) {
  return vantage::graph::GenerateInstance({.regions = size.regions,
                                           .pops = size.pops,
                                           .paths_per_region = 16,
                                           .capacity_factor = 1.4,
                                           .seed = 42});
}

// --n1: the session table (and --warm_only) run with N-1 headroom on.
bool bench_n1 = false;

vantage::optimizer::OptimizerConfig BenchConfig() {
  vantage::optimizer::OptimizerConfig cfg;
  cfg.n1_headroom = false;
  cfg.candidates_per_region = 8;
  return cfg;
}

std::unique_ptr<Transport> Build(Size size) {
  const auto g = BenchInstance(size);
  const vantage::optimizer::OptimizerConfig cfg = BenchConfig();
  const double t0 = CpuMs();
  auto result = vantage::optimizer::Optimize(g, cfg, g.snapshot_time());
  const double t1 = CpuMs();
  if (!result.ok()) {
    std::fprintf(stderr, "optimize failed: %s\n", std::string(result.status().message()).c_str());
    std::exit(1);
  }
  auto t = TransportOf(&*result, size);
  t->optimize_ms = t1 - t0;
  return t;
}

Transport& Instance(Size size) {
  static std::map<std::pair<int, int>, std::unique_ptr<Transport>> cache;
  auto& slot = cache[{size.regions, size.pops}];
  if (!slot) slot = Build(size);
  return *slot;
}

struct OurSolve {
  std::unique_ptr<NetworkSimplex> simplex;
  double objective = 0;
  double ms = 0;
};

OurSolve SolveOurs(const Transport& t) {
  OurSolve s;
  const double t0 = CpuMs();
  s.simplex = std::make_unique<NetworkSimplex>(t.regions + t.pops + 1, t.arcs, t.supply);
  const absl::Status st = s.simplex->Solve(t.regions + t.pops, t.tree_arc, t.upper_arcs);
  s.ms = CpuMs() - t0;
  if (!st.ok()) {
    std::fprintf(stderr, "our solve failed: %s\n", std::string(st.message()).c_str());
    std::exit(1);
  }
  s.objective = s.simplex->Objective();
  return s;
}

struct LemonSolve {
  double objective = 0;
  double ms = 0;
};

LemonSolve SolveLemon(const Transport& t, const std::vector<double>* costs = nullptr) {
  const double t0 = CpuMs();
  lemon::SmartDigraph g;
  const int n = t.regions + t.pops + 1;
  g.reserveNode(n);
  g.reserveArc(static_cast<int>(t.arcs.size()));
  std::vector<lemon::SmartDigraph::Node> nodes;
  nodes.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) nodes.push_back(g.addNode());
  lemon::SmartDigraph::ArcMap<double> cap(g), cost(g);
  lemon::SmartDigraph::NodeMap<double> supply(g);
  for (size_t a = 0; a < t.arcs.size(); ++a) {
    const auto& spec = t.arcs[a];
    auto arc =
        g.addArc(nodes[static_cast<size_t>(spec.source)], nodes[static_cast<size_t>(spec.target)]);
    cap[arc] = std::isinf(spec.capacity) ? std::numeric_limits<double>::infinity() : spec.capacity;
    cost[arc] = costs != nullptr ? (*costs)[a] : spec.cost;
  }
  for (int i = 0; i < n; ++i)
    supply[nodes[static_cast<size_t>(i)]] = t.supply[static_cast<size_t>(i)];
  // LEMON sums supplies in its own node order; in doubles that sum may come
  // out a hair above zero, which its default GEQ form rejects as infeasible.
  // Let the sink absorb a hair more: the optimum is unchanged.
  supply[nodes.back()] *= 1 + 1e-12;
  lemon::NetworkSimplex<lemon::SmartDigraph, double, double> ns(g);
  ns.upperMap(cap).costMap(cost).supplyMap(supply);
  const auto status = ns.run();
  LemonSolve s;
  s.ms = CpuMs() - t0;
  if (status != lemon::NetworkSimplex<lemon::SmartDigraph, double, double>::OPTIMAL) {
    std::fprintf(stderr, "LEMON: not optimal (%d)\n", static_cast<int>(status));
    std::exit(1);
  }
  s.objective = ns.totalCost<double>();
  return s;
}

struct GlpkSolve {
  double objective = std::nan("");
  double ms = 0;
};

GlpkSolve SolveGlpk(const Transport& t) {
  const std::string path = absl::StrFormat("/tmp/vt-bench-%d.lp", getpid());
  {
    std::ofstream lp(path);
    lp << "Minimize\n obj:";
    for (size_t a = 0; a < t.arcs.size(); ++a) {
      lp << absl::StrFormat(" + %.17g x%d", t.arcs[a].cost, a);
      if (a % 8 == 7) lp << "\n";
    }
    lp << "\nSubject To\n";
    // Flow conservation: out - in = supply.
    std::vector<std::string> rows(t.supply.size());
    for (size_t a = 0; a < t.arcs.size(); ++a) {
      rows[static_cast<size_t>(t.arcs[a].source)] += absl::StrFormat(" + x%d", a);
      rows[static_cast<size_t>(t.arcs[a].target)] += absl::StrFormat(" - x%d", a);
    }
    for (size_t v = 0; v < rows.size(); ++v) {
      lp << " n" << v << ":" << rows[v] << absl::StrFormat(" = %.17g\n", t.supply[v]);
    }
    lp << "Bounds\n";
    for (size_t a = 0; a < t.arcs.size(); ++a) {
      if (std::isfinite(t.arcs[a].capacity)) {
        lp << absl::StrFormat(" 0 <= x%d <= %.17g\n", a, t.arcs[a].capacity);
      }
    }
    lp << "End\n";
  }
  GlpkSolve s;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string cmd =
      absl::StrFormat("glpsol --lp %s -w %s.sol > %s.log 2>&1", path, path, path);
  const int rc = std::system(cmd.c_str());
  s.ms = Ms(std::chrono::steady_clock::now() - t0);
  std::ifstream sol(path + ".sol");
  std::string line;
  while (rc == 0 && std::getline(sol, line)) {
    if (line.rfind("s bas", 0) == 0) {
      char prim = 0, dual = 0;
      int rows = 0, cols = 0;
      double obj = 0;
      if (std::sscanf(line.c_str(), "s bas %d %d %c %c %lf", &rows, &cols, &prim, &dual, &obj) ==
              5 &&
          prim == 'f' && dual == 'f') {
        s.objective = obj;
      }
    }
  }
  std::remove(path.c_str());
  std::remove((path + ".sol").c_str());
  std::remove((path + ".log").c_str());
  return s;
}

// 1% of the region -> PoP arcs get a new cost (x U(0.8, 1.2)), deterministic.
std::vector<std::pair<int, double>> CostChanges(const Transport& t) {
  std::vector<std::pair<int, double>> changes;
  uint64_t state = 7;
  const int region_arcs = t.region_arc_begin.back();
  const int count = std::max(1, region_arcs / 100);
  for (int i = 0; i < count; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const int a = static_cast<int>((state >> 33) % static_cast<uint64_t>(region_arcs));
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double f = 0.8 + 0.4 * static_cast<double>(state >> 11) * 0x1.0p-53;
    changes.emplace_back(a, t.arcs[static_cast<size_t>(a)].cost * f);
  }
  return changes;
}

bool Same(double a, double b) { return std::fabs(a - b) <= 1e-6 * std::max(1.0, std::fabs(b)); }

double LoadAverage() {
  double load[1] = {0};
  return getloadavg(load, 1) == 1 ? load[0] : -1;
}

const Size kSizes[] = {{1000, 50}, {10000, 300}, {50000, 500}};
int glpsol_max_regions = 10000;

void PrintComparison() {
  std::printf("LP solve alone (load average %.1f)\n", LoadAverage());
  std::printf("%-13s %8s %10s %10s %7s %10s %10s %11s %11s %10s  %s\n", "instance", "arcs",
              "ours_ms", "lemon_ms", "ratio", "glpsol_ms", "optim_ms", "warm_ms", "lemon_re_ms",
              "pivots", "objectives (ours | lemon | glpsol | warm vs lemon)");
  for (const Size& size : kSizes) {
    Transport& t = Instance(size);
    // Best of three alternating runs each: the machine is shared.
    OurSolve ours = SolveOurs(t);
    LemonSolve lemon = SolveLemon(t);
    for (int rep = 0; rep < 2; ++rep) {
      OurSolve o = SolveOurs(t);
      if (o.ms < ours.ms) ours = std::move(o);
      LemonSolve l = SolveLemon(t);
      if (l.ms < lemon.ms) lemon = l;
    }
    const int64_t cold_pivots = ours.simplex->pivots();
    GlpkSolve glpk;
    if (size.regions <= glpsol_max_regions) glpk = SolveGlpk(t);
    // Warm: 1% of costs change, re-solve from the last basis.
    const auto changes = CostChanges(t);
    std::vector<double> costs;
    for (const auto& a : t.arcs) costs.push_back(a.cost);
    for (const auto& [a, c] : changes) costs[static_cast<size_t>(a)] = c;
    const double w0 = CpuMs();
    for (const auto& [a, c] : changes) ours.simplex->SetCost(a, c);
    const absl::Status st = ours.simplex->Resolve();
    const double warm_ms = CpuMs() - w0;
    if (!st.ok()) std::exit(1);
    LemonSolve lemon_re = SolveLemon(t, &costs);
    const bool ok = Same(ours.objective, lemon.objective) &&
                    (std::isnan(glpk.objective) || Same(ours.objective, glpk.objective)) &&
                    Same(ours.simplex->Objective(), lemon_re.objective) &&
                    Same(t.optimize_objective, lemon.objective);
    std::printf(
        "%6dx%-6d %8zu %10.1f %10.1f %7.2f %10s %10.1f %11.2f %11.1f %10lld  %.10g | %.10g | %s | "
        "%.10g vs %.10g %s\n",
        size.regions, size.pops, t.arcs.size(), ours.ms, lemon.ms, ours.ms / lemon.ms,
        std::isnan(glpk.objective) ? "-" : absl::StrFormat("%.0f", glpk.ms).c_str(), t.optimize_ms,
        warm_ms, lemon_re.ms, static_cast<long long>(cold_pivots), ours.objective, lemon.objective,
        std::isnan(glpk.objective) ? "skipped" : absl::StrFormat("%.10g", glpk.objective).c_str(),
        ours.simplex->Objective(), lemon_re.objective, ok ? "EQUAL" : "** MISMATCH **");
  }
  std::fflush(stdout);
}

// 1% of the graph's paths (every 100th) get their RTTs scaled by a
// deterministic factor in [0.8, 1.2]: new measurements, so new path costs.
void PerturbPaths(vantage::graph::AnycastGraph& g, uint64_t salt) {
  int i = 0;
  uint64_t state = salt;
  for (const vantage::graph::Path* path : g.AllPaths()) {
    if (i++ % 100 != 0) continue;
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double f = 0.8 + 0.4 * static_cast<double>(state >> 11) * 0x1.0p-53;
    vantage::graph::Measurement m = path->measurements.front();
    m.rtt_p50_ms *= f;
    m.rtt_p90_ms *= f;
    m.rtt_p99_ms *= f;
    if (!g.RecordMeasurement(path->pop, path->region, m).ok()) std::exit(1);
  }
}

bool SameWeights(const vantage::optimizer::OptimizationResult& a,
                 const vantage::optimizer::OptimizationResult& b) {
  if (a.regions.size() != b.regions.size() || a.objective != b.objective) return false;
  for (size_t r = 0; r < a.regions.size(); ++r) {
    const auto& wa = a.regions[r].weights;
    const auto& wb = b.regions[r].weights;
    if (wa.size() != wb.size()) return false;
    for (size_t k = 0; k < wa.size(); ++k) {
      if (wa[k].pop != wb[k].pop || wa[k].parts != wb[k].parts) return false;
    }
  }
  return true;
}

// The whole Optimize() path (candidates, cost model, LP, rounding loop with
// its re-solves, report), N-1 off: stateless cold, then an OptimizerSession
// re-optimising after 1% of path measurements change (five rounds), each
// checked against a cold Optimize() of the same graph (weights identical).
// LEMON solves the LP of the last warm result (same candidates, costs and
// usable capacities) cold beside it; its objective must equal the warm
// result's lp_objective. CPU = this process's CPU time; wall beside it.
void PrintSessionComparison() {
  std::printf(
      "\nwhole Optimize(), 1%% of path costs changed (cpu ms / wall ms; load = 1-min load "
      "average)\n%-13s %5s %15s %17s %17s %6s %8s %15s  %s\n",
      "instance", "load", "cold cpu/wall", "warm cpu min/max", "warm wall min/max", "solves",
      "changes", "lemon cpu/wall", "objectives: warm lp | lemon ; warm vs cold Optimize()");
  for (const Size& size : kSizes) {
    auto g = BenchInstance(size);
    vantage::optimizer::OptimizerConfig cfg = BenchConfig();
    cfg.n1_headroom = bench_n1;
    const double load_before = LoadAverage();
    double t0 = CpuMs();
    auto w0 = std::chrono::steady_clock::now();
    auto cold = vantage::optimizer::Optimize(g, cfg, g.snapshot_time());
    const double cold_ms = CpuMs() - t0;
    const double cold_wall = Ms(std::chrono::steady_clock::now() - w0);
    vantage::optimizer::OptimizerSession session(cfg);
    auto first = session.Optimize(g, g.snapshot_time());
    if (!cold.ok() || !first.ok()) std::exit(1);
    double warm_min = 1e300, warm_max = 0, wall_min = 1e300, wall_max = 0;
    int64_t changes = 0;
    int solves = 0;
    bool identical = SameWeights(*first, *cold);
    bool all_warm = true;
    std::unique_ptr<Transport> last;
    for (uint64_t round = 1; round <= 5; ++round) {
      PerturbPaths(g, round);
      t0 = CpuMs();
      w0 = std::chrono::steady_clock::now();
      auto warm = session.Optimize(g, g.snapshot_time());
      const double ms = CpuMs() - t0;
      const double wall = Ms(std::chrono::steady_clock::now() - w0);
      if (!warm.ok()) std::exit(1);
      warm_min = std::min(warm_min, ms);
      warm_max = std::max(warm_max, ms);
      wall_min = std::min(wall_min, wall);
      wall_max = std::max(wall_max, wall);
      changes = std::max(changes, session.last_cost_changes());
      solves = std::max(solves, session.last_solves());
      all_warm = all_warm && session.last_warm();
      auto check = vantage::optimizer::Optimize(g, cfg, g.snapshot_time());
      identical = identical && check.ok() && SameWeights(*warm, *check);
      if (round == 5) last = TransportOf(&*warm, size);
    }
    w0 = std::chrono::steady_clock::now();
    const LemonSolve lemon = SolveLemon(*last);
    const double lemon_wall = Ms(std::chrono::steady_clock::now() - w0);
    const double load = std::max(load_before, LoadAverage());
    std::printf(
        "%6dx%-6d %5.1f %7.1f/%-7.1f %8.1f/%-8.1f %8.1f/%-8.1f %6d %8lld %7.1f/%-7.1f  "
        "%.10g | %.10g %s ; %s%s\n",
        size.regions, size.pops, load, cold_ms, cold_wall, warm_min, warm_max, wall_min, wall_max,
        solves, static_cast<long long>(changes), lemon.ms, lemon_wall, last->optimize_objective,
        lemon.objective,
        Same(last->optimize_objective, lemon.objective) ? "EQUAL" : "** MISMATCH **",
        identical ? "IDENTICAL" : "** DIFFERENT **", all_warm ? "" : " (not all warm)");
  }
  std::fflush(stdout);
}

// --warm_only=ROUNDS: 50,000 x 500 only, one session, ROUNDS warm calls
// after 1% of path costs change, each timed (no cold checks): for profiling.
void PrintWarmOnly(int rounds) {
  const Size size = kSizes[2];
  auto g = BenchInstance(size);
  vantage::optimizer::OptimizerConfig cfg = BenchConfig();
  cfg.n1_headroom = bench_n1;
  vantage::optimizer::OptimizerSession session(cfg);
  double t0 = CpuMs();
  if (!session.Optimize(g, g.snapshot_time()).ok()) std::exit(1);
  std::printf("%dx%d n1=%d first %.1f ms cpu (load %.1f)\n", size.regions, size.pops,
              bench_n1 ? 1 : 0, CpuMs() - t0, LoadAverage());
  for (int round = 1; round <= rounds; ++round) {
    PerturbPaths(g, static_cast<uint64_t>(round));
    t0 = CpuMs();
    const auto w0 = std::chrono::steady_clock::now();
    auto warm = session.Optimize(g, g.snapshot_time());
    const double ms = CpuMs() - t0;
    const double wall = Ms(std::chrono::steady_clock::now() - w0);
    if (!warm.ok()) std::exit(1);
    std::printf("warm %d: %.1f ms cpu, %.1f ms wall, solves %d, warm %d, objective %.10g\n", round,
                ms, wall, session.last_solves(), session.last_warm() ? 1 : 0, warm->objective);
  }
  std::fflush(stdout);
}

void BM_Ours(benchmark::State& state) {
  Transport& t = Instance(kSizes[state.range(0)]);
  for (auto _ : state) {
    OurSolve s = SolveOurs(t);
    benchmark::DoNotOptimize(s.objective);
  }
}

void BM_Lemon(benchmark::State& state) {
  Transport& t = Instance(kSizes[state.range(0)]);
  for (auto _ : state) {
    LemonSolve s = SolveLemon(t);
    benchmark::DoNotOptimize(s.objective);
  }
}

void BM_OursWarm1Percent(benchmark::State& state) {
  Transport& t = Instance(kSizes[state.range(0)]);
  const auto changes = CostChanges(t);
  for (auto _ : state) {
    state.PauseTiming();
    OurSolve s = SolveOurs(t);
    state.ResumeTiming();
    for (const auto& [a, c] : changes) s.simplex->SetCost(a, c);
    benchmark::DoNotOptimize(s.simplex->Resolve().ok());
  }
}

BENCHMARK(BM_Ours)->DenseRange(0, 2)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Lemon)->DenseRange(0, 2)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_OursWarm1Percent)->DenseRange(0, 2)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--glpsol_max_regions=", 21) == 0) {
      glpsol_max_regions = std::atoi(argv[i] + 21);
    }
  }
  bool session_only = false;
  int warm_only = 0;
  for (int i = 1; i < argc; ++i) {
    session_only = session_only || std::strcmp(argv[i], "--session_only") == 0;
    bench_n1 = bench_n1 || std::strcmp(argv[i], "--n1") == 0;
    if (std::strncmp(argv[i], "--warm_only=", 12) == 0) warm_only = std::atoi(argv[i] + 12);
  }
  if (warm_only > 0) {
    PrintWarmOnly(warm_only);
    return 0;
  }
  if (!session_only) PrintComparison();
  PrintSessionComparison();
  if (session_only) return 0;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
