#!/bin/sh
# Lab-VM test (a) and (c): our pktgen on NIC 0 sends COUNT frames through the
# QEMU hub to NIC 1, which the kernel's own virtio_net driver owns. The peer
# tool checks every frame (AF_PACKET socket) and we compare counters.
# Run inside the lab VM:  deno task vm -- sh tests/vm/guest/pktgen_to_kernel.sh 2000
set -eu
COUNT=${1:-2000}
# OURS / PEER_PCI / KMOD from the environment for other NIC models (tests/vm/e1000_test.ts):
# KMOD is a kernel driver to load first (e.g. e1000, so that the kernel drives the peer).
OURS=${OURS:-0000:00:10.0}
PEER_PCI=${PEER_PCI:-0000:00:11.0}
[ -n "${KMOD:-}" ] && modprobe "$KMOD"
RUN="$IXY_DENO run -A --no-check"
PEER=$(ls /sys/bus/pci/devices/$PEER_PCI/net/ 2>/dev/null ||
  ls /sys/bus/pci/devices/$PEER_PCI/virtio*/net/)
# Keep the kernel quiet on the peer (no IPv6 autoconfiguration frames).
echo 1 > /proc/sys/net/ipv6/conf/"$PEER"/disable_ipv6
rm -f /tmp/peer.ready
$RUN tools/peer.ts recv "$PEER" --count "$COUNT" --timeout 60 --ready-file /tmp/peer.ready \
  > /tmp/peer.json &
PEER_PID=$!
while [ ! -e /tmp/peer.ready ]; do
  kill -0 $PEER_PID 2>/dev/null || { wait $PEER_PID || true; exit 1; }
  sleep 0.2
done
RX_BEFORE=$(cat /sys/class/net/"$PEER"/statistics/rx_packets)
$RUN tools/pktgen.ts "$OURS" --count "$COUNT"
wait $PEER_PID
RX_AFTER=$(cat /sys/class/net/"$PEER"/statistics/rx_packets)
echo "KERNEL_RX_PACKETS=$((RX_AFTER - RX_BEFORE))"
echo "PEER_RESULT=$(cat /tmp/peer.json)"
echo "DRIVER_AFTER=$(basename "$(readlink /sys/bus/pci/devices/$OURS/driver)")"
