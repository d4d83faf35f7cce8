#!/usr/bin/env bash
# The lab demo: an emulated anycast network on this machine, measured by
# Vantage's own tools, and the weights the optimizer derives from what was
# measured. Needs root (network namespaces) and a build (build/default).
#
#   tools/lab-demo.sh [--keep] [--count N] [--topology FILE]
#
#   1. vantage-lab up: one namespace per PoP, region and router; a user-space
#      emulator gives every PoP<->region link its delay, jitter and loss.
#   2. From every region, vantagectl ping measures every PoP (ICMP, kernel
#      timestamps); the matrix is printed beside the emulated truth.
#   3. From every region, vantagectl dns --nsid asks the anycast DNS address:
#      the NSID names the PoP that answered (the catchment).
#   4. The measured matrix becomes a graph snapshot; vantagectl optimize
#      computes each region's weights under PoP capacity (N-1 headroom on).
#   5. One link degrades (vantage-lab set-link); measurement and weights move.
#   6. A catchment moves (vantage-lab set-catchment); the NSID follows.
#   Everything is removed on exit or Ctrl-C, unless --keep.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${VANTAGE_BUILD_DIR:-build/default}
lab="$PWD/$build/tools/vantage-lab"
ctl="$PWD/$build/tools/vantagectl"
topology="$PWD/lab/topologies/example.yaml"
keep=0
count=40
while [[ $# -gt 0 ]]; do
  case $1 in
    --keep) keep=1; shift ;;
    --count) count=$2; shift 2 ;;
    --topology) topology=$(realpath "$2"); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "lab-demo: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for bin in "$lab" "$ctl"; do
  [[ -x $bin ]] || { echo "lab-demo: $bin is missing: build first" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "lab-demo: needs root (network namespaces)" >&2; exit 1; }

