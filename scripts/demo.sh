#!/usr/bin/env bash
# make demo: two peercloud nodes in network namespaces joined by a veth pair,
# an encrypted tunnel between them, ping and a short iperf3 through it.
# Needs root, iproute2, ping and iperf3. Removes everything it made, also
# when interrupted.
set -euo pipefail

BIN=${BIN:-bin/peercloud}
NS_A=pcdemo-a NS_B=pcdemo-b
UNDER_A=10.231.0.1 UNDER_B=10.231.0.2
TUN_A=10.232.0.1 TUN_B=10.232.0.2
LOGDIR=$(mktemp -d /tmp/peercloud-demo.XXXXXX)

die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces and TUN devices): sudo make demo"
for tool in ip ping iperf3; do
  command -v "$tool" >/dev/null || die "missing '$tool' (apt-get install -y iproute2 iputils-ping iperf3)"
done
[ -x "$BIN" ] || die "no binary at $BIN (run make build)"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del $NS_A 2>/dev/null || true
  ip netns del $NS_B 2>/dev/null || true
  rm -rf "$LOGDIR"
}
trap cleanup EXIT INT TERM
ip netns del $NS_A 2>/dev/null || true
ip netns del $NS_B 2>/dev/null || true

echo "== topology: $NS_A ($UNDER_A) <-veth-> $NS_B ($UNDER_B), tunnel $TUN_A <-> $TUN_B"
ip netns add $NS_A
ip netns add $NS_B
ip link add pcdemo0 type veth peer name pcdemo1
ip link set pcdemo0 netns $NS_A name veth0
ip link set pcdemo1 netns $NS_B name veth0
ip -n $NS_A addr add $UNDER_A/24 dev veth0
ip -n $NS_B addr add $UNDER_B/24 dev veth0
for ns in $NS_A $NS_B; do ip -n $ns link set lo up; ip -n $ns link set veth0 up; done

echo "== starting two nodes (shared password, VpnCloud-style flags)"
ip netns exec $NS_B "$BIN" -d pcdemo%d --ip $TUN_B/24 -l 3210 --password demo-password --no-port-forwarding >"$LOGDIR/b.log" 2>&1 &
pids+=($!)
ip netns exec $NS_A "$BIN" -d pcdemo%d --ip $TUN_A/24 -l 3210 -c $UNDER_B:3210 --password demo-password --no-port-forwarding >"$LOGDIR/a.log" 2>&1 &
pids+=($!)

up=0
for _ in $(seq 1 50); do
  if ip netns exec $NS_A ping -c1 -W1 $TUN_B >/dev/null 2>&1; then up=1; break; fi
  sleep 0.2
done
if [ $up != 1 ]; then
  echo "--- node a log"; cat "$LOGDIR/a.log"; echo "--- node b log"; cat "$LOGDIR/b.log"
  die "the tunnel did not come up"
fi
grep -h "added peer" "$LOGDIR/a.log" | tail -1 || true

echo "== ping through the tunnel"
ip netns exec $NS_A ping -c 5 -i 0.2 $TUN_B | tail -2

echo "== iperf3 TCP through the tunnel, 5 s each way"
ip netns exec $NS_B iperf3 -s -B $TUN_B >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 20); do
  ip netns exec $NS_A iperf3 -c $TUN_B -t 1 >/dev/null 2>&1 && break   # wait for the server
  sleep 0.2
done
sleep 0.5
echo "-- a -> b"
ip netns exec $NS_A iperf3 -c $TUN_B -t 5 | grep -E "sender|receiver"
sleep 0.5
echo "-- b -> a"
ip netns exec $NS_A iperf3 -c $TUN_B -t 5 -R | grep -E "sender|receiver"

echo "== done: stopping the nodes and removing the namespaces"
