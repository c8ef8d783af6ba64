#!/usr/bin/env bash
# make demo-relay: three peercloud nodes A - P - B in network namespaces.
# A and B each reach only P (P does not route between its two links), so
# they talk through P as relay, end to end encrypted; then ping, a 5 s
# iperf3 A -> B through the relay, and A -> P directly for comparison.
# Needs root, iproute2, ping and iperf3. Removes everything it made, also
# when interrupted.
set -euo pipefail

BIN=${BIN:-bin/peercloud}
NS_A=pcrelay-a NS_P=pcrelay-p NS_B=pcrelay-b
TUN_A=10.234.0.1 TUN_B=10.234.0.2 TUN_P=10.234.0.3
LOGDIR=$(mktemp -d /tmp/peercloud-relay-demo.XXXXXX)

die() { echo "relay-demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces and TUN devices): sudo make demo-relay"
for tool in ip ping iperf3; do
  command -v "$tool" >/dev/null || die "missing '$tool' (apt-get install -y iproute2 iputils-ping iperf3)"
done
[ -x "$BIN" ] || die "no binary at $BIN (run make build)"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in $NS_A $NS_P $NS_B; do ip netns del $ns 2>/dev/null || true; done
  rm -rf "$LOGDIR"
}
trap cleanup EXIT INT TERM
for ns in $NS_A $NS_P $NS_B; do ip netns del $ns 2>/dev/null || true; done

echo "== topology: A (10.233.1.1) <-veth-> P (10.233.1.2 | 10.233.2.2) <-veth-> B (10.233.2.1); P does not forward"
for ns in $NS_A $NS_P $NS_B; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add pcrel0 type veth peer name pcrel1
ip link set pcrel0 netns $NS_A name veth0
ip link set pcrel1 netns $NS_P name veth0
ip link add pcrel2 type veth peer name pcrel3
ip link set pcrel2 netns $NS_B name veth0
ip link set pcrel3 netns $NS_P name veth1
ip -n $NS_A addr add 10.233.1.1/24 dev veth0
ip -n $NS_P addr add 10.233.1.2/24 dev veth0
ip -n $NS_P addr add 10.233.2.2/24 dev veth1
ip -n $NS_B addr add 10.233.2.1/24 dev veth0
ip -n $NS_A link set veth0 up; ip -n $NS_B link set veth0 up
ip -n $NS_P link set veth0 up; ip -n $NS_P link set veth1 up
ip netns exec $NS_P sysctl -qw net.ipv4.ip_forward=0

echo "== starting P, then A and B, each configured with P only"
common=(-l 3210 --password relay-demo --no-port-forwarding)
ip netns exec $NS_P "$BIN" -d pcrelay%d --ip $TUN_P/24 "${common[@]}" >"$LOGDIR/p.log" 2>&1 &
pids+=($!)
ip netns exec $NS_A "$BIN" -d pcrelay%d --ip $TUN_A/24 -c 10.233.1.2:3210 "${common[@]}" >"$LOGDIR/a.log" 2>&1 &
pids+=($!)
ip netns exec $NS_B "$BIN" -d pcrelay%d --ip $TUN_B/24 -c 10.233.2.2:3210 "${common[@]}" >"$LOGDIR/b.log" 2>&1 &
pids+=($!)

up=0
for i in $(seq 1 60); do
  if ip netns exec $NS_A ping -c1 -W1 $TUN_B >/dev/null 2>&1; then up=1; break; fi
  sleep 0.5
done
if [ $up != 1 ]; then
  for n in a p b; do echo "--- node $n log"; cat "$LOGDIR/$n.log"; done
  die "A and B did not connect through P"
fi
grep -h "added peer through a relay" "$LOGDIR/a.log" | tail -1 || true

echo "== ping A -> B through P, and A -> P directly"
ip netns exec $NS_A ping -c 5 -i 0.2 $TUN_B | tail -1
ip netns exec $NS_A ping -c 5 -i 0.2 $TUN_P | tail -1

echo "== iperf3 TCP, 5 s: A -> B through P, then A -> P directly"
ip netns exec $NS_B iperf3 -s -B $TUN_B >/dev/null 2>&1 &
pids+=($!)
ip netns exec $NS_P iperf3 -s -B $TUN_P >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
echo "-- A -> B (relayed)"
ip netns exec $NS_A iperf3 -c $TUN_B -t 5 | grep -E "receiver"
echo "-- A -> P (direct)"
ip netns exec $NS_A iperf3 -c $TUN_P -t 5 | grep -E "receiver"
echo "-- path MTU A learned for B (the relay adds 41 bytes)"
ip netns exec $NS_A ip route get $TUN_B | head -2

echo "== done: stopping the nodes and removing the namespaces"
