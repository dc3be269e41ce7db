#!/usr/bin/env bash
# The sr6 demo: deploy a three-router SRv6 lab, steer traffic from h1 to h2
# through r2 instead of the direct r1-r3 link, and show the Segment Routing
# Header on the wire. KEEP=1 leaves the lab running for you to explore.
set -euo pipefail
cd "$(dirname "$0")/.."
SR6=${SR6:-./bin/sr6}
TOPO=${TOPO:-examples/triangle.yaml}
LAB=${LAB:-tri} # the name in $TOPO
[ "$(id -u)" = 0 ] || { echo "the demo builds network namespaces: run it as root" >&2; exit 1; }
for tool in ping tcpdump; do
	command -v "$tool" >/dev/null || { echo "the demo needs $tool: run it with make demo, which installs what is missing (scripts/setup.sh demo)" >&2; exit 1; }
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() { [ "${KEEP:-0}" = 1 ] || $SR6 lab destroy "$LAB" >/dev/null 2>&1 || true; }
trap cleanup EXIT

say "1. the topology: $TOPO"
$SR6 validate "$TOPO"
grep -E '^#' "$TOPO" | sed 's/^#/  /'

say "2. deploy it: one network namespace per node, kernel SRv6 routers"
$SR6 lab deploy "$TOPO"
$SR6 lab inspect "$LAB"

say "3. IPv6 from h1 to h2 follows the shortest path r1 -> r3; IPv4 has no underlay"
$SR6 lab exec "$LAB" h1 -- ping -6 -c 2 -i 0.2 fd00:0:2:2::2 | tail -2
$SR6 lab exec "$LAB" h1 -- ping -4 -c 2 -i 0.2 -W 1 10.0.2.2 | tail -2 || true

say "4. an SRv6 policy h1 -> h2 through r2 (H.Encaps at r1, End at r2, End.DX4/End.DT6 at r3), and back"
$SR6 lab srv6 add "$LAB" demo --from h1 --to h2 --via r2 --reverse
$SR6 lab exec "$LAB" r1 -- ip -4 route show 10.0.2.0/24

say "5. ping again while tcpdump listens on r2's link from r1"
$SR6 lab exec "$LAB" r2 -- timeout 5 tcpdump -nn -l -c 3 -i eth1 'ip6[6] == 43' &
sleep 1
$SR6 lab exec "$LAB" h1 -- ping -4 -c 3 -i 0.3 10.0.2.2 | tail -2
wait

say "6. destroy"
if [ "${KEEP:-0}" = 1 ]; then
	echo "KEEP=1: lab $LAB left running; try: $SR6 lab exec $LAB r2 -- ip -6 route; then $SR6 lab destroy $LAB"
else
	$SR6 lab destroy "$LAB"
fi
