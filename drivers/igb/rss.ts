/**
 * Receive-side scaling on the 82576: the register map with which
 * drivers/ixgbe/rss.ts's `setupRss` programs this chip. The machine is the
 * 82599's (82576 datasheet 7.1.1, receive queue assignment, and its
 * "Receive-Side Scaling (RSS)" section; the 82599's 7.1.2.8): a Toeplitz
 * hash of addresses and ports under a 40-byte key, whose seven low bits
 * index a 128-entry redirection table naming the queue. src/rss.ts computes
 * it in software.
 *
 * The registers, next to the 82599's (offsets as in Linux's e1000_regs.h;
 * the datasheet's receive-register chapter names them):
 *
 * | register     | 82576              | 82599               | layout                     |
 * |--------------|--------------------|---------------------|----------------------------|
 * | RSSRK[0..9]  | 0x5C80 + 4n        | 0x0EB80 + 4n        | key byte 4n in bits 7:0    |
 * | RETA[0..31]  | 0x5C00 + 4n        | 0x0EB00 + 4n        | entry 4n in bits 7:0       |
 * | RXCSUM.PCSD  | 0x5000 bit 13      | 0x05000 bit 13      | hash in write-back dword 1 |
 * | MRQC         | 0x5818             | 0x0EC80             | see below                  |
 *
 * MRQC: the hash-type enables are the same bits (16 TcpIPv4, 17 IPv4, 22
 * UdpIPv4); the mode is "Multiple Receive Queues Enable", bits 2:0, where
 * 010b means RSS only (the 82599's MRQE is 4 bits, 0001b). The write-back
 * carries the RSS type in dword 0 bits 3:0 and the hash in dword 1, as the
 * 82599's (82576 7.1.5.2), so drivers/ixgbe/rx.ts's `rxBatch` hands both to
 * the application (`PktBuf.rssType`, `PktBuf.rssHash`).
 *
 * What QEMU's igb model (hw/net/igb_core.c, the lab VM's 82576) honours, and
 * this map gives it: RSS runs only while MRQC's mode field selects RSS
 * (`igb_rss_enabled` compares the low bits with E1000_MRQC_ENABLE_RSS_MQ,
 * 2) *and* RXCSUM.PCSD is set — without PCSD the model does no RSS at all
 * and every frame goes to queue 0, where real hardware would still spread
 * them and only lose the hash. It takes the key as the bytes of RSSRK in
 * memory order and a queue from the low 4 bits of a RETA entry
 * (E1000_RSS_QUEUE): what src/rss.ts's packing writes.
 *
 * A table entry names one of 16 queues (4 bits, as QEMU reads it), so all
 * of IgbDevice's 16 receive queues can get RSS traffic; Linux's igb uses at
 * most 8 on an 82576.
 *
 * @module
 */

import type { RssRegisterMap } from "../ixgbe/rss.ts";
import {
  IGB_MRQC,
  IGB_MRQC_BITS,
  IGB_RETA,
  IGB_RSSRK,
  IGB_RXCSUM,
  IGB_RXCSUM_BITS,
} from "./constants.ts";

/** The 82576's RSS registers, for drivers/ixgbe/rss.ts's `setupRss`. */
export const IGB_RSS_MAP: RssRegisterMap = {
  rssrk: IGB_RSSRK,
  reta: IGB_RETA,
  rxcsum: { offset: IGB_RXCSUM, pcsd: IGB_RXCSUM_BITS.PCSD },
  // 010b "RSS only", hash IPv4, IPv4/TCP, IPv4/UDP (the same field bits as the 82599's).
  mrqc: {
    offset: IGB_MRQC,
    value: (IGB_MRQC_BITS.ENABLE_RSS | IGB_MRQC_BITS.RSS_FIELD_IPV4 |
      IGB_MRQC_BITS.RSS_FIELD_IPV4_TCP | IGB_MRQC_BITS.RSS_FIELD_IPV4_UDP) >>> 0,
  },
};
