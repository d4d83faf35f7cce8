#!/usr/bin/env bash
# The closed loop in the lab: Vantage measuring an emulated anycast network,
# choosing weights, and pushing them through ExaBGP into FRR. Needs root
# (network namespaces) and a build (build/default, or VANTAGE_BUILD_DIR).
#
#   tools/lab-demo.sh [--keep] [--e2e] [--prefix P] [--run-dir DIR]
#                     [--window SECONDS] [--period SECONDS] [--topology FILE]
#                     [--soak SECONDS] [--loss-half-life SECONDS]
#
#   1. vantage-lab up: one namespace per PoP, region and router; a user-space
#      emulator gives every PoP<->region link its delay, jitter and loss.
#      vantage-lab bgp: FRR (the router) and ExaBGP (the PoPs' BGP speaker)
#      in the router namespace. vantage-collector (SQLite, control loop on)
#      in the router namespace; vantage-probe in every PoP (ICMP toward the
#      region hosts, DNS toward the anycast DNS address, passive capture of
#      client TCP traffic on the PoP's interface), streaming over mTLS.
#      vantage-lab traffic in every region: TCP connections to the PoPs,
#      split like the router's FIB weights for the region's service prefix.
#   Then it prints:
#   (1) the measured PoP x region RTT and loss matrix (the collector's graph)
#       beside the emulated truth;
#   (2) the weights the control loop chose per region, with predicted PoP
#       loads against their ceilings;
#   (3) the router's FIB read back from FRR (ip route), beside the weights;
#       with --soak S: S seconds with nothing changed, and every weight change
#       the loop pushed meanwhile (noise the loop should not follow; the
#       collector smooths loss across windows, --loss-half-life, default 30);
#   (4) a degraded link (vantage-lab set-link) and the weights and FIB moving,
#       timed; then a failed PoP and every other PoP under its ceiling.
#   Everything is removed on exit or Ctrl-C, unless --keep.
#   --e2e: headless checks of every step (exit 1 on a failed check; used by
#   `ctest -L e2e`); a unique prefix and run dir unless given.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${VANTAGE_BUILD_DIR:-build/default}
[[ $build == /* ]] || build="$root/$build"
bin="$build/tools"
topology="$root/lab/topologies/example.yaml"
keep=0 e2e=0 prefix="" run="" window=2 period=5 stability=20 soak=0 loss_half_life=30
while [[ $# -gt 0 ]]; do
  case $1 in
    --keep) keep=1; shift ;;
    --e2e) e2e=1; shift ;;
    --prefix) prefix=$2; shift 2 ;;
    --run-dir) run=$2; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --period) period=$2; shift 2 ;;
    --topology) topology=$(realpath "$2"); shift 2 ;;
    --soak) soak=$2; shift 2 ;;
    --loss-half-life) loss_half_life=$2; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "lab-demo: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for b in vantage-lab vantagectl vantage-probe vantage-collector vantage-exabgp-relay; do
  [[ -x $bin/$b ]] || { echo "lab-demo: $bin/$b is missing: build first" >&2; exit 1; }
done
if [[ $(id -u) -ne 0 ]]; then
  echo "lab-demo: needs root (network namespaces)" >&2
  ((e2e)) && exit 77  # ctest: skipped
  exit 1
fi
if ((e2e)); then
  prefix=${prefix:-vte$$-}
  run=${run:-/tmp/vantage-e2e-$$}
fi
prefix=${prefix:-vt-}
if [[ -z $run ]]; then run=$(mktemp -d /tmp/vantage-demo.XXXXXX); fi
mkdir -p "$run"
chmod 755 "$run"  # FRR drops to user frr and must reach its files below
run=$(realpath "$run")
labrun=$run/lab

lab() { local cmd=$1; shift; "$bin/vantage-lab" "$cmd" --run-dir "$labrun" "$@"; }
ctl_status_cmd() {
  echo "$bin/vantagectl status --collector ${collector_ip:-}:${grpc_port:-} --server-name vantage-collector" \
    "--ca $run/certs/ca.crt --cert $run/certs/vantagectl.crt --key $run/certs/vantagectl.key"
}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
failures=0
check() {  # check "description" command...: in --e2e mode a failure is counted
  local what=$1; shift
  if "$@" >/dev/null; then
    ((e2e)) && printf '  ok    %s\n' "$what"
  else
    printf '  FAIL  %s\n' "$what"
    failures=$((failures + 1))
  fi
  return 0
}
now() { date +%s.%N; }

no_processes_left() {  # nothing but this script refers to the run directory
  local p
  for p in $(pgrep -f -- "$run/" || true); do
    [[ $p == "$$" || $p == "$BASHPID" ]] || { ps -o pid=,args= -p "$p"; return 1; }
  done
}
pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((keep)); then
    echo
    echo "--keep: everything is still running (run dir $run). Try:"
    echo "  ip netns exec ${prefix}router $(ctl_status_cmd)"
    echo "  $bin/vantage-lab fib --run-dir $labrun --prefix 198.19.10.0/24"
    echo "  remove it with: $bin/vantage-lab down --run-dir $labrun; rm -rf $run"
    exit "$rc"
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  lab down >/dev/null 2>&1 || lab down || true
  if ((e2e)); then
    local left
    left=$(ip netns list | grep -c "^$prefix" || true)
    check "nothing left behind: no ${prefix}* namespaces" test "$left" -eq 0
    check "nothing left behind: no processes of this run" no_processes_left
    if ((failures > 0 && rc == 0)); then rc=1; fi
    echo "lab-demo --e2e: $failures failed check(s)"
  fi
  [[ $rc -eq 0 || -n ${VANTAGE_KEEP_TEST_DIR:-} ]] || echo "logs kept in $run"
  if [[ $rc -eq 0 && -z ${VANTAGE_KEEP_TEST_DIR:-} ]]; then rm -rf "$run"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- bring-up
step "1. The lab, BGP, the collector, the probes and client traffic"
lab up --topology "$topology" --prefix "$prefix"
status=$(lab status --json)
mapfile -t pops < <(jq -r '.pops[].name' <<<"$status")
mapfile -t regions < <(jq -r '.regions[].name' <<<"$status")
echo "PoPs: ${pops[*]}    regions: ${regions[*]}    namespaces: $prefix*"

lab bgp --relay-socket "$run/exabgp.sock"
status=$(lab status --json)
router_ns=$(jq -r '.bgp.router_ns' <<<"$status")
collector_ip=$(jq -r '.router.addresses[] | select(test(":") | not)' <<<"$status" | head -1)

"$root/tools/gen-certs.sh" "$run/certs" --server-name vantage-collector \
  $(printf 'probe-%s ' "${pops[@]}") vantagectl >/dev/null

svc4() { echo "198.19.$((10 + $1)).0/24"; }   # region index -> its service prefixes
svc6() { echo "2001:db8:100:$1::/64"; }
{
  echo "listen: \"$collector_ip:0\""
  echo "metrics_listen: \"127.0.0.1:9464\""
  echo "database: $run/collector.db"
  echo "tls: {cert: $run/certs/collector.crt, key: $run/certs/collector.key, client_ca: $run/certs/ca.crt}"
  echo "probes:"
  for p in "${pops[@]}"; do echo "  - {id: probe-$p, pop: $p}"; done
  echo "operators: [vantagectl]"
  echo "control:"
  echo "  adapter: {type: exabgp, socket: $run/exabgp.sock}"
  echo "  asn: 65000"
  echo "  period: ${period}s"
  echo "  check_interval: 1s"
  echo "  significant_change: 0.1"
  echo "  stability_cost_ms: $stability"
  echo "  n1_headroom: false"
  echo "  max_series_age: $((5 * window))s"
  echo "  loss_half_life: ${loss_half_life}s"
  echo "  state_dir: $run/state"
  echo "  observed_load: {settle: ${window}s, min_flows: 50}"
  echo "  guardrails: {max_weight_shift: 1, min_interval: 2s, max_telemetry_age: 20s,"
  echo "               rollback_margin: 0.2, rollback_hold: 1m, freeze_file: $run/push.freeze}"
  echo "  pops:"
  jq -r --argjson st "$status" '.pops[] | .name as $n | ($st.bgp.sessions[] | select(.pop == $n)) as $s |
    "    - {name: \($n), capacity: \(.capacity), neighbor: \($s.neighbor), next_hop_v4: \($s.next_hop_v4), next_hop_v6: \"\($s.next_hop_v6)\"}"' \
    <<<"$status"
  echo "  regions:"
  i=0
  for r in "${regions[@]}"; do
    jq -r --arg r "$r" --arg v4 "$(svc4 $i)" --arg v6 "$(svc6 $i)" '.regions[] | select(.name == $r) |
      "    - {name: \(.name), demand: \(.demand), prefixes: [\([.addresses[] | if test(":") then "\"\(.)/128\"" else "\(.)/32" end] | join(", "))], service_prefixes: [\($v4), \"\($v6)\"]}"' \
      <<<"$status"
    i=$((i + 1))
  done
} >"$run/collector.yaml"
"$bin/vantage-collector" -c "$run/collector.yaml" --check-config >/dev/null
ip netns exec "$router_ns" "$bin/vantage-collector" -c "$run/collector.yaml" \
  --ready-file "$run/collector.ready" >"$run/collector.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do [[ -s $run/collector.ready ]] && break; sleep 0.05; done
[[ -s $run/collector.ready ]] || { echo "lab-demo: the collector did not start:"; tail "$run/collector.log"; exit 1; }
read -r grpc_port _ <"$run/collector.ready"

dns=$(jq -r '.pops[0].services[] | select(test(":") | not)' <<<"$status" | head -1)
zone=$(grep -E '^\s*dns_zone:' "$topology" | awk '{print $2}')
tcp_port=$(grep -E '^\s*tcp_port:' "$topology" | awk '{print $2}')
for p in "${pops[@]}"; do
  {
    echo "identity: {probe_id: probe-$p, pop: $p}"
    echo "collector: {target: \"$collector_ip:$grpc_port\", ca: $run/certs/ca.crt,"
    echo "            cert: $run/certs/probe-$p.crt, key: $run/certs/probe-$p.key, server_name: vantage-collector}"
    echo "spool: {dir: $run/spool-$p}"
    echo "window: ${window}s"
    echo "metrics_listen: \"\""
    echo "active:"
    echo "  interval: 20ms"
    echo "  timeout: 1s"
    echo "  targets:"
    jq -r '.regions[] | "    - {address: \(.addresses[] | select(test(":") | not)), methods: [icmp]}"' <<<"$status"
    echo "passive:"
    echo "  interface: vt0"
    echo "  local_prefixes: [$(jq -r --arg p "$p" '.pops[] | select(.name == $p) | [.addresses[], .services[]] | map(if test(":") then "\"\(.)/128\"" else "\(.)/32" end) | join(", ")' <<<"$status")]"
    echo "  local_ports: [${tcp_port:-80}]"
    echo "dns: {servers: [\"$dns:53\"], names: [${zone:-lab.vantage.test}], types: [SOA], interval: 1s, nsid: true}"
  } >"$run/probe-$p.yaml"
  "$bin/vantage-probe" -c "$run/probe-$p.yaml" --check-config >/dev/null
  ip netns exec "$prefix$p" "$bin/vantage-probe" -c "$run/probe-$p.yaml" >"$run/probe-$p.log" 2>&1 &
  pids+=($!)
done

i=0
for r in "${regions[@]}"; do
  demand=$(jq -r --arg r "$r" '.regions[] | select(.name == $r) | .demand' <<<"$status")
  catchment=$(jq -r --arg r "$r" '.regions[] | select(.name == $r) | .catchment' <<<"$status")
  fallback=$(jq -r --arg p "$catchment" '.pops[] | select(.name == $p) | .addresses[0]' <<<"$status")
  lab traffic --region "$r" --prefix "$(svc4 $i)" --fallback "$fallback" \
    --rate "$(jq -n --argjson d "$demand" '$d / 100')" --seconds 900 --port "${tcp_port:-80}" \
    --seed $((i + 1)) >"$run/traffic-$r.log" 2>&1 &
  pids+=($!)
  i=$((i + 1))
done
echo "collector on $collector_ip:$grpc_port (router namespace); ${#pops[@]} probes (window ${window}s);"
echo "control loop every ${period}s (and on a weight move >= 10%); ExaBGP -> FRR; traffic from ${#regions[@]} regions"

# ---------------------------------------------------------------- helpers
step_json() { cat "$run/state/step.json" 2>/dev/null || echo '{}'; }
prefixes_of() {  # region index -> "v4 v6"
  echo "$(svc4 "$1") $(svc6 "$1")"
}
# The router's whole BGP FIB, one read: {prefix: {next hop: share}}.
fib_all() {
  { ip -n "$router_ns" -j -4 route show proto bgp; ip -n "$router_ns" -j -6 route show proto bgp; } |
    jq -s 'add | map({key: .dst, value: (if .nexthops then
        ((.nexthops | map(.weight) | add) as $t | .nexthops | map({key: .gateway, value: (.weight / $t)}) | from_entries)
      else {(.gateway): 1} end)}) | from_entries'
}
# 0 when the FIB shares of prefix $1 (or of every prefix, "") equal the pushed
# state in step JSON $2 (within 0.02: FRR rounds weights to integers).
fib_prefix_matches() {
  jq -e --argjson fib "$(fib_all)" --arg only "$1" '
    [.pushed_state.prefixes[] | select($only == "" or .prefix == $only)] as $ps
    | ($ps | length) > 0 and all($ps[]; . as $p
      | ([$p.routes[] | select(.weight > 0) | {key: .next_hop, value: .weight}] | from_entries) as $want
      | ($fib[$p.prefix] // {}) as $got
      | ($want | keys) == ($got | keys) and all($want | to_entries[]; (.value - $got[.key]) | fabs <= 0.02))' \
    <<<"$2" >/dev/null
}
# 0 when the FIB of every service prefix equals the pushed state.
fib_matches_push() { fib_prefix_matches "" "$(step_json)"; }
# The loop has converged: the optimizer's weights are the pushed ones and the
# FIB has them.
converged_once() {
  step_json | jq -e '.pushed_state != null and (. as $s | all(.pushed_state.prefixes[]; . as $p |
    all($p.routes[]; (.weight - ($s.optimized_weights[$p.region][.pop] // 0)) | fabs < 1e-6)))' \
    >/dev/null && fib_matches_push
}
all_pops_healthy() {
  step_json | jq -e '.pops != null and ([.pops[] | .healthy] | all)' >/dev/null
}
wait_for() {  # seconds command... -> 0 once the command succeeds
  local limit=$1; shift
  local end=$(($(date +%s) + limit))
  while (($(date +%s) < end)); do
    "$@" && return 0
    sleep 0.2
  done
  return 1
}
truth_rtt() {  # pop region -> configured round trip (ms)
  jq -r --arg p "$1" --arg r "$2" '
    [.emulator.links[] | select((.from == $p and .to == $r) or (.from == $r and .to == $p))
     | .params.delay_ms] | add' <<<"$(lab status --json)"
}
print_matrix() {  # step.json
  local s=$1 st r p
  st=$(lab status --json)
  printf '%-12s' "REGION"
  for p in "${pops[@]}"; do printf '%-30s' "$p: rtt ms (truth) loss"; done
  echo
  for r in "${regions[@]}"; do
    printf '%-12s' "$r"
    for p in "${pops[@]}"; do
      printf '%-30s' "$(jq -r --arg r "$r" --arg p "$p" --argjson st "$st" '
        ([$st.emulator.links[] | select((.from == $p and .to == $r) or (.from == $r and .to == $p))]
         | {rtt: (map(.params.delay_ms) | add), loss: (1 - (map(1 - .params.loss) | .[0] * .[1]))}) as $t
        | ([.snapshot.paths[] | select(.pop == $p and .region == $r) | .measurements[]
            | select(.method == "icmp")] | first) as $m
        | if $m == null then "-  (\($t.rtt))"
          else "\($m.rtt_p50_ms * 100 | round / 100) (\($t.rtt)) \($m.loss * 1000 | round / 10)%" end' <<<"$s")"
    done
    echo
  done
}
print_weights() {  # step.json
  jq -r '
    "REGION        WEIGHTS (optimizer)",
    (.optimized_weights | to_entries[] | "\(.key | . + " " * (14 - length))\(.value | to_entries | map("\(.key)=\(.value * 1000 | round / 10)%") | join("  "))"),
    "",
    "POP      PREDICTED LOAD   CEILING    CAPACITY   UTIL    HEALTHY  OBSERVED (passive)",
    (. as $s | .pops | to_entries[] | "\(.key | . + " " * (8 - length)) \(.value.predicted_load | round | tostring | . + " " * (16 - length)) \(.value.ceiling | round | tostring | . + " " * (10 - length)) \(.value.capacity | round | tostring | . + " " * (10 - length)) \(if .value.capacity > 0 then (.value.predicted_load / .value.capacity * 1000 | round / 10 | tostring) + "%" else "-" end | . + " " * (7 - length)) \(.value.healthy)     \($s.observed_loads[.key] // "-" | if type == "number" then round else . end)")' <<<"$1"
}
print_fib() {
  local i=0 r
  for r in "${regions[@]}"; do
    echo "$r  $(svc4 $i):"
    lab fib --prefix "$(svc4 $i)"
    i=$((i + 1))
  done
  echo "(IPv6 service prefixes 2001:db8:100:<n>::/64 carry the same weights: vantage-lab fib --prefix ...)"
}

# ---------------------------------------------------------------- (1)-(3)
step "Waiting for the first windows, the first push and FRR's FIB (up to 90 s)"
stepped() { jq -e '.result' "$run/state/step.json" >/dev/null 2>&1; }
if ! wait_for 90 stepped; then
  echo "lab-demo: the control loop made no step; see $run/collector.log"; exit 1
fi
t_start=$(now)
ok=0
wait_for 90 all_pops_healthy && wait_for 90 converged_once && ok=1
check "converged: all PoPs healthy, pushed weights = optimizer's, FIB = pushed" test $ok -eq 1
printf 'converged %.1f s after the first control step\n' "$(jq -n --argjson a "$t_start" --argjson b "$(now)" '$b - $a')"
s=$(step_json)
printf "%s\n" "$s" >"$run/step-initial.json"
echo
echo "vantagectl status (in the router namespace):"
# shellcheck disable=SC2046
ip netns exec "$router_ns" $(ctl_status_cmd) || true

step "(1) Measured RTT matrix (collector's latest windows, ICMP p50) beside the emulated truth"
print_matrix "$s"
if ((e2e)); then
  bad=$(jq -r --argjson st "$(lab status --json)" '
    [ .snapshot.paths[] as $path | $path.measurements[] | select(.method == "icmp") | . as $m
      | ([$st.emulator.links[] | select((.from == $path.pop and .to == $path.region) or
                                       (.from == $path.region and .to == $path.pop))]) as $l
      | ($l | map(.params.delay_ms) | add) as $rtt | ($l | map(.params.jitter_ms) | add) as $jit
      | ($l | map(.params.loss) | add) as $loss
      | select((($m.rtt_p50_ms - $rtt) | fabs) > ([1, 0.05 * $rtt] | max) + $jit
               or (($m.loss - $loss) | fabs) > 0.2)
      | "\($path.pop)-\($path.region): \($m.rtt_p50_ms) ms vs \($rtt), loss \($m.loss) vs \($loss)" ]
    | join("; ")' <<<"$s")
  npaths=$(jq '[.snapshot.paths[] | .measurements[] | select(.method == "icmp")] | length' <<<"$s")
  check "matrix: all $((${#pops[@]} * ${#regions[@]})) paths measured" test "$npaths" -eq $((${#pops[@]} * ${#regions[@]}))
  check "matrix within tolerance of the truth (|p50 - rtt| <= max(1 ms, 5%) + jitter) ${bad:+($bad)}" test -z "$bad"
fi

step "(2) Weights per region and predicted PoP loads (control loop step $(jq -r '.step' <<<"$s"); weights as pushed)"
print_weights "$s"
if ((e2e)); then
  jq '.snapshot' <<<"$s" >"$run/snapshot-initial.json"
  "$bin/vantagectl" optimize --input "$run/snapshot-initial.json" --stability-ms "$stability" --no-n1 --json \
    >"$run/optimize-initial.json"
  check "weights optimal: equal to vantagectl optimize on the same snapshot" \
    jq -e --slurpfile o "$run/optimize-initial.json" '
      . as $s | all($o[0].regions[]; . as $r |
        ($r.weights | to_entries | map(select(.value > 0))) as $w
        | ($s.optimized_weights[$r.region] | to_entries | map(select(.value > 0))) as $v
        | ($w | map(.key)) == ($v | map(.key)) and
          all($w[]; (.value - ($s.optimized_weights[$r.region][.key])) | fabs < 1e-9))' <<<"$s"
  check "pushed weights equal the optimizer's (max_weight_shift 1)" jq -e '
    . as $s | all(.pushed_state.prefixes[]; . as $p |
      all($p.routes[]; (.weight - ($s.optimized_weights[$p.region][.pop] // 0)) | fabs < 1e-6))' <<<"$s"
fi

step "(3) FRR's FIB read back (ip -n $router_ns route show <prefix>)"
print_fib
check "FIB weights equal the pushed weights (within FRR's rounding, 2%)" wait_for 20 fib_matches_push

if ((soak > 0)); then
  step "(3b) Stability: $soak s with nothing changed in the network"
  history_json() { "$bin/vantagectl" push history --db "$run/collector.db" --limit 100000 --json; }
  last_id=$(history_json | jq '[.[].id] | max // 0')
  sleep "$soak"
  moves=$(history_json | jq --argjson b "$last_id" '[.[] | select(.id > $b and .result == "applied")]')
  printf 'weight changes pushed in %s s with no network change: %s (loss smoothed over a %s s half-life)\n' \
    "$soak" "$(jq length <<<"$moves")" "$loss_half_life"
  jq -r '[.[].diff | split("\n")[] | select(test("^[0-9]+\\.")) | split(" ") | "\(.[0]) \(.[1])"]
         | group_by(.) | map("  \(.[0]): moved \(length) time(s)") | .[]' <<<"$moves"
fi

# ---------------------------------------------------------------- (4)
r0=${regions[0]}
p0=$(jq -r --arg r "$r0" '.optimized_weights[$r] | to_entries | max_by(.value) | .key' <<<"$s")
old=$(jq -r --arg p "$p0" --arg r "$r0" '.emulator.links[] | select(.from == $p and .to == $r) | .params.delay_ms' <<<"$(lab status --json)")
new=$(jq -n --argjson o "$old" '$o + 25')
p0w=$(jq -r --arg r "$r0" --arg p "$p0" '.optimized_weights[$r][$p] // 0' <<<"$s")
before_w=$(jq -c --arg r "$r0" '.optimized_weights[$r]' <<<"$s")
step "(4a) Degrade $p0<->$r0: one-way delay $old -> $new ms (vantage-lab set-link)"
t0=$(now)
lab set-link --pop "$p0" --region "$r0" --delay-ms "$new"
# The loop pushed a state moving at least 10% of r0 off p0, and the FIB has it.
moved_and_installed() {
  local st
  st=$(step_json)
  jq -e --arg pre "$(svc4 0)" --arg p "$p0" --argjson w "$p0w" '
    ([.pushed_state.prefixes[] | select(.prefix == $pre) | .routes[] | select(.pop == $p)
      | .weight] | first // 0) <= $w - 0.1' <<<"$st" >/dev/null && fib_prefix_matches "$(svc4 0)" "$st"
}
moved=0
wait_for 60 moved_and_installed && moved=1
t1=$(now)
dt=$(jq -n --argjson a "$t0" --argjson b "$t1" '($b - $a) * 1000 | round / 1000')
goal=$((window + period + 2))
check "weights and FIB moved after the degradation ($r0 off $p0 by >= 10%)" test $moved -eq 1
s=$(step_json)
printf "%s\n" "$s" >"$run/step-degraded.json"
echo "$r0 weights: before $before_w"
echo "$r0 weights: after  $(jq -c --arg r "$r0" '.optimized_weights[$r]' <<<"$s")"
echo "FIB for $(svc4 0):"
lab fib --prefix "$(svc4 0)"
printf 'set-link -> FIB change: %s s (goal <= window %ss + period %ss + 2 s = %s s): %s\n' \
  "$dt" "$window" "$period" "$goal" "$(jq -rn --argjson d "$dt" --argjson g "$goal" 'if $d <= $g then "met" else "MISSED" end')"
check "set-link -> FIB within 2x the goal ($dt s)" jq -n -e --argjson d "$dt" --argjson g "$goal" '$d <= 2 * $g'

failed=${pops[1]}
failed_nh=$(jq -r --arg p "$failed" '.bgp.sessions[] | select(.pop == $p) | .next_hop_v4' <<<"$(lab status --json)")
step "(4b) Fail PoP $failed: every link of it loses every packet (vantage-lab set-link --loss 1)"
t0=$(now)
for r in "${regions[@]}"; do lab set-link --pop "$failed" --region "$r" --loss 1; done
withdrawn() {
  fib_matches_push || return 1
  local i=0 r
  for r in "${regions[@]}"; do
    fib_all | jq -e --arg p "$(svc4 $i)" --arg nh "$failed_nh" '(.[$p] // {}) | length > 0 and (has($nh) | not)' >/dev/null || return 1
    i=$((i + 1))
  done
}
gone=0
wait_for 60 withdrawn && gone=1
dt=$(jq -n --argjson a "$t0" --argjson b "$(now)" '($b - $a) * 1000 | round / 1000')
s=$(step_json)
printf "%s\n" "$s" >"$run/step-failed.json"
print_weights "$s"
print_fib
echo "PoP $failed withdrawn everywhere ${dt} s after the failure"
check "failed PoP $failed withdrawn from every service prefix in the FIB" test $gone -eq 1
failed_down() { step_json | jq -e --arg p "$failed" '.pops[$p].healthy == false' >/dev/null; }
check "failed PoP $failed marked unhealthy (its probes get no answers)" wait_for 15 failed_down
s=$(step_json)
check "no PoP over its ceiling after the failure" \
  jq -e '[.pops[] | select(.healthy) | .predicted_load <= .ceiling + 1e-6] | all' <<<"$s"

step "Done"
echo "Audit log: $bin/vantagectl push history --db $run/collector.db   (with --keep)"
((e2e)) && ((failures > 0)) && exit 1
exit 0
