#!/bin/sh
# Lab-VM test of pcap: the kernel's virtio_net on NIC 1 sends COUNT test frames,
# our pcap on NIC 0 writes them to a file, and tshark (Wireshark's decoder, a
# reader we did not write) must decode every one.
# Run: deno task vm -- sh tests/vm/guest/pcap_capture.sh 500
set -eu
COUNT=${1:-500}
RUN="$IXY_DENO run -A --no-check"
PEER=$(ls /sys/bus/pci/devices/0000:00:11.0/virtio*/net/)
echo 1 > /proc/sys/net/ipv6/conf/"$PEER"/disable_ipv6
ip link set "$PEER" up
# --rebind: afterwards the NIC goes back to the kernel driver it came from.
$RUN tools/pcap.ts 0000:00:10.0 /tmp/capture.pcap -n "$COUNT" --rebind > /tmp/pcap.log 2>&1 &
PCAP=$!
while ! grep -q '^pcap: capturing' /tmp/pcap.log; do
  kill -0 $PCAP 2>/dev/null || { cat /tmp/pcap.log; exit 1; }
  sleep 0.2
done
$RUN tools/peer.ts send "$PEER" --count "$COUNT"
wait $PCAP
grep '^pcap: wrote' /tmp/pcap.log
echo "DRIVER_AFTER=$(basename "$(readlink /sys/bus/pci/devices/0000:00:10.0/driver)")"
echo "IFACE_AFTER=$(ls /sys/bus/pci/devices/0000:00:10.0/virtio*/net/ 2>/dev/null)"
echo "TSHARK_ALL=$(tshark -r /tmp/capture.pcap 2>/dev/null | wc -l)"
echo "TSHARK_OURS=$(tshark -r /tmp/capture.pcap -Y 'ip.src == 198.18.0.1 && ip.dst == 198.18.0.2 && udp.dstport == 1337 && frame.len == 60' 2>/dev/null | wc -l)"
echo "TSHARK_BAD_CHECKSUM=$(tshark -r /tmp/capture.pcap -o udp.check_checksum:TRUE -o ip.check_checksum:TRUE -Y 'udp.checksum.status == "Bad" || ip.checksum.status == "Bad"' 2>/dev/null | wc -l)"
echo "TSHARK_FIRST=$(tshark -r /tmp/capture.pcap -c 1 -T fields -e frame.time_epoch -e eth.src -e udp.length 2>/dev/null)"
