#!/bin/sh
# Lab-VM throughput runs for docs/performance.md. Run inside the VM:
#
#   deno task vm --nics 1 --nic-backend udp -- sh tools/bench/vm_guest.sh kernel-pktgen
#   deno task vm --nics 4 --nic-backend udp -- sh tools/bench/vm_guest.sh ixy-fwd
#   deno task vm --nics 4 --nic-backend udp -- sh tools/bench/vm_guest.sh bridge
#
# Topology for the forwarding runs (--nics 4 --nic-backend udp cables NICs
# 0-1 and 2-3 over UDP sockets on the host's loopback):
#   our pktgen on NIC0 (00:10.0) --udp--> NIC1 (00:11.0) --forwarder--> NIC2 (00:12.0) --udp--> NIC3
# NIC3 stays with the kernel, interface down: QEMU does not read its socket,
# so frames sent to it are dropped by the host kernel (a sink that never
# pushes back). Not a hub: a NIC alone on a QEMU hub stops transmitting after
# one ring (the hub reports that no port can receive, QEMU queues and waits).
# "ixy-fwd": our fwd between NIC1 and NIC2. "bridge": the kernel's virtio_net
# on NIC1 and NIC2 in a Linux bridge (br0). Either way the rate is NIC2's
# transmitted frames per second, counted over 10 s in the middle of a 20 s run.
set -eu
RUN="$IXY_DENO run -A --no-check"
MODE=${1:?usage: vm_guest.sh kernel-pktgen|ixy-fwd|bridge}
SECONDS_RUN=${2:-20}
ifof() { ls /sys/bus/pci/devices/"$1"/virtio*/net/; }
txp() { cat /sys/class/net/"$1"/statistics/tx_packets; }
rate() { # name before after seconds
  awk -v n="$1" -v a="$2" -v b="$3" -v s="$4" 'BEGIN { printf "RESULT %s: %.4f Mpps (%d frames in %d s)\n", n, (b - a) / s / 1e6, b - a, s }'
}
echo "load in guest: $(cat /proc/loadavg); vCPUs: $(nproc)"

case "$MODE" in
kernel-pktgen)
  # The kernel's own packet generator (Documentation/networking/pktgen.rst)
  # on the kernel's virtio_net: 60-byte UDP frames, like our pktgen.
  IF=$(ifof 0000:00:10.0)
  ip link set "$IF" up
  modprobe pktgen
  pg() { echo "$2" > "/proc/net/pktgen/$1"; }
  pg kpktgend_0 "rem_device_all"
  pg kpktgend_0 "add_device $IF"
  pg "$IF" "count 0"
  pg "$IF" "pkt_size 64" # with the 4-byte CRC pktgen counts: 60 bytes on the wire as ours
  pg "$IF" "delay 0"
  pg "$IF" "dst 198.18.0.2"
  pg "$IF" "dst_mac ff:ff:ff:ff:ff:ff"
  pg "$IF" "burst 32"
  (sleep "$SECONDS_RUN"; echo stop > /proc/net/pktgen/pgctrl) &
  (sleep 5; A=$(txp "$IF"); sleep 10; B=$(txp "$IF"); rate "kernel pktgen $IF" "$A" "$B" 10) &
  echo start > /proc/net/pktgen/pgctrl || true
  wait
  cat "/proc/net/pktgen/$IF" | tail -4
  ;;
ixy-fwd | bridge)
  if [ "$MODE" = bridge ]; then
    I1=$(ifof 0000:00:11.0)
    I2=$(ifof 0000:00:12.0)
    modprobe bridge
    ip link add br0 type bridge
    ip link set "$I1" master br0
    ip link set "$I2" master br0
    ip link set "$I1" up
    ip link set "$I2" up
    ip link set br0 up
    COUNT() { txp "$I2"; }
  else
    $RUN tools/fwd.ts 0000:00:11.0 0000:00:12.0 --seconds $((SECONDS_RUN + 10)) > /tmp/fwd.log 2>&1 &
    while ! grep -q '^fwd: .*<->' /tmp/fwd.log; do sleep 0.2; done
    COUNT() { grep '^\[0000:00:12.0\] TX' /tmp/fwd.log | tail -1; }
  fi
  $RUN tools/pktgen.ts 0000:00:10.0 --seconds "$SECONDS_RUN" > /tmp/pktgen.log 2>&1 &
  PG=$!
  if [ "$MODE" = bridge ]; then
    sleep 8; A=$(COUNT); sleep 10; B=$(COUNT)
    rate "kernel bridge $I1 -> $I2" "$A" "$B" 10
  fi
  wait $PG
  echo "--- pktgen"; grep -E 'TX:|^pktgen' /tmp/pktgen.log | tail -12
  if [ "$MODE" = ixy-fwd ]; then
    wait
    echo "--- fwd"; grep -E '0000:00:1[12].0\] (RX|TX)|^fwd|dropped' /tmp/fwd.log | tail -40
  fi
  ;;
*)
  echo "unknown mode $MODE" >&2
  exit 2
  ;;
esac
