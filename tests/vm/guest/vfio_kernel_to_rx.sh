#!/bin/sh
# Lab-VM test (deno task vm --iommu): kernel_to_rx.sh through VFIO. NIC 0 is bound
# to vfio-pci first (tools/bind.ts); ixyInit then opens it through VFIO. Root:
# a legacy virtio NIC bypasses the IOMMU (see vfio_pktgen_to_kernel.sh).
# Run inside the lab VM:  deno task vm --iommu -- sh tests/vm/guest/vfio_kernel_to_rx.sh 2000
set -eu
COUNT=${1:-2000}
OURS=0000:00:10.0
$IXY_DENO run -A --no-check tools/bind.ts "$OURS"
echo "DRIVER=$(basename "$(readlink /sys/bus/pci/devices/$OURS/driver)")"
exec sh tests/vm/guest/kernel_to_rx.sh "$COUNT"
