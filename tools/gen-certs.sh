#!/usr/bin/env bash
# Generates a private CA and certificates for a lab or test deployment:
#   gen-certs.sh DIR [--server-name NAME]... PROBE_ID...
# DIR/ca.crt, ca.key               the CA (keep ca.key offline in production)
# DIR/collector.crt, collector.key server certificate; SANs: localhost,
#                                  127.0.0.1, ::1 and every --server-name
# DIR/<probe-id>.crt, .key         one client certificate per probe, CN = id
#
# For production, use your own PKI: the collector needs a server certificate
# and the CA that signs probe certificates; each probe needs a certificate
# whose CN is its probe id (as listed in the collector's config) and the CA
# of the collector's certificate.
set -euo pipefail
if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
dir=$1
shift
sans="DNS:localhost,IP:127.0.0.1,IP:::1"
probes=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --server-name)
      sans+=",DNS:$2"
      shift 2
      ;;
    *)
      probes+=("$1")
      shift
      ;;
  esac
done
mkdir -p "$dir"
cd "$dir"
umask 077
days=825
if [[ ! -f ca.key ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=Vantage lab CA" -keyout ca.key -out ca.crt 2>/dev/null
fi
issue() {  # name subject-cn extensions
  local name=$1 cn=$2 ext=$3
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$name.key" -out "$name.csr" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days $days \
    -extfile <(printf '%s\n' "$ext") -out "$name.crt" 2>/dev/null
  rm -f "$name.csr"
}
issue collector "vantage-collector" \
  "subjectAltName=$sans
extendedKeyUsage=serverAuth
keyUsage=digitalSignature"
for p in "${probes[@]}"; do
  if [[ ! $p =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "gen-certs: bad probe id '$p' (letters, digits, . _ -)" >&2
    exit 2
  fi
  issue "$p" "$p" "extendedKeyUsage=clientAuth
keyUsage=digitalSignature"
done
chmod 644 ./*.crt
echo "gen-certs: wrote CA, collector and ${#probes[@]} probe certificate(s) in $dir"
