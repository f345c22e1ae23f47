#!/bin/sh
# Lab-VM test of fwd between two kernel hosts (issue: the Linux stack across
# our driver). Needs 4 NICs on hubs 0,0,1,1:
#   ns A: kernel NIC 0000:00:10.0 --hub 0-- our X 0000:00:11.0
#   ns B: kernel NIC 0000:00:13.0 --hub 1-- our Y 0000:00:12.0
# Run: deno task vm --nics 4 --hubs 0,0,1,1 -- sh tests/vm/guest/forward.sh [BYTES]
# With VFIO_AS_NOBODY=1 (VM with --iommu --modern-nics): X and Y are handed to
# vfio-pci for the user nobody, who runs fwd through VFIO (IOMMU-mapped DMA).
set -eu
RUN="$IXY_DENO run -A --no-check"
BYTES=${1:-4194304}
# Other NIC models (tests/vm/igb_test.ts): A_PCI / X_PCI / Y_PCI / B_PCI from the environment.
A_PCI=${A_PCI:-0000:00:10.0}
X_PCI=${X_PCI:-0000:00:11.0}
Y_PCI=${Y_PCI:-0000:00:12.0}
B_PCI=${B_PCI:-0000:00:13.0}
FWD_RUN=$RUN
if [ "${VFIO_AS_NOBODY:-0}" = 1 ]; then
  . tests/vm/guest/vfio_modern_lib.sh
  bind_nobody "$X_PCI" X
  bind_nobody "$Y_PCI" Y
  FWD_RUN=$AS_NOBODY
fi
# KMOD (e.g. e1000): a kernel driver to load first, for NICs of other models.
[ -n "${KMOD:-}" ] && modprobe "$KMOD"
ifof() { ls /sys/bus/pci/devices/"$1"/net/ 2>/dev/null || ls /sys/bus/pci/devices/"$1"/virtio*/net/; }
A_IF=$(ifof "$A_PCI")
B_IF=$(ifof "$B_PCI")
counters() { # ns ifname -> "rx tx"
  ip netns exec "$1" sh -c "cat /sys/class/net/$2/statistics/rx_packets /sys/class/net/$2/statistics/tx_packets" | tr '\n' ' '
}
# Leave the machine as we found it, also on failure: the next script of a
# shared boot (tests/vm/lib.ts, SharedBoot) may run fwd on other NICs. Deleting
# a namespace hands its physical NICs back to the initial one.
FWD=
cleanup() {
  status=$?
  set +e
  [ -z "$FWD" ] || kill "$FWD" 2>/dev/null
  ip netns del A 2>/dev/null
  ip netns del B 2>/dev/null
  exit $status
}
trap cleanup EXIT
for ns in A B; do
  ip netns add $ns
  ip netns exec $ns sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
done
ip link set "$A_IF" netns A
ip link set "$B_IF" netns B
ip -n A addr add 198.18.1.1/24 dev "$A_IF"
ip -n B addr add 198.18.1.2/24 dev "$B_IF"
ip -n A link set "$A_IF" up
ip -n B link set "$B_IF" up
ip -n A link set lo up
ip -n B link set lo up
echo "A_BEFORE=$(counters A "$A_IF")"
echo "B_BEFORE=$(counters B "$B_IF")"

# FWD_OPTS: more options of fwd (tests/vm/igb_test.ts: --rx-ring-size).
# shellcheck disable=SC2086
$FWD_RUN tools/fwd.ts "$X_PCI" "$Y_PCI" ${FWD_OPTS:-} > /tmp/fwd.log 2>&1 &
FWD=$!
while ! grep -q '^fwd: .*<->' /tmp/fwd.log; do
  kill -0 $FWD 2>/dev/null || { cat /tmp/fwd.log; exit 1; }
  sleep 0.2
done
echo "FWD_UID=$(awk '/^Uid:/ { print $2 }' /proc/$FWD/status)"

# Wait until A reaches B through fwd (one echo answered) before the checks.
# The first frames across need ARP, and the kernel gives ARP 3 broadcasts 1 s
# apart (mcast_solicit, retrans_time_ms) before it fails a ping with
# "Destination Host Unreachable"; on a loaded host the emulated path through
# a forwarder that has just started can take longer, and the 5-ping check
# right after fwd came up failed now and then (PING_OK=0, while the TCP
# transfer after it went through). A failed try is retried (ARP starts over), up to 40 tries; every
# frame of it crosses fwd while it runs, so the counters still balance.
tries=0
until ip netns exec A ping -c 1 -W 2 198.18.1.2 > /dev/null 2>&1; do
  kill -0 $FWD 2>/dev/null || { cat /tmp/fwd.log; exit 1; }
  tries=$((tries + 1))
  [ $tries -lt 40 ] || break
done
echo "REACH_RETRIES=$tries"

echo "== ping"
ip netns exec A ping -c 5 -i 0.2 -W 10 198.18.1.2 && echo "PING_OK=1" || echo "PING_OK=0"

echo "== tcp"
rm -f /tmp/sink.ready
ip netns exec B $RUN tests/vm/guest/tcp_transfer.ts sink 5201 --ready-file /tmp/sink.ready > /tmp/sink.json &
SINK=$!
while [ ! -e /tmp/sink.ready ]; do sleep 0.2; done
SOURCE_RESULT=$(ip netns exec A $RUN tests/vm/guest/tcp_transfer.ts source 198.18.1.2 5201 --bytes "$BYTES")
wait $SINK
echo "SOURCE_RESULT=$SOURCE_RESULT"
echo "SINK_RESULT=$(cat /tmp/sink.json)"

sleep 1 # let the last ACKs cross before we stop forwarding
kill -INT $FWD
wait $FWD
FWD=
echo "A_AFTER=$(counters A "$A_IF")"
echo "B_AFTER=$(counters B "$B_IF")"
echo "FWD_FINAL=$(grep '^fwd: .* rx ' /tmp/fwd.log)"
tail -n 8 /tmp/fwd.log
echo "DMAR_FAULTS=$(dmesg | grep -c 'DMAR: \[DMA' || true)"
