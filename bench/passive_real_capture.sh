#!/bin/bash
# Makes a pcap of real Linux TCP traffic for passive_rtt_bench --reuse --file:
# two network namespaces this script creates (and always removes), a veth
# pair between them, a request/response server on one side and many client
# connections (short and long, small and large responses) on the other,
# captured by dumpcap with snaplen 128 on the server's interface. The
# synthetic capture of passive_rtt_bench gives every packet a new TSval and
# its echo (0.92 RTT samples per packet, the worst case for the per-sample
# work); real stacks tick TSvals per millisecond and delay ACKs, so this
# capture shows the common case beside it. Each client connection comes
# from its own address in its own /24 (198.19.N.1, up to 250 of them), so
# that the per-prefix aggregation sees many prefixes, as at a PoP.
#
# Usage (root): bench/passive_real_capture.sh OUT.pcap [SECONDS] [CLIENTS]
#   defaults: 20 s, 64 concurrent client connections.
# Then: build/release/bench/passive_rtt_bench --reuse --file OUT.pcap
set -euo pipefail

out=${1:?usage: $0 OUT.pcap [SECONDS] [CLIENTS]}
seconds=${2:-20}
clients=${3:-64}
if [[ $(id -u) -ne 0 ]]; then
  echo "$0: needs root (network namespaces, capture)" >&2
  exit 2
fi
for tool in ip dumpcap python3; do
  command -v "$tool" > /dev/null || { echo "$0: $tool not found" >&2; exit 2; }
done

prefix="vtb$$"
server_ns="${prefix}-s"
client_ns="${prefix}-c"
cleanup() {
  ip netns pids "$server_ns" 2> /dev/null | xargs -r kill 2> /dev/null || true
  ip netns pids "$client_ns" 2> /dev/null | xargs -r kill 2> /dev/null || true
  ip netns del "$server_ns" 2> /dev/null || true
  ip netns del "$client_ns" 2> /dev/null || true
}
trap cleanup EXIT

# 198.18.0.0/15 is reserved for benchmarks (RFC 2544); it exists only
# inside the two namespaces.
ip netns add "$server_ns"
ip netns add "$client_ns"
ip link add "${prefix}a" type veth peer name "${prefix}b"
ip link set "${prefix}a" netns "$server_ns"
ip link set "${prefix}b" netns "$client_ns"
ip -n "$server_ns" addr add 198.18.0.1/30 dev "${prefix}a"
ip -n "$client_ns" addr add 198.18.0.2/30 dev "${prefix}b"
ip -n "$server_ns" link set lo up
ip -n "$client_ns" link set lo up
ip -n "$server_ns" link set "${prefix}a" up
ip -n "$client_ns" link set "${prefix}b" up
# The clients' own addresses, one per /24 of 198.19.0.0/16 (RFC 2544 too).
client_prefixes=$((clients < 250 ? clients : 250))
for ((i = 0; i < client_prefixes; ++i)); do
  ip -n "$client_ns" addr add "198.19.$i.1/32" dev "${prefix}b"
done
ip -n "$server_ns" route add 198.19.0.0/16 via 198.18.0.2

# Server: per connection, answer each "N\n" request with N bytes.
ip netns exec "$server_ns" python3 -c '
import socket, threading
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("198.18.0.1", 8080))
listener.listen(1024)
payload = b"x" * (1 << 20)
def serve(conn):
    with conn:
        reader = conn.makefile("rb")
        for line in reader:
            n = int(line)
            conn.sendall(payload[:n])
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
' &
sleep 0.5

ip netns exec "$server_ns" dumpcap -q -P -i "${prefix}a" -s 128 -w "$out" \
  -a "duration:$((seconds + 1))" 2> /dev/null &
capture=$!
sleep 1

# Clients: each runs connections of 1-40 exchanges (responses of 100 B to
# 256 KiB, mostly small) until the time is up.
ip netns exec "$client_ns" python3 -c '
import random, socket, sys, threading, time
deadline = time.time() + float(sys.argv[1])
prefixes = int(sys.argv[3])
def client(seed):
    rng = random.Random(seed)
    source = ("198.19.%d.1" % (seed % prefixes), 0)
    while time.time() < deadline:
        with socket.create_connection(("198.18.0.1", 8080), source_address=source) as s:
            for _ in range(rng.randint(1, 40)):
                n = int(min(262144, rng.paretovariate(1.2) * 100))
                s.sendall(b"%d\n" % n)
                got = 0
                while got < n:
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    got += len(chunk)
threads = [threading.Thread(target=client, args=(i,)) for i in range(int(sys.argv[2]))]
for t in threads: t.start()
for t in threads: t.join()
' "$seconds" "$clients" "$client_prefixes"

wait "$capture" || true
echo "wrote $out"
