#!/bin/sh
# Lab-VM RSS test (tests/vm/igb_rss_test.ts): kernel_to_rx.sh with the kernel's
# NIC PEER_PCI sending COUNT test frames over FLOWS UDP flows (source ports
# 42 .. 42+FLOWS-1) and our driver on OURS receiving them on QUEUES receive
# queues with RSS, checking every frame (tests/vm/guest/rss_rx_check.ts).
# Prints RSS_RESULT=<its JSON>.
# Run inside the lab VM:  sh tests/vm/guest/rss_kernel_to_rx.sh 2000 64 2
set -eu
COUNT=${1:-2000}
FLOWS=${2:-64}
QUEUES=${3:-2}
export RECEIVER=tests/vm/guest/rss_rx_check.ts RX_ARGS="--flows $FLOWS --queues $QUEUES"
export PEER_ARGS="--flows $FLOWS" TIMEOUT=120 RESULT=RSS_RESULT
exec sh tests/vm/guest/kernel_to_rx.sh "$COUNT"
