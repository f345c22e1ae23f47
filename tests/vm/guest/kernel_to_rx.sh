#!/bin/sh
# Lab-VM test (b) and (c): the kernel's virtio_net on NIC 1 sends COUNT test
# frames (peer tool, AF_PACKET socket); our driver on NIC 0 receives them and
# compares each byte with the frame the peer built.
# Run inside the lab VM:  deno task vm -- sh tests/vm/guest/kernel_to_rx.sh 2000
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
echo 1 > /proc/sys/net/ipv6/conf/"$PEER"/disable_ipv6
ip link set "$PEER" up
PEER_MAC=$(cat /sys/class/net/"$PEER"/address)
rm -f /tmp/rx.ready /tmp/rx.sent
# RX_RING_SIZE: descriptors of our receive ring (tests/vm/igb_test.ts: room for the whole burst).
# RECEIVER, RX_ARGS, PEER_ARGS, TIMEOUT, RESULT: another receiver with more options, more options
# of the peer, the receiver's time limit, the name of the result line (rss_kernel_to_rx.sh).
# shellcheck disable=SC2086
$RUN "${RECEIVER:-tests/vm/guest/rx_check.ts}" "$OURS" --count "$COUNT" --src-mac "$PEER_MAC" \
  ${RX_RING_SIZE:+--rx-ring-size "$RX_RING_SIZE"} ${RX_ARGS:-} \
  --ready-file /tmp/rx.ready --sent-file /tmp/rx.sent --timeout "${TIMEOUT:-60}" > /tmp/rx.json &
RX_PID=$!
while [ ! -e /tmp/rx.ready ]; do
  kill -0 $RX_PID 2>/dev/null || { wait $RX_PID || true; exit 1; }
  sleep 0.2
done
TX_BEFORE=$(cat /sys/class/net/"$PEER"/statistics/tx_packets)
# shellcheck disable=SC2086
$RUN tools/peer.ts send "$PEER" --count "$COUNT" ${PEER_ARGS:-}
# What the card dropped (ring full) never arrives: rx_check stops once idle after this.
touch /tmp/rx.sent
wait $RX_PID
TX_AFTER=$(cat /sys/class/net/"$PEER"/statistics/tx_packets)
echo "KERNEL_TX_PACKETS=$((TX_AFTER - TX_BEFORE))"
echo "${RESULT:-RX_RESULT}=$(cat /tmp/rx.json)"
echo "DRIVER_AFTER=$(basename "$(readlink /sys/bus/pci/devices/$OURS/driver)")"
