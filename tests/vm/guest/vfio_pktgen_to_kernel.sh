#!/bin/sh
# Lab-VM test (deno task vm --iommu): pktgen through VFIO. NIC 0 is bound to
# vfio-pci (tools/bind.ts) and ixyInit opens it through VFIO (registers via
# the device fd); the kernel's virtio_net on NIC 1 checks every frame.
# A legacy virtio NIC's DMA bypasses the IOMMU (virtio 1.1 section 6.1), so
# its buffers need physical addresses: pktgen runs as root here.
# Run inside the lab VM:  deno task vm --iommu -- sh tests/vm/guest/vfio_pktgen_to_kernel.sh 2000
set -eu
COUNT=${1:-2000}
OURS=0000:00:10.0
RUN="$IXY_DENO run -A --no-check"
$RUN tools/bind.ts "$OURS" --user nobody
echo "DRIVER=$(basename "$(readlink /sys/bus/pci/devices/$OURS/driver)")"
# As nobody: the clear error (legacy virtio cannot use the IOMMU).
mkdir -p /tmp/deno-nobody && chown 65534:65534 /tmp/deno-nobody
# The host's Deno may live under /root (mode 0700): show it at a path nobody can reach.
touch /tmp/deno && mount --bind "$IXY_DENO" /tmp/deno
set +e
setpriv --reuid=65534 --regid=65534 --clear-groups env DENO_DIR=/tmp/deno-nobody HOME=/tmp \
  /tmp/deno run -A --no-check tools/pktgen.ts "$OURS" --count 10 > /tmp/nobody.txt 2>&1
echo "NOBODY_EXIT=$?"
set -e
echo "NOBODY_OUTPUT=$(cat /tmp/nobody.txt)"
# The rest is the plain test; ixyInit sees vfio-pci and uses VFIO by itself.
exec sh tests/vm/guest/pktgen_to_kernel.sh "$COUNT"
