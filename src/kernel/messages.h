// rtnetlink messages (rtnetlink(7)) for the kernel types: built from values, parsed back into
// values. Pure: no sockets here (netlink_kernel.cc sends them). A message from the kernel is
// untrusted input: every length is checked and a bad one is a precise error, never a crash.
#pragma once

#include <linux/netlink.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "core/expected.h"
#include "kernel/types.h"

namespace isthmus::kernel::nl {

// One request message, built in place.
class Message {
 public:
  Message(uint16_t type, uint16_t flags);
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  const nlmsghdr* header() const { return reinterpret_cast<const nlmsghdr*>(buf_.data()); }
  std::span<const uint8_t> bytes() const { return {buf_.data(), header()->nlmsg_len}; }

 private:
  alignas(nlmsghdr) std::array<uint8_t, 4096> buf_{};
};

// Requests. NLM_F_ACK is set on every change so that its outcome is known.
Message new_link(const LinkSpec& spec);
Message set_link(int ifindex, const LinkChange& change);
// A bridge port's flags (`ip link set dev X type bridge_slave learning off neigh_suppress on`).
Message set_bridge_port(int ifindex, const BridgePortInfo& port);
Message del_link(int ifindex);
Message new_address(const Address& a);
Message del_address(const Address& a);
Message replace_route(const Route& r);
// NLM_F_EXCL: fails with EEXIST when a route of the same key is there.
Message add_route(const Route& r);
Message add_rule(const Rule& r);
Message del_rule(const Rule& r);
Message del_route(const Route& r);
Message replace_neighbour(const Neighbour& n);
Message del_neighbour(const Neighbour& n);
// `bridge fdb append` (a second flood destination for 00:00:00:00:00:00) or `replace`.
Message add_fdb(const FdbEntry& e, bool append);
Message del_fdb(const FdbEntry& e);
// A dump of every object of a type (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH) of an
// address family (AF_UNSPEC, AF_INET, AF_INET6, AF_BRIDGE).
Message dump(uint16_t type, uint8_t family);
// The routes of one table and family (AF_INET, AF_INET6): an rtmsg with the table, and RTA_TABLE.
// The kernel filters by table only on a socket with NETLINK_GET_STRICT_CHK (Linux 4.20), where
// it also answers ENOENT for a table that does not exist (yet); elsewhere it sends every table.
Message dump_routes(uint8_t family, uint32_t table);
// The neighbours (AF_INET, AF_INET6) or FDB entries (AF_BRIDGE) of one device (NDA_IFINDEX, when
// not 0) or of one bridge's ports (NDA_MASTER, when not 0): an ndmsg with only the family set.
// The kernel filters by these only on a socket with NETLINK_GET_STRICT_CHK (Linux 4.20).
Message dump_neighbours(uint8_t family, int ifindex, int master);

// Replies and events: one whole message, header included. nullopt: a message of the type that
// is not one of ours to follow (a route of another kind, an FDB entry of the kernel's own
// bridge address...): skipped, not an error.
Expected<Link> parse_link(std::span<const uint8_t> msg);
Expected<Address> parse_address(std::span<const uint8_t> msg);
Expected<std::optional<Route>> parse_route(std::span<const uint8_t> msg);
// A rule with an input interface or a mark that looks up a table; nullopt for the others.
Expected<std::optional<Rule>> parse_rule(std::span<const uint8_t> msg);
// RTM_NEWNEIGH of AF_INET / AF_INET6.
Expected<Neighbour> parse_neighbour(std::span<const uint8_t> msg);
// RTM_NEWNEIGH of AF_BRIDGE.
Expected<FdbEntry> parse_fdb(std::span<const uint8_t> msg);
// Any message of the monitored groups (links, addresses, neighbours, FDB).
Expected<std::optional<Event>> parse_event(std::span<const uint8_t> msg);

// An NLMSG_ERROR message: 0 for an ACK, else the negative errno, with the kernel's own words
// when it sent extended ACK attributes (NLMSGERR_ATTR_MSG).
struct Ack {
  int error = 0;
  std::string message;
};
Expected<Ack> parse_ack(std::span<const uint8_t> msg);
// The NLMSG_DONE that ends a dump: 0, or the negative errno of a dump that failed (the kernel
// puts it there, not in an NLMSG_ERROR), with its extended-ACK text when it sent one.
Ack parse_done(std::span<const uint8_t> msg);

}  // namespace isthmus::kernel::nl
