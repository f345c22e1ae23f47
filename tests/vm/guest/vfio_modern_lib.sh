#!/bin/sh
# Sourced by the vfio_modern_*.sh lab-VM scripts (deno task vm --iommu
# --modern-nics): the NICs are modern virtio 1.x devices (1af4:1041) that
# offer VIRTIO_F_ACCESS_PLATFORM, so their DMA goes through the IOMMU and a
# normal user can drive them through VFIO. Defines:
#   RUN          Deno as root (kernel-side helpers: peer, TCP ends)
#   bind_nobody  hand a NIC's IOMMU group to nobody (uid 65534), print DRIVER_<n>, DEVICE_ID_<n>
#   AS_NOBODY    command prefix: run a Deno program as nobody (setpriv execs env execs
#                deno, so a background job's $! is the Deno process itself)
RUN="$IXY_DENO run -A --no-check"
# nobody needs a Deno cache it can write, and room for pinned pages.
mkdir -p /tmp/deno-nobody /tmp/nobody && chown 65534:65534 /tmp/deno-nobody /tmp/nobody
# The host's Deno may live under /root (mode 0700): show it at a path nobody can reach.
[ -e /tmp/deno ] || { touch /tmp/deno && mount --bind "$IXY_DENO" /tmp/deno; }
ulimit -l 1048576
bind_nobody() { # pci-address label
  $RUN tools/bind.ts "$1" --user nobody > /dev/null
  echo "DRIVER_$2=$(basename "$(readlink /sys/bus/pci/devices/"$1"/driver)")"
  echo "DEVICE_ID_$2=$(cat /sys/bus/pci/devices/"$1"/device)"
}
AS_NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups env DENO_DIR=/tmp/deno-nobody HOME=/tmp /tmp/deno run -A --no-check"
