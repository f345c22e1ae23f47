#!/bin/sh
# Lab-VM test (deno task vm --iommu): receive interrupts through VFIO. NIC 0 is
# bound to vfio-pci; irq_rx.ts opens it with MSI-X (one eventfd for the receive
# queue's vector), measures the CPU of an idle receive loop (polling, then
# sleeping on the interrupt), then receives ROUNDS rounds of COUNT frames from
# the kernel peer on NIC 1, one second apart, so it sleeps and wakes between
# them. Root: a legacy virtio NIC bypasses the IOMMU (vfio_pktgen_to_kernel.sh).
# Run inside the lab VM:  deno task vm --iommu -- sh tests/vm/guest/irq_kernel_to_rx.sh 500 4
# OURS / PEER_PCI from the environment for other NIC models; with VFIO_AS_NOBODY=1 the
# receiver runs as the user nobody (a NIC whose DMA the IOMMU translates, e.g. igb).
set -eu
COUNT=${1:-500}
ROUNDS=${2:-4}
IDLE=${3:-3}
OURS=${OURS:-0000:00:10.0}
PEER_PCI=${PEER_PCI:-0000:00:11.0}
RUN="$IXY_DENO run -A --no-check"
RX_RUN=$RUN
PEER=$(ls /sys/bus/pci/devices/$PEER_PCI/virtio*/net/)
echo 1 > /proc/sys/net/ipv6/conf/"$PEER"/disable_ipv6
ip link set "$PEER" up
if [ "${VFIO_AS_NOBODY:-0}" = 1 ]; then
  . tests/vm/guest/vfio_modern_lib.sh
  bind_nobody "$OURS" OURS
  RX_RUN=$AS_NOBODY
else
  $RUN tools/bind.ts "$OURS"
fi
echo "DRIVER=$(basename "$(readlink /sys/bus/pci/devices/$OURS/driver)")"
PEER_MAC=$(cat /sys/class/net/"$PEER"/address)
rm -f /tmp/irq.ready
$RX_RUN tests/vm/guest/irq_rx.ts "$OURS" --count "$COUNT" --rounds "$ROUNDS" \
  --idle-seconds "$IDLE" --src-mac "$PEER_MAC" --ready-file /tmp/irq.ready > /tmp/irq.json &
RX_PID=$!
while [ ! -e /tmp/irq.ready ]; do
  kill -0 $RX_PID 2>/dev/null || { wait $RX_PID; exit 1; }
  sleep 0.2
done
echo "RX_UID=$(awk '/^Uid:/ { print $2 }' /proc/$RX_PID/status)"
TX_BEFORE=$(cat /sys/class/net/"$PEER"/statistics/tx_packets)
i=0
while [ $i -lt "$ROUNDS" ]; do
  sleep 1 # the receiver goes back to sleep
  $RUN tools/peer.ts send "$PEER" --count "$COUNT" > /dev/null
  i=$((i + 1))
done
wait $RX_PID
TX_AFTER=$(cat /sys/class/net/"$PEER"/statistics/tx_packets)
echo "KERNEL_TX_PACKETS=$((TX_AFTER - TX_BEFORE))"
echo "IRQ_RESULT=$(cat /tmp/irq.json)"
