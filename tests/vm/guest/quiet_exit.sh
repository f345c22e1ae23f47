#!/bin/sh
# Lab-VM test (tests/vm/safety_test.ts): a NIC our tools started is quiet —
# reset, Bus Master Enable clear (PCI 3.0, 6.2.2: the command register's bit 2)
# — whichever way the tool ends, in sysfs mode (as root, physical addresses).
# Each NIC needs a receiving peer on its QEMU hub (a hub holds back a sender
# while no other port can receive). For each NIC given, each case prints
#   CASE <nic> <name> exit=<code> bme=<0|1> driver=<kernel driver or none>
#   <the tool's output>
set -u
RUN="$IXY_DENO run -A --no-check"

# Bit 2 of the command register (config offset 4), read from sysfs.
bme() {
  cmd=$(od -An -tu2 -j4 -N2 "/sys/bus/pci/devices/$1/config" | tr -d ' ')
  echo $(((cmd >> 2) & 1))
}
driver() {
  d=$(readlink "/sys/bus/pci/devices/$1/driver") && basename "$d" || echo none
}
report() { # nic name code output-file
  echo "CASE $1 $2 exit=$3 bme=$(bme "$1") driver=$(driver "$1")"
  cat "$4"
}

# Starts a tool in the background, waits until it has brought the NIC up
# (its first statistics line), sends the signal, and reports how it ended.
# (A second signal that stops at once is tests/unit/exit_guard_test.ts's: here
# the loop ends within a second of the first, before a second could count.)
signalled() { # nic name signal
  nic=$1; name=$2; shift 2
  $RUN tools/pktgen.ts "$nic" --batch 8 >/tmp/out 2>&1 &
  pid=$!
  i=0
  until grep -q '^\[' /tmp/out || [ $i -ge 600 ]; do sleep 0.1; i=$((i + 1)); done
  kill "-$1" $pid
  wait $pid
  report "$nic" "$name" $? /tmp/out
}

for NIC in "$@"; do
  echo "BEFORE $NIC bme=$(bme "$NIC") driver=$(driver "$NIC")"
  # An error before bring-up: the file cannot be created, so the NIC is not
  # touched (it keeps its kernel driver).
  $RUN tools/pcap.ts "$NIC" /nonexistent/x.pcap >/tmp/out 2>&1
  report "$NIC" bad-output-file $? /tmp/out
  # From here on the NIC stays with no driver between the runs.
  $RUN tools/pktgen.ts "$NIC" --count 500 >/tmp/out 2>&1
  report "$NIC" normal-end $? /tmp/out
  # An error after bring-up: /dev/full takes the open, fails the write.
  $RUN tools/pcap.ts "$NIC" /dev/full --seconds 1 >/tmp/out 2>&1
  report "$NIC" error-after-bring-up $? /tmp/out
  signalled "$NIC" sigint INT
  signalled "$NIC" sigterm TERM
  signalled "$NIC" sighup HUP
  # --rebind: the kernel driver it had at boot gets the NIC back at the end.
  echo "$NIC" >/sys/bus/pci/drivers_probe
  $RUN tools/pktgen.ts "$NIC" --count 100 --rebind >/tmp/out 2>&1
  report "$NIC" rebind $? /tmp/out
done
