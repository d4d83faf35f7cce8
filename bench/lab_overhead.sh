#!/usr/bin/env bash
# What the lab's user-space emulator costs, measured against the kernel's
# own loopback in the same run:
#   1. the extra round trip it adds at 0 ms configured delay: iputils ping
#      through the lab (region -> PoP) vs ping to 127.0.0.1 inside the same
#      region namespace (medians of N probes each); and at 1 ms configured
#      (a second region), where the emulator's own wake-up and read time is
#      inside the delay (it starts the delay at the kernel's transmit
#      timestamp), so what is left is the namespaces' stacks;
#   2. its forwarding rate in packets/s: parallel flood pings (-f, -l preload)
#      through the lab vs the same floods on loopback (on a small machine
#      both are bounded by ping's own CPU as much as by the path), and the
#      emulator's capacity: packets it forwarded per CPU-second it used.
# Prints both figures and the ratios. Needs root; creates namespaces with a
# private prefix (vtb<pid>-) and removes them on exit.
#
#   bench/lab_overhead.sh [path/to/vantage-lab]    (default: build/release/tools/vantage-lab)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
lab=${1:-$here/../build/release/tools/vantage-lab}
probes=${PROBES:-2000}
flood=${FLOOD:-100000}
preload=${PRELOAD:-32}
parallel=${PARALLEL:-4}

if [[ $(id -u) -ne 0 ]]; then echo "lab_overhead: needs root" >&2; exit 1; fi
[[ -x $lab ]] || { echo "lab_overhead: no vantage-lab at $lab (build the release preset)" >&2; exit 1; }

prefix="vtb$$-"
work=$(mktemp -d /tmp/vantage-lab-bench.XXXXXX)
run="$work/run"
cleanup() { "$lab" down --run-dir "$run" >/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cat >"$work/topology.yaml" <<'YAML'
pops: [{name: pop, addresses: [198.18.1.1]}]
regions: [{name: region, addresses: [198.18.2.1]}, {name: region1, addresses: [198.18.3.1]}]
links:
  - {pop: pop, region: region, delay_ms: 0, queue_limit: 100000}
  - {pop: pop, region: region1, delay_ms: 0.5}
YAML
"$lab" up --topology "$work/topology.yaml" --prefix "$prefix" --run-dir "$run" >/dev/null
in_region() { ip netns exec "${prefix}region" "$@"; }

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2}'; }
rtts() { grep -o 'time=[0-9.]*' | cut -d= -f2; }

echo "== round trip at 0 ms configured delay ($probes probes each, interleaved runs) =="
lab_file="$work/lab.rtt"; lo_file="$work/lo.rtt"; one_file="$work/one.rtt"
for _ in 1 2 3 4; do
  in_region ping -n -c $((probes / 4)) -i 0.002 198.18.1.1 | rtts >>"$lab_file"
  in_region ping -n -c $((probes / 4)) -i 0.002 127.0.0.1 | rtts >>"$lo_file"
  ip netns exec "${prefix}region1" ping -n -c $((probes / 4)) -i 0.002 198.18.1.1 | rtts >>"$one_file"
done
lab_rtt=$(median <"$lab_file")
lo_rtt=$(median <"$lo_file")
one_rtt=$(median <"$one_file")
awk -v lab="$lab_rtt" -v lo="$lo_rtt" -v one="$one_rtt" 'BEGIN {
  printf "ping median through the lab: %.3f ms\n", lab
  printf "ping median on loopback:     %.3f ms\n", lo
  printf "extra RTT added by the lab:  %.3f ms   (ratio lab/loopback %.2f)\n", lab - lo, lab / lo
  printf "ping median at 1 ms configured: %.3f ms: %.3f ms over the configured RTT (loopback ping: %.3f ms)\n", one, one - 1, lo }'

echo "== forwarding rate ($parallel parallel flood pings x $flood probes, preload $preload) =="
written() { "$lab" status --json --run-dir "$run" | grep -o '"packets_written": [0-9]*' | grep -o '[0-9]*$'; }
emulator_pid=$(grep -o '"pid": [0-9]*' "$run/state.json" | head -1 | grep -o '[0-9]*$')
cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$emulator_pid/stat"; }
# Packets/s through `target` (both directions), from the wall time of
# $parallel simultaneous floods and their own sent/received counts.
flood_rate() {
  local target=$1 t0 t1 i
  t0=$(date +%s.%N)
  for ((i = 0; i < parallel; i++)); do
    in_region ping -n -q -f -l "$preload" -c "$flood" "$target" >"$work/flood.$i" &
  done
  wait
  t1=$(date +%s.%N)
  cat "$work"/flood.* | awk -v t0="$t0" -v t1="$t1" '
    /packets transmitted/ { tx += $1; rx += $4 }
    END { printf "%.0f %d %d %.2f\n", (tx + rx) / (t1 - t0), tx, rx, t1 - t0 }'
}
before=$(written); ticks0=$(cpu_ticks)
read -r lab_pps lab_tx lab_rx lab_s < <(flood_rate 198.18.1.1)
after=$(written); ticks1=$(cpu_ticks)
read -r lo_pps lo_tx lo_rx lo_s < <(flood_rate 127.0.0.1)
hz=$(getconf CLK_TCK)
awk -v lab="$lab_pps" -v lo="$lo_pps" -v w=$((after - before)) -v cpu=$(((ticks1 - ticks0))) -v hz="$hz" \
    -v ltx="$lab_tx" -v lrx="$lab_rx" -v ls="$lab_s" -v otx="$lo_tx" -v orx="$lo_rx" -v os="$lo_s" 'BEGIN {
  printf "through the lab: %d sent, %d received in %.2f s: %.0f packets/s\n", ltx, lrx, ls, lab
  printf "on loopback:     %d sent, %d received in %.2f s: %.0f packets/s\n", otx, orx, os, lo
  printf "forwarding rate ratio lab/loopback: %.2f\n", lab / lo
  if (cpu > 0) printf "emulator: %d packets forwarded on %.2f CPU-seconds: %.0f packets per CPU-second (its capacity on one core)\n", w, cpu / hz, w / (cpu / hz) }'
