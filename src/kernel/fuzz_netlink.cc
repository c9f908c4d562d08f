// Fuzzes the parsers of what the kernel sends (rtnetlink replies and events, ACKs): any bytes
// give a value or an error, never a crash. The first octet picks the parser.
#include <cstdint>
#include <vector>

#include "kernel/messages.h"

using namespace isthmus::kernel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // Netlink messages are 4-aligned in the kernel's buffers: copy so the parser sees that too.
  std::vector<uint8_t> msg(data + 1, data + size);
  std::span<const uint8_t> m(msg);
  switch (data[0] % 6) {
    case 0:
      (void)nl::parse_event(m);
      break;
    case 1:
      (void)nl::parse_link(m);
      break;
    case 2:
      (void)nl::parse_route(m);
      break;
    case 3:
      (void)nl::parse_fdb(m);
      break;
    case 4:
      (void)nl::parse_address(m);
      break;
    default:
      (void)nl::parse_ack(m);
      (void)nl::parse_done(m);
      break;
  }
  return 0;
}
