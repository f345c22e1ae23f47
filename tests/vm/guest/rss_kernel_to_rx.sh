#!/bin/sh
# Lab-VM RSS test (tests/vm/igb_rss_test.ts): the kernel's NIC PEER_PCI sends
# COUNT test frames over FLOWS UDP flows (peer tool, AF_PACKET socket, source
# ports 42 .. 42+FLOWS-1); our driver on OURS receives them on QUEUES receive
# queues with RSS and checks every frame (tests/vm/guest/rss_rx_check.ts).
# Run inside the lab VM:  sh tests/vm/guest/rss_kernel_to_rx.sh 2000 64 2
set -eu
COUNT=${1:-2000}
FLOWS=${2:-64}
QUEUES=${3:-2}
OURS=${OURS:-0000:00:10.0}
PEER_PCI=${PEER_PCI:-0000:00:11.0}
[ -n "${KMOD:-}" ] && modprobe "$KMOD"
RUN="$IXY_DENO run -A --no-check"
PEER=$(ls /sys/bus/pci/devices/$PEER_PCI/net/ 2>/dev/null ||
  ls /sys/bus/pci/devices/$PEER_PCI/virtio*/net/)
echo 1 > /proc/sys/net/ipv6/conf/"$PEER"/disable_ipv6
ip link set "$PEER" up
PEER_MAC=$(cat /sys/class/net/"$PEER"/address)
rm -f /tmp/rss.ready /tmp/rss.sent
# RX_RING_SIZE: descriptors per receive ring; room for the whole burst on
# either queue (QEMU's igb drops a frame that finds its ring full).
$RUN tests/vm/guest/rss_rx_check.ts "$OURS" --count "$COUNT" --src-mac "$PEER_MAC" \
  --flows "$FLOWS" --queues "$QUEUES" ${RX_RING_SIZE:+--rx-ring-size "$RX_RING_SIZE"} \
  --ready-file /tmp/rss.ready --sent-file /tmp/rss.sent --timeout 120 > /tmp/rss.json &
RX_PID=$!
# Wait for the receiver (or its death), as kernel_to_rx.sh does.
while [ ! -e /tmp/rss.ready ]; do
  kill -0 $RX_PID 2>/dev/null || { wait $RX_PID || true; exit 1; }
  sleep 0.2
done
TX_BEFORE=$(cat /sys/class/net/"$PEER"/statistics/tx_packets)
$RUN tools/peer.ts send "$PEER" --count "$COUNT" --flows "$FLOWS"
# The receiver stops once this exists and its queues are idle.
touch /tmp/rss.sent
wait $RX_PID
TX_AFTER=$(cat /sys/class/net/"$PEER"/statistics/tx_packets)
echo "KERNEL_TX_PACKETS=$((TX_AFTER - TX_BEFORE))"
echo "RSS_RESULT=$(cat /tmp/rss.json)"
