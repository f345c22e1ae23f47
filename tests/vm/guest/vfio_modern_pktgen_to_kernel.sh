#!/bin/sh
# Lab-VM test (deno task vm --iommu --modern-nics): pktgen as the normal user
# nobody through VFIO on modern virtio NIC 0 (DMA through the IOMMU); the
# kernel's virtio_net on NIC 1 (same hub) checks every frame.
# Run inside the lab VM:
#   deno task vm --iommu --modern-nics -- sh tests/vm/guest/vfio_modern_pktgen_to_kernel.sh 2000
set -eu
COUNT=${1:-2000}
# OURS / PEER_PCI / KMOD from the environment for other NIC models (tests/vm/e1000_test.ts:
# two e1000s, KMOD=e1000 so that the kernel drives the peer).
OURS=${OURS:-0000:00:10.0}
PEER_PCI=${PEER_PCI:-0000:00:11.0}
[ -n "${KMOD:-}" ] && modprobe "$KMOD"
. tests/vm/guest/vfio_modern_lib.sh
PEER=$(ls /sys/bus/pci/devices/$PEER_PCI/net/ 2>/dev/null ||
  ls /sys/bus/pci/devices/$PEER_PCI/virtio*/net/)
echo 1 > /proc/sys/net/ipv6/conf/"$PEER"/disable_ipv6
bind_nobody "$OURS" OURS
rm -f /tmp/peer.ready
$RUN tools/peer.ts recv "$PEER" --count "$COUNT" --timeout 60 --ready-file /tmp/peer.ready \
  > /tmp/peer.json &
PEER_PID=$!
while [ ! -e /tmp/peer.ready ]; do sleep 0.2; done
RX_BEFORE=$(cat /sys/class/net/"$PEER"/statistics/rx_packets)
$AS_NOBODY tools/pktgen.ts "$OURS" --count "$COUNT" > /tmp/pktgen.txt 2>&1 || {
  cat /tmp/pktgen.txt; exit 1; }
cat /tmp/pktgen.txt
wait $PEER_PID
RX_AFTER=$(cat /sys/class/net/"$PEER"/statistics/rx_packets)
echo "KERNEL_RX_PACKETS=$((RX_AFTER - RX_BEFORE))"
echo "PEER_RESULT=$(cat /tmp/peer.json)"
echo "DRIVER_AFTER=$(basename "$(readlink /sys/bus/pci/devices/$OURS/driver)")"
echo "DMAR_FAULTS=$(dmesg | grep -c 'DMAR: \[DMA' || true)"
