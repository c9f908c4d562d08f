// What the agent reads from and writes to the Linux kernel's forwarding state: links (bridge,
// VXLAN, veth, tap), addresses, routes, neighbours and the bridge forwarding database. Plain
// values: the netlink layer (netlink_kernel.h) and the fake (fake_kernel.h) speak them alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "core/ip.h"

namespace isthmus::kernel {

// A VXLAN device (IFLA_INFO_DATA of kind "vxlan").
struct VxlanInfo {
  uint32_t vni = 0;
  std::optional<IpAddress> local = {};  // the VTEP address
  uint16_t port = 4789;                 // UDP destination port (RFC 7348 §5)
  bool learning = false;                // data-plane learning: off, the control plane fills the FDB
  bool operator==(const VxlanInfo&) const = default;
};

// A bridge port's flags (IFLA_PROTINFO of an AF_BRIDGE link).
struct BridgePortInfo {
  bool learning = true;
  bool neigh_suppress = false;  // ARP/ND answered from the bridge's neighbour entries
  bool operator==(const BridgePortInfo&) const = default;
};

struct Link {
  int index = 0;
  std::string name = {};
  std::string kind = {};  // IFLA_INFO_KIND: "bridge", "vxlan", "veth", "tun"; empty for none
  MacAddress mac = {};
  uint32_t mtu = 0;
  bool up = false;         // administratively (IFF_UP)
  int master = 0;          // the bridge it is a port of; 0: none
  std::string alias = {};  // IFLA_IFALIAS: who made it (the agent marks its own links)
  std::optional<VxlanInfo> vxlan = {};
  std::optional<BridgePortInfo> port = {};  // set when it is a bridge port
  bool operator==(const Link&) const = default;
};

// A link to create.
struct LinkSpec {
  std::string name = {};
  std::string kind = {};  // "bridge", "vxlan", "veth"
  uint32_t mtu = 0;       // 0: the kernel's default
  std::optional<MacAddress> mac = {};
  std::string alias = {};
  std::optional<VxlanInfo> vxlan = {};  // kind "vxlan"
  std::string veth_peer = {};           // kind "veth": the other end's name
  int veth_peer_netns_fd = -1;          // kind "veth": move the other end there (-1: stay)
};

// A change to an existing link; unset fields stay as they are.
struct LinkChange {
  std::optional<bool> up = {};
  std::optional<uint32_t> mtu = {};
  std::optional<int> master = {};  // 0: leave its bridge
  std::optional<MacAddress> mac = {};
  std::optional<std::string> alias = {};
};

// A policy routing rule (`ip rule`): packets that came in on `iif` (when given) and whose mark
// has `fwmark` in the bits of `fwmask` (when fwmask is not 0) are looked up in `table`; with
// `suppress_prefixlength` N a route of that table whose prefix is N long or shorter does not
// count (the lookup goes on with the next rule), -1: none.
struct Rule {
  IpFamily family = IpFamily::V4;
  uint32_t priority = 0;
  std::string iif = {};
  uint32_t table = 0;
  uint32_t fwmark = 0;
  uint32_t fwmask = 0;
  int32_t suppress_prefixlength = -1;
  bool operator==(const Rule&) const = default;
  // As `ip rule` shows it: "iif br100 lookup 1224736868", "fwmark 0x64/0xffffff lookup ...".
  std::string to_string() const;
};

// An address of an interface and the length of its subnet (100.64.1.1/24).
struct Address {
  int ifindex = 0;
  IpAddress ip = {};
  uint8_t length = 0;
  std::string to_string() const { return ip.to_string() + "/" + std::to_string(length); }
  bool operator==(const Address&) const = default;
};

// A unicast or unreachable route of one table. What the kernel makes of a route it is given (see
// Kernel::replace_route): an IPv6 route given metric 0 has metric 1024 (IP6_RT_PRIO_USER).
struct Route {
  Prefix dst = {};
  std::optional<IpAddress> gateway = {};  // of the route's family (an IPv4 VTEP for IPv6: ::ffff:V)
  int oif = 0;
  uint32_t table = 254;  // RT_TABLE_MAIN
  uint8_t protocol = 0;  // RTPROT_*: who installed it
  uint32_t metric = 0;
  bool unreachable = false;  // RTN_UNREACHABLE: the lookup ends here with "no route to host"
  // RTNH_F_ONLINK (`ip route ... via G dev D onlink`): the gateway is taken to be on `oif`'s link
  // without a route to it; the kernel then resolves it with a neighbour entry on `oif` only.
  bool onlink = false;
  bool operator==(const Route&) const = default;
};

// An IPv4 ARP or IPv6 ND entry.
struct Neighbour {
  int ifindex = 0;
  IpAddress ip = {};
  std::optional<MacAddress> mac = {};
  uint16_t state = 0;           // NUD_*
  bool extern_learned = false;  // NTF_EXT_LEARNED: installed by a control plane
  bool operator==(const Neighbour&) const = default;
};

// A bridge forwarding database entry: on a bridge port (learned or static), or on a VXLAN device
// itself (NTF_SELF) with the remote VTEP it tunnels to.
struct FdbEntry {
  int ifindex = 0;      // the port (or VXLAN device)
  MacAddress mac = {};  // 00:00:00:00:00:00 with a dst: a flood (BUM) entry of a VXLAN device
  std::optional<IpAddress> dst = {};  // NDA_DST: the remote VTEP
  int master = 0;                     // NDA_MASTER: the bridge
  uint16_t state = 0;                 // NUD_*
  bool self = false;                  // NTF_SELF: the device's own table (VXLAN)
  bool extern_learned = false;        // NTF_EXT_LEARNED
  bool operator==(const FdbEntry&) const = default;
};

// What the kernel reports on its own (netlink multicast groups).
struct LinkEvent {
  bool removed = false;
  Link link = {};
};
struct AddressEvent {
  bool removed = false;
  Address address = {};
};
struct NeighbourEvent {
  bool removed = false;
  Neighbour neighbour = {};
};
struct FdbEvent {
  bool removed = false;
  FdbEntry entry = {};
};
using Event = std::variant<LinkEvent, AddressEvent, NeighbourEvent, FdbEvent>;

}  // namespace isthmus::kernel