work=$(mktemp -d /tmp/vantage-demo.XXXXXX)
cleanup() {
  if ((keep)); then
    echo
    echo "--keep: the lab is still up. Try: $lab status; ip netns exec vt-eu-west $ctl ping 198.18.1.1"
    echo "        remove it with: $lab down"
  else
    "$lab" down >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. vantage-lab up ($(basename "$topology"))"
"$lab" down >/dev/null 2>&1 || true
"$lab" up --topology "$topology"
status=$("$lab" status --json)
prefix=$(jq -r .prefix <<<"$status")
mapfile -t pops < <(jq -r '.pops[].name' <<<"$status")
mapfile -t regions < <(jq -r '.regions[].name' <<<"$status")
echo "PoPs: ${pops[*]}    regions: ${regions[*]}"

truth_ms() {  # pop region -> configured round trip in ms
  jq -r --arg p "$1" --arg r "$2" '
    [.emulator.links[] | select((.from == $p and .to == $r) or (.from == $r and .to == $p))
     | .params.delay_ms] | add' <<<"$("$lab" status --json)"
}

measure() {  # region -> JSON {pop: {p50_ms, p90_ms, p99_ms, loss, samples}}
  local region=$1 addrs=() pop
  for pop in "${pops[@]}"; do
    addrs+=("$(jq -r --arg p "$pop" '.pops[] | select(.name == $p) | .addresses[0]' <<<"$status")")
  done
  ip netns exec "$prefix$region" "$ctl" ping "${addrs[@]}" -c "$count" -i 10 -t 1000 --json |
    jq --argjson pops "$(printf '%s\n' "${pops[@]}" | jq -R . | jq -s .)" '
      [.targets | to_entries[] | {key: $pops[.key],
        value: {p50_ms: (.value.rtt_us.p50 / 1000), p90_ms: (.value.rtt_us.p90 / 1000),
                p99_ms: (.value.rtt_us.p99 / 1000), loss: .value.loss, samples: .value.received}}]
      | from_entries'
}

print_matrix() {  # file with {region: {pop: {...}}}
  local region pop
  printf '%-12s' "REGION"
  for pop in "${pops[@]}"; do printf '%-26s' "$pop: ms (truth) loss"; done
  echo
  for region in "${regions[@]}"; do
    printf '%-12s' "$region"
    for pop in "${pops[@]}"; do
      printf '%-26s' "$(jq -r --arg r "$region" --arg p "$pop" --arg t "$(truth_ms "$pop" "$region")" \
        '.[$r][$p] | "\(.p50_ms * 100 | round / 100) (\($t)) \(.loss * 100 | round)%"' "$1")"
    done
    echo
  done
}

measure_all() {
  local out=$1 region
  echo '{}' >"$out"
  for region in "${regions[@]}"; do
    jq --arg r "$region" --argjson m "$(measure "$region")" '. + {($r): $m}' "$out" >"$out.tmp"
    mv "$out.tmp" "$out"
  done
}

step "2. Measured RTT matrix: vantagectl ping from each region to each PoP ($count probes)"
measure_all "$work/matrix.json"
print_matrix "$work/matrix.json"

step "3. Anycast DNS catchments: vantagectl dns --nsid from each region"
dns_addr=$(jq -r '.pops[0].services[0]' <<<"$status")
zone=$(grep -E '^\s*dns_zone:' "$topology" | awk '{print $2}')
for r in "${regions[@]}"; do
  got=$(ip netns exec "$prefix$r" "$ctl" dns --server "$dns_addr" --name "${zone:-lab.vantage.test}" \
          --type SOA --count 3 --interval 50 --nsid --json | jq -r '[.summary.catchments | keys[]] | join(",")')
  printf '%-12s -> %-6s (configured %s)\n' "$r" "$got" \
    "$(jq -r --arg r "$r" '.emulator.catchments[$r]' <<<"$("$lab" status --json)")"
done

snapshot() {  # matrix.json -> snapshot.json
  jq --argjson st "$status" --arg now "$(date +%s%N)" '
    . as $m |
    {format: "vantage.snapshot.v1", snapshot_time_unix_ns: ($now | tonumber),
     pops: [$st.pops[] | {name, capacity, healthy: true, load: 0}],
     regions: [$st.regions[] | {name, demand, prefixes: [.addresses[] | if test(":") then "\(.)/128" else "\(.)/32" end],
                                current_weights: {(.catchment): 1}}],
     paths: [$m | to_entries[] | .key as $r | .value | to_entries[] |
             {pop: .key, region: $r,
              measurements: [{method: "icmp", rtt_p50_ms: .value.p50_ms, rtt_p90_ms: .value.p90_ms,
                              rtt_p99_ms: .value.p99_ms, loss: .value.loss, samples: .value.samples,
                              updated_unix_ns: ($now | tonumber)}]}]}' "$1"
}

step "4. Weights from the measured matrix: vantagectl optimize (capacity ceiling 80%, N-1 headroom)"
snapshot "$work/matrix.json" >"$work/snapshot.json"
"$ctl" optimize --input "$work/snapshot.json"

region=${regions[0]}
pop=$(jq -r --arg r "$region" '.regions[] | select(.name == $r) | .catchment' <<<"$status")
old=$(truth_ms "$pop" "$region")
new_delay=$(jq -n --argjson o "$old" '$o / 2 + 25')
step "5. Degrade $pop<->$region: one-way delay $(jq -n --argjson o "$old" '$o / 2') -> $new_delay ms (vantage-lab set-link)"
"$lab" set-link --pop "$pop" --region "$region" --delay-ms "$new_delay" >/dev/null
jq --arg r "$region" --argjson m "$(measure "$region")" '. + {($r): $m}' "$work/matrix.json" >"$work/matrix2.json"
print_matrix "$work/matrix2.json"
snapshot "$work/matrix2.json" >"$work/snapshot2.json"
"$ctl" optimize --input "$work/snapshot2.json"

other=$(printf '%s\n' "${pops[@]}" | grep -vx "$pop" | head -1)
step "6. Move $region's anycast catchment $pop -> $other (vantage-lab set-catchment); NSID follows"
"$lab" set-catchment --region "$region" --pop "$other" >/dev/null
ip netns exec "$prefix$region" "$ctl" dns --server "$dns_addr" --name "${zone:-lab.vantage.test}" \
  --type SOA --count 3 --interval 50 --nsid | tail -4

step "Done. (The closed loop — probes streaming to the collector, the control loop and BGP push to FRR — is the next step: see the issues.)"
