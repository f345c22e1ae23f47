#!/bin/sh
# Lab-VM test of the ring viewer: `deno task view --nic <pci>` drives NIC 0
# (sending generated frames at PPS packets/s, receiving what arrives); the
# kernel's virtio_net on NIC 1 is the peer: it sends COUNT frames to us and
# receives ours. view_check.ts talks to the viewer as the page does.
# Run inside the lab VM:  deno task vm -- sh tests/vm/guest/view.sh
set -eu
COUNT=${1:-2000}
PPS=${PPS:-200}
OURS=${OURS:-0000:00:10.0}
PEER_PCI=${PEER_PCI:-0000:00:11.0}
RUN="$IXY_DENO run -A --no-check"
PEER=$(ls /sys/bus/pci/devices/$PEER_PCI/net/ 2>/dev/null ||
  ls /sys/bus/pci/devices/$PEER_PCI/virtio*/net/)
echo 1 > /proc/sys/net/ipv6/conf/"$PEER"/disable_ipv6
ip link set "$PEER" up
RX_BEFORE=$(cat /sys/class/net/"$PEER"/statistics/rx_packets)
rm -f /tmp/view.log
# As `deno task view` runs it: the web server in a confined Worker.
$RUN --unstable-worker-options --no-prompt tools/view/main.ts --nic "$OURS" --port 8080 \
  --pps "$PPS" --seconds 400 > /tmp/view.log 2>&1 &
VIEW_PID=$!
# The address, with its per-run token, is printed once the viewer runs (slow under emulation).
URL=
while [ -z "$URL" ]; do
  kill -0 $VIEW_PID 2>/dev/null || break
  sleep 0.5
  URL=$(sed -n 's/^view: open \(http[^ ]*\).*/\1/p' /tmp/view.log 2>/dev/null)
done
rm -f /tmp/view.ready /tmp/view.done
$RUN tests/vm/guest/view_check.ts "$URL" --ready-file /tmp/view.ready \
  --done-file /tmp/view.done --seconds 4 > /tmp/view.json &
CHECK_PID=$!
while [ ! -e /tmp/view.ready ]; do
  kill -0 $CHECK_PID 2>/dev/null || break
  sleep 0.5
done
TX_BEFORE=$(cat /sys/class/net/"$PEER"/statistics/tx_packets)
$RUN tools/peer.ts send "$PEER" --count "$COUNT"
TX_AFTER=$(cat /sys/class/net/"$PEER"/statistics/tx_packets)
touch /tmp/view.done
wait $CHECK_PID
kill -INT $VIEW_PID
wait $VIEW_PID || true
RX_AFTER=$(cat /sys/class/net/"$PEER"/statistics/rx_packets)
echo "VIEW_LOG=$(tr '\n' '|' < /tmp/view.log)"
echo "KERNEL_TX_PACKETS=$((TX_AFTER - TX_BEFORE))"
echo "KERNEL_RX_PACKETS=$((RX_AFTER - RX_BEFORE))"
echo "VIEW_RESULT=$(cat /tmp/view.json)"
