#!/bin/sh
# Lab-VM test (deno task vm --iommu, plus an AHCI controller at 00:07.0 and a
# Realtek RTL8139 at 00:06.0, which tests/vm/bind_test.ts adds): tools/bind.ts
# takes network controllers only, and a refusal leaves every binding as it was.
# The IOMMU is on, so a refusal of the SATA controller or the host bridge can
# only come from the class check. Each case prints
#   CASE <name> exit=<code> before=<driver> after=<driver>
#   <the tool's output>
#   END
# where before/after are the driver of the device the case is about (none: no driver).
set -u
RUN="$IXY_DENO run -A --no-check"
BRIDGE=0000:00:00.0
SATA=0000:00:07.0
RTL=0000:00:06.0
NIC=0000:00:10.0
NIC2=0000:00:11.0
# The e1000 the lab VM puts behind the IOMMU (tools/vm/qemu.ts IOMMU_NIC_SLOT).
E1000=0000:00:1e.0
# The guest has no udev: load the SATA controller's driver by hand.
modprobe ahci
driver() {
  link=$(readlink "/sys/bus/pci/devices/$1/driver") && basename "$link" || echo none
}
case_() {
  name=$1 dev=$2; shift 2
  before=$(driver "$dev")
  out=$("$@" 2>&1); code=$?
  echo "CASE $name exit=$code before=$before after=$(driver "$dev")"
  echo "$out"
  echo "END"
}
echo "IOMMU_GROUPS=$(ls /sys/kernel/iommu_groups | wc -l)"
echo "SATA_GROUP=$(basename "$(readlink /sys/bus/pci/devices/$SATA/iommu_group)")"
echo "BRIDGE_GROUP=$(basename "$(readlink /sys/bus/pci/devices/$BRIDGE/iommu_group)")"
# Not network controllers: refused, with and without --unbind.
case_ sata $SATA $RUN tools/bind.ts $SATA
case_ sata-unbind $SATA $RUN tools/bind.ts $SATA --unbind
case_ bridge $BRIDGE $RUN tools/bind.ts $BRIDGE
case_ bridge-unbind $BRIDGE $RUN tools/bind.ts $BRIDGE --unbind
# A NIC still with its kernel driver: nothing to undo.
case_ nic-unbind $NIC $RUN tools/bind.ts $NIC --unbind
# A NIC whose interface is up: only with --force; then --unbind gives it back.
IF=$(ls /sys/bus/pci/devices/$NIC/virtio*/net/)
ip link set "$IF" up
case_ nic-up $NIC $RUN tools/bind.ts $NIC
case_ nic-up-force $NIC $RUN tools/bind.ts $NIC --force
case_ nic-back $NIC $RUN tools/bind.ts $NIC --unbind
# fwd with one NIC whose DMA goes through the IOMMU (the e1000 behind
# vfio-pci: IO virtual addresses) and one in sysfs mode (physical addresses):
# refused before either is touched (one buffer cannot have both addresses).
# (A legacy virtio NIC behind vfio-pci bypasses the IOMMU and uses physical
# addresses too: that pair would be fine.)
$RUN tools/bind.ts $E1000 >/dev/null 2>&1
case_ fwd-mixed $NIC2 $RUN tools/fwd.ts $E1000 $NIC2 --seconds 1
case_ fwd-mixed-reversed $NIC2 $RUN tools/fwd.ts $NIC2 $E1000 --seconds 1
$RUN tools/bind.ts $E1000 --unbind >/dev/null 2>&1
# A NIC none of our drivers takes: VFIO does not care, bind warns and binds.
case_ unsupported $RTL $RUN tools/bind.ts $RTL
true
