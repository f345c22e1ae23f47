#!/bin/sh
# Lab-VM test: bad input gets one clear line and a non-zero exit, and a failed
# start leaves the NIC with its kernel driver. Each case prints
#   CASE <name> exit=<code>
#   <the tool's output>
# Needs a Realtek RTL8139 at 00:1e.0 (tests/vm/virtio_test.ts adds it with extraDevices).
# OURS (default 0000:00:10.0): a virtio NIC the kernel drives. It takes the
# hugepages away and unmounts hugetlbfs: run it last in a boot.
set -u
RUN="$IXY_DENO run -A --no-check"
OURS=${OURS:-0000:00:10.0}
case_() {
  name=$1; shift
  out=$("$@" 2>&1); code=$?
  echo "CASE $name exit=$code"
  echo "$out"
}
case_ malformed $RUN tools/pktgen.ts 0000:00:zz.0
case_ missing $RUN tools/pktgen.ts 0000:00:1f.7
case_ not-a-nic $RUN tools/pktgen.ts 0000:00:00.0
case_ bad-option $RUN tools/pktgen.ts $OURS --size 20
case_ frame-too-big $RUN tools/pktgen.ts $OURS --size 3000
# A Realtek RTL8139 (10ec:8139) at 00:1e.0: a NIC, but not one we drive.
case_ unsupported $RUN tools/pktgen.ts 0000:00:1e.0
case_ unknown-option $RUN tools/pktgen.ts $OURS --frobnicate
# A kernel interface that is up is not taken without --force.
IF=$(ls /sys/bus/pci/devices/$OURS/virtio*/net/)
ip link set "$IF" up
case_ in-use $RUN tools/pktgen.ts $OURS --count 1
ip link set "$IF" down
# Not root: run as nobody (with its own Deno cache directory).
mkdir -p /tmp/nobody-deno && chmod 777 /tmp/nobody-deno
case_ not-root env DENO_DIR=/tmp/nobody-deno setpriv --reuid=65534 --regid=65534 --clear-groups \
  $RUN tools/pktgen.ts $OURS --count 1
# Too few hugepages.
echo 0 > /proc/sys/vm/nr_hugepages
case_ no-hugepages $RUN tools/pktgen.ts $OURS --count 1
echo "DRIVER_AFTER_FAILURES=$(basename "$(readlink /sys/bus/pci/devices/$OURS/driver)")"
# No hugetlbfs at all.
umount /dev/hugepages
case_ no-hugetlbfs $RUN tools/pktgen.ts $OURS --count 1
# Without hugepages, a device that is not ours is still refused for what it is:
# identified before any DMA memory is set up.
case_ not-a-nic-no-hugepages $RUN tools/pktgen.ts 0000:00:00.0
case_ unsupported-no-hugepages $RUN tools/pktgen.ts 0000:00:1e.0
echo "DRIVER_AFTER_FAILURES2=$(basename "$(readlink /sys/bus/pci/devices/$OURS/driver)")"
