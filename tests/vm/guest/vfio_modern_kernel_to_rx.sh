#!/bin/sh
# Lab-VM test (deno task vm --iommu --modern-nics): the kernel's virtio_net on
# NIC 1 sends COUNT test frames; our rxBatch, as the normal user nobody through
# VFIO on modern virtio NIC 0, compares each byte (tests/vm/guest/rx_check.ts).
# Run inside the lab VM:
#   deno task vm --iommu --modern-nics -- sh tests/vm/guest/vfio_modern_kernel_to_rx.sh 2000
set -eu
COUNT=${1:-2000}
OURS=0000:00:10.0
PEER_PCI=0000:00:11.0
. tests/vm/guest/vfio_modern_lib.sh
PEER=$(ls /sys/bus/pci/devices/$PEER_PCI/virtio*/net/)
echo 1 > /proc/sys/net/ipv6/conf/"$PEER"/disable_ipv6
ip link set "$PEER" up
PEER_MAC=$(cat /sys/class/net/"$PEER"/address)
bind_nobody "$OURS" OURS
rm -f /tmp/nobody/rx.ready /tmp/nobody/rx.sent
$AS_NOBODY tests/vm/guest/rx_check.ts "$OURS" --count "$COUNT" --src-mac "$PEER_MAC" \
  --ready-file /tmp/nobody/rx.ready --sent-file /tmp/nobody/rx.sent --timeout 60 > /tmp/rx.json &
RX_PID=$!
while [ ! -e /tmp/nobody/rx.ready ]; do
  kill -0 $RX_PID 2>/dev/null || { wait $RX_PID || true; cat /tmp/rx.json; exit 1; }
  sleep 0.2
done
TX_BEFORE=$(cat /sys/class/net/"$PEER"/statistics/tx_packets)
$RUN tools/peer.ts send "$PEER" --count "$COUNT"
# What the card dropped (ring full) never arrives: rx_check stops once idle after this.
touch /tmp/nobody/rx.sent
wait $RX_PID
TX_AFTER=$(cat /sys/class/net/"$PEER"/statistics/tx_packets)
echo "KERNEL_TX_PACKETS=$((TX_AFTER - TX_BEFORE))"
echo "RX_RESULT=$(cat /tmp/rx.json)"
echo "DMAR_FAULTS=$(dmesg | grep -c 'DMAR: \[DMA' || true)"
