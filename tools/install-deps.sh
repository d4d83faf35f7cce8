#!/usr/bin/env bash
# Installs every Debian 12 package that Vantage's build, tests, benchmarks and
# lab need. Idempotent: when every package is already installed it makes no
# apt call at all and returns in well under a second. Run as root.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache clang clang-format clang-tidy
  libclang-rt-14-dev
  # libraries
  libpcap-dev libc-ares-dev libboost-graph-dev libabsl-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libsqlite3-dev libyaml-cpp-dev libspdlog-dev libcli11-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev liblemon-dev nlohmann-json3-dev
  libglpk-dev
  # lab, integration tests and peer tools
  iproute2 iputils-ping dnsutils nsd unbound fping dnsperf tshark glpk-utils
  procps psmisc openssl prometheus jq frr exabgp
)

missing=()
for p in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or install them yourself)" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start system daemons (nsd, unbound): tests start
# their own instances inside network namespaces or on private loopback ports.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap '[[ $created_policy == 1 ]] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
