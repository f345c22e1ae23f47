#!/bin/sh
# Lab-VM test (deno task vm --iommu): a device given to a normal user through
# VFIO reads only memory mapped for it. The e1000 (DMA through the emulated
# IOMMU) sends from mapped memory, from an unmapped IOVA, and again from
# mapped memory; the kernel's virtio_net on NIC 0 (same hub) is the peer.
# Run inside the lab VM:  deno task vm --iommu -- sh tests/vm/guest/vfio_iommu_fault.sh
set -eu
E1000=0000:00:1e.0
PEER_PCI=0000:00:10.0
RUN="$IXY_DENO run -A --no-check"
PEER=$(ls /sys/bus/pci/devices/$PEER_PCI/virtio*/net/)
echo 1 > /proc/sys/net/ipv6/conf/"$PEER"/disable_ipv6
# As root: hand the e1000's group to nobody (uid 65534).
$RUN tools/bind.ts "$E1000" --user nobody
# nobody needs a Deno cache it can write, and room for pinned pages.
mkdir -p /tmp/deno-nobody && chown 65534:65534 /tmp/deno-nobody
# The host's Deno may live under /root (mode 0700): show it at a path nobody can reach.
touch /tmp/deno && mount --bind "$IXY_DENO" /tmp/deno
ulimit -l 65536
dmesg -c > /dev/null
rm -f /tmp/peer.ready
# The peer's clock starts before nobody's Deno (empty cache) has even started;
# with 5 s the test failed now and then under TCG on a loaded host (frames: 0)
# and passed on a rerun. The peer leaves as soon as the 2 frames are in, so a
# longer timeout costs nothing when they arrive.
$RUN tools/peer.ts recv "$PEER" --count 2 --timeout 30 --ready-file /tmp/peer.ready \
  > /tmp/peer.json &
PEER_PID=$!
while [ ! -e /tmp/peer.ready ]; do sleep 0.2; done
setpriv --reuid=65534 --regid=65534 --clear-groups \
  env DENO_DIR=/tmp/deno-nobody HOME=/tmp \
  /tmp/deno run -A --no-check tests/vm/guest/vfio_iommu_dma.ts "$E1000"
wait $PEER_PID
echo "PEER_RESULT=$(cat /tmp/peer.json)"
echo "DMAR_FAULTS=$(dmesg | grep -c 'DMAR: \[DMA Read' || true)"
dmesg | grep DMAR | head -5 | sed 's/^/DMESG: /'
# The VM goes on: the kernel still moves packets, the group can be opened again.
echo "ALIVE=$(cat /proc/uptime | cut -d' ' -f1)"
