#!/bin/sh
# Lab-VM test (deno task vm --iommu): kernel_to_rx.sh through VFIO. NIC 0 is bound
# to vfio-pci first (tools/bind.ts); ixyInit then opens it through VFIO. Root:
# a legacy virtio NIC bypasses the IOMMU (see vfio_pktgen_to_kernel.sh).
# Run inside the lab VM:  deno task vm --iommu -- sh tests/vm/guest/vfio_kernel_to_rx.sh 2000
set -eu
COUNT=${1:-2000}
OURS=0000:00:10.0
PEER_PCI=0000:00:11.0
RUN="$IXY_DENO run -A --no-check"
PEER=$(ls /sys/bus/pci/devices/$PEER_PCI/virtio*/net/)
echo 1 > /proc/sys/net/ipv6/conf/"$PEER"/disable_ipv6
ip link set "$PEER" up
$RUN tools/bind.ts "$OURS"
echo "DRIVER=$(basename "$(readlink /sys/bus/pci/devices/$OURS/driver)")"
PEER_MAC=$(cat /sys/class/net/"$PEER"/address)
rm -f /tmp/rx.ready
$RUN tests/vm/guest/rx_check.ts "$OURS" --count "$COUNT" --src-mac "$PEER_MAC" \
  --ready-file /tmp/rx.ready --timeout 60 > /tmp/rx.json &
RX_PID=$!
while [ ! -e /tmp/rx.ready ]; do sleep 0.2; done
TX_BEFORE=$(cat /sys/class/net/"$PEER"/statistics/tx_packets)
$RUN tools/peer.ts send "$PEER" --count "$COUNT"
wait $RX_PID
TX_AFTER=$(cat /sys/class/net/"$PEER"/statistics/tx_packets)
echo "KERNEL_TX_PACKETS=$((TX_AFTER - TX_BEFORE))"
echo "RX_RESULT=$(cat /tmp/rx.json)"
