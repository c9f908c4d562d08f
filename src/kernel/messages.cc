#include "kernel/messages.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include <cstring>

namespace isthmus::kernel::nl {

// ---- Building -----------------------------------------------------------------------------------

Message::Message(uint16_t type, uint16_t flags) {
  nlmsghdr* h = mnl_nlmsg_put_header(buf_.data());
  h->nlmsg_type = type;
  h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
}

namespace {

template <typename T>
T* extra(Message& m) {
  return static_cast<T*>(mnl_nlmsg_put_extra_header(m.header(), sizeof(T)));
}

void put_address(nlmsghdr* h, uint16_t type, const IpAddress& a) {
  mnl_attr_put(h, type, a.size(), a.bytes().data());
}

uint8_t family_of(const IpAddress& a) { return a.is_v4() ? AF_INET : AF_INET6; }

constexpr uint16_t kChange = NLM_F_ACK;

}  // namespace

Message new_link(const LinkSpec& spec) {
  Message m(RTM_NEWLINK, kChange | NLM_F_CREATE | NLM_F_EXCL);
  auto* ifi = extra<ifinfomsg>(m);
  ifi->ifi_family = AF_UNSPEC;
  nlmsghdr* h = m.header();
  mnl_attr_put_strz(h, IFLA_IFNAME, spec.name.c_str());
  if (spec.mtu) mnl_attr_put_u32(h, IFLA_MTU, spec.mtu);
  if (spec.mac) mnl_attr_put(h, IFLA_ADDRESS, 6, spec.mac->bytes.data());
  if (!spec.alias.empty()) mnl_attr_put_strz(h, IFLA_IFALIAS, spec.alias.c_str());
  nlattr* info = mnl_attr_nest_start(h, IFLA_LINKINFO);
  mnl_attr_put_strz(h, IFLA_INFO_KIND, spec.kind.c_str());
  if (spec.kind == "bridge") {
    nlattr* data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
    mnl_attr_put_u32(h, IFLA_BR_STP_STATE, 0);
    mnl_attr_put_u8(h, IFLA_BR_MCAST_SNOOPING, 0);
    mnl_attr_nest_end(h, data);
  } else if (spec.kind == "vxlan" && spec.vxlan) {
    const VxlanInfo& v = *spec.vxlan;
    nlattr* data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
    mnl_attr_put_u32(h, IFLA_VXLAN_ID, v.vni);
    if (v.local) put_address(h, v.local->is_v4() ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, *v.local);
    mnl_attr_put_u16(h, IFLA_VXLAN_PORT, htons(v.port));
    mnl_attr_put_u8(h, IFLA_VXLAN_LEARNING, v.learning ? 1 : 0);
    mnl_attr_nest_end(h, data);
  } else if (spec.kind == "veth") {
    nlattr* data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
    nlattr* peer = mnl_attr_nest_start(h, VETH_INFO_PEER);
    // The peer's own ifinfomsg, then its attributes.
    auto* pifi = static_cast<ifinfomsg*>(mnl_nlmsg_get_payload_tail(h));
    h->nlmsg_len += MNL_ALIGN(sizeof(ifinfomsg));
    std::memset(pifi, 0, sizeof(ifinfomsg));
    mnl_attr_put_strz(h, IFLA_IFNAME, spec.veth_peer.c_str());
    if (spec.mtu) mnl_attr_put_u32(h, IFLA_MTU, spec.mtu);
    if (spec.veth_peer_netns_fd >= 0)
      mnl_attr_put_u32(h, IFLA_NET_NS_FD, static_cast<uint32_t>(spec.veth_peer_netns_fd));
    mnl_attr_nest_end(h, peer);
    mnl_attr_nest_end(h, data);
  }
  mnl_attr_nest_end(h, info);
  return m;
}

Message set_link(int ifindex, const LinkChange& change) {
  Message m(RTM_NEWLINK, kChange);
  auto* ifi = extra<ifinfomsg>(m);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  if (change.up) {
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = *change.up ? IFF_UP : 0;
  }
  if (change.mtu) mnl_attr_put_u32(m.header(), IFLA_MTU, *change.mtu);
  if (change.mac) mnl_attr_put(m.header(), IFLA_ADDRESS, 6, change.mac->bytes.data());
  if (change.alias) mnl_attr_put_strz(m.header(), IFLA_IFALIAS, change.alias->c_str());
  if (change.master)
    mnl_attr_put_u32(m.header(), IFLA_MASTER, static_cast<uint32_t>(*change.master));
  return m;
}

Message set_bridge_port(int ifindex, const BridgePortInfo& port) {
  Message m(RTM_NEWLINK, kChange);
  auto* ifi = extra<ifinfomsg>(m);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  nlmsghdr* h = m.header();
  nlattr* info = mnl_attr_nest_start(h, IFLA_LINKINFO);
  mnl_attr_put_strz(h, IFLA_INFO_SLAVE_KIND, "bridge");
  nlattr* data = mnl_attr_nest_start(h, IFLA_INFO_SLAVE_DATA);
  mnl_attr_put_u8(h, IFLA_BRPORT_LEARNING, port.learning ? 1 : 0);
  mnl_attr_put_u8(h, IFLA_BRPORT_NEIGH_SUPPRESS, port.neigh_suppress ? 1 : 0);
  mnl_attr_nest_end(h, data);
  mnl_attr_nest_end(h, info);
  return m;
}

Message del_link(int ifindex) {
  Message m(RTM_DELLINK, kChange);
  auto* ifi = extra<ifinfomsg>(m);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  return m;
}

namespace {

Message address_message(uint16_t type, uint16_t flags, const Address& a) {
  Message m(type, flags);
  auto* ifa = extra<ifaddrmsg>(m);
  ifa->ifa_family = family_of(a.ip);
  ifa->ifa_prefixlen = a.length;
  ifa->ifa_index = static_cast<uint32_t>(a.ifindex);
  // No duplicate address detection (RFC 4862 §5.4) for the addresses we assign: an anycast
  // gateway is on every node's bridge by design, and a workload's address is unique by IPAM;
  // both are usable at once instead of after a second of tentative state.
  if (type == RTM_NEWADDR && !a.ip.is_v4()) ifa->ifa_flags = IFA_F_NODAD;
  put_address(m.header(), IFA_LOCAL, a.ip);
  put_address(m.header(), IFA_ADDRESS, a.ip);
  return m;
}

Message route_message(uint16_t type, uint16_t flags, const Route& r) {
  Message m(type, flags);
  auto* rtm = extra<rtmsg>(m);
  rtm->rtm_family = family_of(r.dst.address());
  rtm->rtm_dst_len = r.dst.length();
  rtm->rtm_table = r.table < 256 ? static_cast<uint8_t>(r.table) : uint8_t{RT_TABLE_UNSPEC};
  rtm->rtm_protocol = r.protocol ? r.protocol : RTPROT_STATIC;
  rtm->rtm_scope = r.gateway || r.unreachable ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  rtm->rtm_type = r.unreachable ? RTN_UNREACHABLE : RTN_UNICAST;
  if (r.onlink) rtm->rtm_flags |= RTNH_F_ONLINK;
  nlmsghdr* h = m.header();
  if (r.dst.length() > 0) put_address(h, RTA_DST, r.dst.address());
  if (r.gateway) put_address(h, RTA_GATEWAY, *r.gateway);
  if (r.oif) mnl_attr_put_u32(h, RTA_OIF, static_cast<uint32_t>(r.oif));
  if (r.table >= 256) mnl_attr_put_u32(h, RTA_TABLE, r.table);
  if (r.metric) mnl_attr_put_u32(h, RTA_PRIORITY, r.metric);
  return m;
}

Message neigh_message(uint16_t type, uint16_t flags, uint8_t family, int ifindex, uint16_t state,
                      uint8_t ntf) {
  Message m(type, flags);
  auto* nd = extra<ndmsg>(m);
  nd->ndm_family = family;
  nd->ndm_ifindex = ifindex;
  nd->ndm_state = state;
  nd->ndm_flags = ntf;
  return m;
}

}  // namespace

Message new_address(const Address& a) {
  return address_message(RTM_NEWADDR, kChange | NLM_F_CREATE | NLM_F_REPLACE, a);
}
Message del_address(const Address& a) { return address_message(RTM_DELADDR, kChange, a); }

Message replace_route(const Route& r) {
  return route_message(RTM_NEWROUTE, kChange | NLM_F_CREATE | NLM_F_REPLACE, r);
}
Message add_route(const Route& r) {
  return route_message(RTM_NEWROUTE, kChange | NLM_F_CREATE | NLM_F_EXCL, r);
}
Message del_route(const Route& r) { return route_message(RTM_DELROUTE, kChange, r); }

Message rule_message(uint16_t type, uint16_t flags, const Rule& r) {
  Message m(type, flags);
  auto* h = extra<fib_rule_hdr>(m);
  h->family = r.family == IpFamily::V4 ? AF_INET : AF_INET6;
  h->action = FR_ACT_TO_TBL;
  h->table = r.table < 256 ? static_cast<uint8_t>(r.table) : uint8_t{RT_TABLE_UNSPEC};
  mnl_attr_put_u32(m.header(), FRA_PRIORITY, r.priority);
  mnl_attr_put_u32(m.header(), FRA_TABLE, r.table);
  if (!r.iif.empty()) mnl_attr_put_strz(m.header(), FRA_IIFNAME, r.iif.c_str());
  if (r.fwmask != 0) {
    mnl_attr_put_u32(m.header(), FRA_FWMARK, r.fwmark);
    mnl_attr_put_u32(m.header(), FRA_FWMASK, r.fwmask);
  }
  if (r.suppress_prefixlength >= 0)
    mnl_attr_put_u32(m.header(), FRA_SUPPRESS_PREFIXLEN,
                     static_cast<uint32_t>(r.suppress_prefixlength));
  return m;
}

Message add_rule(const Rule& r) {
  return rule_message(RTM_NEWRULE, kChange | NLM_F_CREATE | NLM_F_EXCL, r);
}
Message del_rule(const Rule& r) { return rule_message(RTM_DELRULE, kChange, r); }

Message replace_neighbour(const Neighbour& n) {
  Message m = neigh_message(RTM_NEWNEIGH, kChange | NLM_F_CREATE | NLM_F_REPLACE, family_of(n.ip),
                            n.ifindex, n.state ? n.state : NUD_NOARP,
                            n.extern_learned ? NTF_EXT_LEARNED : 0);
  put_address(m.header(), NDA_DST, n.ip);
  if (n.mac) mnl_attr_put(m.header(), NDA_LLADDR, 6, n.mac->bytes.data());
  return m;
}

Message del_neighbour(const Neighbour& n) {
  Message m = neigh_message(RTM_DELNEIGH, kChange, family_of(n.ip), n.ifindex, 0, 0);
  put_address(m.header(), NDA_DST, n.ip);
  return m;
}

namespace {

Message fdb_message(uint16_t type, uint16_t flags, const FdbEntry& e) {
  uint8_t ntf = (e.self ? NTF_SELF : 0) | (e.extern_learned ? NTF_EXT_LEARNED : 0);
  if (!e.self) ntf |= NTF_MASTER;
  // The VXLAN driver takes only permanent or reachable entries (reachable ones do not age when
  // externally learned); a static entry on a bridge port is NUD_NOARP (`bridge fdb ... static`).
  const uint16_t state = e.state  ? e.state
                         : e.self ? (e.extern_learned ? NUD_REACHABLE : NUD_PERMANENT)
                                  : NUD_NOARP;
  Message m = neigh_message(type, flags, AF_BRIDGE, e.ifindex, state, ntf);
  mnl_attr_put(m.header(), NDA_LLADDR, 6, e.mac.bytes.data());
  if (e.dst) put_address(m.header(), NDA_DST, *e.dst);
  return m;
}

}  // namespace

Message add_fdb(const FdbEntry& e, bool append) {
  return fdb_message(RTM_NEWNEIGH, kChange | NLM_F_CREATE | (append ? NLM_F_APPEND : NLM_F_REPLACE),
                     e);
}
Message del_fdb(const FdbEntry& e) { return fdb_message(RTM_DELNEIGH, kChange, e); }

Message dump(uint16_t type, uint8_t family) {
  Message m(type, NLM_F_DUMP);
  // Every GET request starts with a struct whose first octet is the family; rtgenmsg is that
  // octet alone, but RTM_GETLINK with AF_BRIDGE wants a whole ifinfomsg.
  auto* ifi = extra<ifinfomsg>(m);
  ifi->ifi_family = family;
  return m;
}

Message dump_neighbours(uint8_t family, int ifindex, int master) {
  Message m(RTM_GETNEIGH, NLM_F_DUMP);
  auto* nd = extra<ndmsg>(m);  // all zero but the family: strict checking refuses anything else
  nd->ndm_family = family;
  if (ifindex != 0) mnl_attr_put_u32(m.header(), NDA_IFINDEX, static_cast<uint32_t>(ifindex));
  if (master != 0) mnl_attr_put_u32(m.header(), NDA_MASTER, static_cast<uint32_t>(master));
  return m;
}

Message dump_routes(uint8_t family, uint32_t table) {
  Message m(RTM_GETROUTE, NLM_F_DUMP);
  auto* rtm = extra<rtmsg>(m);
  rtm->rtm_family = family;
  rtm->rtm_table = table < 256 ? static_cast<uint8_t>(table) : uint8_t{RT_TABLE_UNSPEC};
  mnl_attr_put_u32(m.header(), RTA_TABLE, table);
  return m;
}

// ---- Parsing ------------------------------------------------------------------------------------

namespace {

// Attributes of one level, by type (the last one wins when a type repeats). Types past the
// table's end are ignored: a newer kernel has more of them than we know.
class Attrs {
 public:
  static constexpr size_t kMax = 128;
  static Expected<Attrs> parse(std::span<const uint8_t> data, std::string_view where) {
    Attrs a;
    size_t at = 0;
    while (at < data.size()) {
      if (data.size() - at < sizeof(nlattr))
        return fail(fmt::format("{}: {} octets left, too short for an attribute header", where,
                                data.size() - at));
      nlattr h;
      std::memcpy(&h, data.data() + at, sizeof h);
      if (h.nla_len < sizeof(nlattr) || h.nla_len > data.size() - at)
        return fail(fmt::format("{}: attribute {} of length {} with {} octets left", where,
                                h.nla_type & NLA_TYPE_MASK, h.nla_len, data.size() - at));
      const size_t type = h.nla_type & NLA_TYPE_MASK;
      if (type < kMax) {
        a.present_[type] = true;
        a.value_[type] = data.subspan(at + sizeof(nlattr), h.nla_len - sizeof(nlattr));
      }
      at += std::min<size_t>(NLA_ALIGN(h.nla_len), data.size() - at);
    }
    return a;
  }
  bool has(size_t type) const { return type < kMax && present_[type]; }
  std::span<const uint8_t> get(size_t type) const {
    return has(type) ? value_[type] : std::span<const uint8_t>{};
  }
  template <typename T>
  Expected<std::optional<T>> scalar(size_t type, std::string_view name) const {
    if (!has(type)) return std::optional<T>{};
    if (value_[type].size() < sizeof(T))
      return fail(fmt::format("{}: {} octets, expected {}", name, value_[type].size(), sizeof(T)));
    T v;
    std::memcpy(&v, value_[type].data(), sizeof v);
    return std::optional<T>(v);
  }
  Expected<std::optional<std::string>> string(size_t type, std::string_view name) const {
    if (!has(type)) return std::optional<std::string>{};
    auto v = value_[type];
    size_t n = 0;
    while (n < v.size() && v[n] != 0) ++n;
    if (n == v.size()) return fail(fmt::format("{}: not NUL-terminated", name));
    return std::optional<std::string>(std::string(reinterpret_cast<const char*>(v.data()), n));
  }
  Expected<std::optional<IpAddress>> address(size_t type, std::string_view name) const {
    if (!has(type)) return std::optional<IpAddress>{};
    auto v = value_[type];
    if (v.size() == 4) {
      std::array<uint8_t, 4> b;
      std::memcpy(b.data(), v.data(), 4);
      return std::optional<IpAddress>(IpAddress::v4(b));
    }
    if (v.size() == 16) {
      std::array<uint8_t, 16> b;
      std::memcpy(b.data(), v.data(), 16);
      return std::optional<IpAddress>(IpAddress::v6(b));
    }
    return fail(fmt::format("{}: {} octets is not an IPv4 or IPv6 address", name, v.size()));
  }
  Expected<std::optional<MacAddress>> mac(size_t type, std::string_view name) const {
    if (!has(type)) return std::optional<MacAddress>{};
    auto v = value_[type];
    if (v.size() != 6) return std::optional<MacAddress>{};  // not Ethernet (tun, lo has 6 zeros)
    MacAddress m;
    std::memcpy(m.bytes.data(), v.data(), 6);
    (void)name;
    return std::optional<MacAddress>(m);
  }

 private:
  std::array<bool, kMax> present_{};
  std::array<std::span<const uint8_t>, kMax> value_{};
};

// The fixed header after nlmsghdr, and the attributes after it.
template <typename T>
Expected<std::pair<T, Attrs>> split(std::span<const uint8_t> msg, std::string_view what) {
  if (msg.size() < NLMSG_HDRLEN)
    return fail(fmt::format("{}: {} octets, too short for a netlink header", what, msg.size()));
  nlmsghdr h;
  std::memcpy(&h, msg.data(), sizeof h);
  if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > msg.size())
    return fail(fmt::format("{}: length {} in a {}-octet message", what, h.nlmsg_len, msg.size()));
  auto body = msg.subspan(NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN);
  if (body.size() < sizeof(T))
    return fail(fmt::format("{}: {} octets of body, too short for its {}-octet header", what,
                            body.size(), sizeof(T)));
  T fixed;
  std::memcpy(&fixed, body.data(), sizeof fixed);
  auto attrs = Attrs::parse(body.subspan(std::min(body.size(), NLMSG_ALIGN(sizeof(T)))), what);
  if (!attrs) return unexpected(std::move(attrs.error()));
  return std::pair<T, Attrs>(fixed, std::move(*attrs));
}

#define TRY_ASSIGN(var, expr)                                  \
  auto var##_r = (expr);                                       \
  if (!var##_r) return unexpected(std::move(var##_r.error())); \
  auto var = std::move(*var##_r)

// A bridge port's flags (IFLA_BRPORT_*), in IFLA_INFO_SLAVE_DATA or IFLA_PROTINFO.
Expected<BridgePortInfo> parse_port(std::span<const uint8_t> nested) {
  TRY_ASSIGN(data, Attrs::parse(nested, "bridge port data"));
  BridgePortInfo p;
  TRY_ASSIGN(learning, data.scalar<uint8_t>(IFLA_BRPORT_LEARNING, "IFLA_BRPORT_LEARNING"));
  p.learning = learning.value_or(1) != 0;
  TRY_ASSIGN(suppress,
             data.scalar<uint8_t>(IFLA_BRPORT_NEIGH_SUPPRESS, "IFLA_BRPORT_NEIGH_SUPPRESS"));
  p.neigh_suppress = suppress.value_or(0) != 0;
  return p;
}

Expected<void> parse_linkinfo(const Attrs& top, Link& l) {
  if (!top.has(IFLA_LINKINFO)) return {};
  TRY_ASSIGN(info, Attrs::parse(top.get(IFLA_LINKINFO), "IFLA_LINKINFO"));
  TRY_ASSIGN(kind, info.string(IFLA_INFO_KIND, "IFLA_INFO_KIND"));
  if (kind) l.kind = *kind;
  if (l.kind == "vxlan" && info.has(IFLA_INFO_DATA)) {
    TRY_ASSIGN(data, Attrs::parse(info.get(IFLA_INFO_DATA), "vxlan IFLA_INFO_DATA"));
    VxlanInfo v;
    TRY_ASSIGN(id, data.scalar<uint32_t>(IFLA_VXLAN_ID, "IFLA_VXLAN_ID"));
    v.vni = id.value_or(0);
    TRY_ASSIGN(local4, data.address(IFLA_VXLAN_LOCAL, "IFLA_VXLAN_LOCAL"));
    TRY_ASSIGN(local6, data.address(IFLA_VXLAN_LOCAL6, "IFLA_VXLAN_LOCAL6"));
    v.local = local4 ? local4 : local6;
    TRY_ASSIGN(port, data.scalar<uint16_t>(IFLA_VXLAN_PORT, "IFLA_VXLAN_PORT"));
    if (port) v.port = ntohs(*port);
    TRY_ASSIGN(learning, data.scalar<uint8_t>(IFLA_VXLAN_LEARNING, "IFLA_VXLAN_LEARNING"));
    v.learning = learning.value_or(0) != 0;
    l.vxlan = v;
  }
  TRY_ASSIGN(slave, info.string(IFLA_INFO_SLAVE_KIND, "IFLA_INFO_SLAVE_KIND"));
  if (slave == "bridge" && info.has(IFLA_INFO_SLAVE_DATA)) {
    TRY_ASSIGN(port, parse_port(info.get(IFLA_INFO_SLAVE_DATA)));
    l.port = port;
  }
  return {};
}

uint16_t type_of(std::span<const uint8_t> msg) {
  nlmsghdr h{};
  if (msg.size() >= sizeof h) std::memcpy(&h, msg.data(), sizeof h);
  return h.nlmsg_type;
}

}  // namespace

Expected<Link> parse_link(std::span<const uint8_t> msg) {
  TRY_ASSIGN(parts, split<ifinfomsg>(msg, "link message"));
  const auto& [ifi, a] = parts;
  Link l;
  l.index = ifi.ifi_index;
  l.up = (ifi.ifi_flags & IFF_UP) != 0;
  TRY_ASSIGN(name, a.string(IFLA_IFNAME, "IFLA_IFNAME"));
  if (!name) return fail(fmt::format("link {}: no IFLA_IFNAME", l.index));
  l.name = *name;
  TRY_ASSIGN(mtu, a.scalar<uint32_t>(IFLA_MTU, "IFLA_MTU"));
  l.mtu = mtu.value_or(0);
  TRY_ASSIGN(master, a.scalar<uint32_t>(IFLA_MASTER, "IFLA_MASTER"));
  l.master = static_cast<int>(master.value_or(0));
  TRY_ASSIGN(mac, a.mac(IFLA_ADDRESS, "IFLA_ADDRESS"));
  if (mac) l.mac = *mac;
  TRY_ASSIGN(alias, a.string(IFLA_IFALIAS, "IFLA_IFALIAS"));
  if (alias) l.alias = *alias;
  if (auto ok = parse_linkinfo(a, l); !ok) return unexpected(std::move(ok.error()));
  // The bridge's own notice of a port's flags (`bridge link set`, AF_BRIDGE): IFLA_PROTINFO.
  if (ifi.ifi_family == AF_BRIDGE && a.has(IFLA_PROTINFO)) {
    TRY_ASSIGN(port, parse_port(a.get(IFLA_PROTINFO)));
    l.port = port;
  }
  return l;
}

Expected<Address> parse_address(std::span<const uint8_t> msg) {
  TRY_ASSIGN(parts, split<ifaddrmsg>(msg, "address message"));
  const auto& [ifa, a] = parts;
  TRY_ASSIGN(local, a.address(IFA_LOCAL, "IFA_LOCAL"));
  TRY_ASSIGN(addr, a.address(IFA_ADDRESS, "IFA_ADDRESS"));
  auto ip = local ? local : addr;  // IPv6 has only IFA_ADDRESS; point-to-point IPv4 both
  if (!ip) return fail("address message without IFA_LOCAL or IFA_ADDRESS");
  if (ifa.ifa_prefixlen > (ip->is_v4() ? 32 : 128))
    return fail(fmt::format("address {}: prefix length {}", ip->to_string(), ifa.ifa_prefixlen));
  return Address{static_cast<int>(ifa.ifa_index), *ip, ifa.ifa_prefixlen};
}

Expected<std::optional<Route>> parse_route(std::span<const uint8_t> msg) {
  TRY_ASSIGN(parts, split<rtmsg>(msg, "route message"));
  const auto& [rtm, a] = parts;
  if ((rtm.rtm_type != RTN_UNICAST && rtm.rtm_type != RTN_UNREACHABLE) ||
      (rtm.rtm_family != AF_INET && rtm.rtm_family != AF_INET6))
    return std::optional<Route>{};
  Route r;
  TRY_ASSIGN(dst, a.address(RTA_DST, "RTA_DST"));
  r.unreachable = rtm.rtm_type == RTN_UNREACHABLE;
  const IpAddress zero = rtm.rtm_family == AF_INET ? IpAddress::v4(0) : IpAddress::v6({});
  const IpAddress d = dst.value_or(zero);
  if (rtm.rtm_dst_len > (d.is_v4() ? 32 : 128) || d.is_v4() != (rtm.rtm_family == AF_INET))
    return fail(
        fmt::format("route to {}/{}: does not fit its family", d.to_string(), rtm.rtm_dst_len));
  r.dst = Prefix(d, rtm.rtm_dst_len);
  TRY_ASSIGN(gw, a.address(RTA_GATEWAY, "RTA_GATEWAY"));
  r.gateway = gw;
  TRY_ASSIGN(oif, a.scalar<uint32_t>(RTA_OIF, "RTA_OIF"));
  r.oif = static_cast<int>(oif.value_or(0));
  TRY_ASSIGN(table, a.scalar<uint32_t>(RTA_TABLE, "RTA_TABLE"));
  r.table = table.value_or(rtm.rtm_table);
  TRY_ASSIGN(metric, a.scalar<uint32_t>(RTA_PRIORITY, "RTA_PRIORITY"));
  r.metric = metric.value_or(0);
  r.protocol = rtm.rtm_protocol;
  // The kernel reports a route's single next hop's flags in rtm_flags (RTNH_F_LINKDOWN and the
  // like come with it: only ONLINK is of the route's making).
  r.onlink = (rtm.rtm_flags & RTNH_F_ONLINK) != 0;
  return std::optional<Route>(r);
}

Expected<std::optional<Rule>> parse_rule(std::span<const uint8_t> msg) {
  TRY_ASSIGN(parts, split<fib_rule_hdr>(msg, "rule message"));
  const auto& [h, a] = parts;
  if (h.action != FR_ACT_TO_TBL || (h.family != AF_INET && h.family != AF_INET6))
    return std::optional<Rule>{};
  TRY_ASSIGN(iif, a.string(FRA_IIFNAME, "FRA_IIFNAME"));
  TRY_ASSIGN(fwmark, a.scalar<uint32_t>(FRA_FWMARK, "FRA_FWMARK"));
  TRY_ASSIGN(fwmask, a.scalar<uint32_t>(FRA_FWMASK, "FRA_FWMASK"));
  Rule r;
  if (iif) r.iif = *iif;
  // The kernel reports a mask with a mark; a mark alone means all 32 bits.
  if (fwmark || fwmask) {
    r.fwmark = fwmark.value_or(0);
    r.fwmask = fwmask.value_or(0xffffffffu);
  }
  if (r.iif.empty() && r.fwmask == 0) return std::optional<Rule>{};
  r.family = h.family == AF_INET ? IpFamily::V4 : IpFamily::V6;
  // -1 (none) as the kernel reports it: 0xffffffff.
  TRY_ASSIGN(suppress, a.scalar<uint32_t>(FRA_SUPPRESS_PREFIXLEN, "FRA_SUPPRESS_PREFIXLEN"));
  if (suppress && *suppress <= 128) r.suppress_prefixlength = static_cast<int32_t>(*suppress);
  TRY_ASSIGN(prio, a.scalar<uint32_t>(FRA_PRIORITY, "FRA_PRIORITY"));
  r.priority = prio.value_or(0);
  TRY_ASSIGN(table, a.scalar<uint32_t>(FRA_TABLE, "FRA_TABLE"));
  r.table = table.value_or(h.table);
  return std::optional<Rule>(r);
}

Expected<Neighbour> parse_neighbour(std::span<const uint8_t> msg) {
  TRY_ASSIGN(parts, split<ndmsg>(msg, "neighbour message"));
  const auto& [nd, a] = parts;
  TRY_ASSIGN(dst, a.address(NDA_DST, "NDA_DST"));
  if (!dst) return fail(fmt::format("neighbour on link {}: no NDA_DST", nd.ndm_ifindex));
  Neighbour n;
  n.ifindex = nd.ndm_ifindex;
  n.ip = *dst;
  TRY_ASSIGN(mac, a.mac(NDA_LLADDR, "NDA_LLADDR"));
  n.mac = mac;
  n.state = nd.ndm_state;
  n.extern_learned = (nd.ndm_flags & NTF_EXT_LEARNED) != 0;
  return n;
}

Expected<FdbEntry> parse_fdb(std::span<const uint8_t> msg) {
  TRY_ASSIGN(parts, split<ndmsg>(msg, "FDB message"));
  const auto& [nd, a] = parts;
  TRY_ASSIGN(mac, a.mac(NDA_LLADDR, "NDA_LLADDR"));
  if (!mac) return fail(fmt::format("FDB entry on link {}: no 6-octet NDA_LLADDR", nd.ndm_ifindex));
  FdbEntry e;
  e.ifindex = nd.ndm_ifindex;
  e.mac = *mac;
  TRY_ASSIGN(dst, a.address(NDA_DST, "NDA_DST"));
  e.dst = dst;
  TRY_ASSIGN(master, a.scalar<uint32_t>(NDA_MASTER, "NDA_MASTER"));
  e.master = static_cast<int>(master.value_or(0));
  e.state = nd.ndm_state;
  e.self = (nd.ndm_flags & NTF_SELF) != 0;
  e.extern_learned = (nd.ndm_flags & NTF_EXT_LEARNED) != 0;
  return e;
}

Expected<std::optional<Event>> parse_event(std::span<const uint8_t> msg) {
  const uint16_t type = type_of(msg);
  const bool removed = type == RTM_DELLINK || type == RTM_DELADDR || type == RTM_DELNEIGH;
  switch (type) {
    case RTM_NEWLINK:
    case RTM_DELLINK: {
      TRY_ASSIGN(l, parse_link(msg));
      return std::optional<Event>(LinkEvent{removed, std::move(l)});
    }
    case RTM_NEWADDR:
    case RTM_DELADDR: {
      TRY_ASSIGN(ad, parse_address(msg));
      return std::optional<Event>(AddressEvent{removed, ad});
    }
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH: {
      TRY_ASSIGN(parts, split<ndmsg>(msg, "neighbour message"));
      if (parts.first.ndm_family == AF_BRIDGE) {
        TRY_ASSIGN(e, parse_fdb(msg));
        return std::optional<Event>(FdbEvent{removed, e});
      }
      if (parts.first.ndm_family != AF_INET && parts.first.ndm_family != AF_INET6)
        return std::optional<Event>{};
      TRY_ASSIGN(n, parse_neighbour(msg));
      return std::optional<Event>(NeighbourEvent{removed, n});
    }
    default:
      return std::optional<Event>{};
  }
}

Expected<Ack> parse_ack(std::span<const uint8_t> msg) {
  if (msg.size() < NLMSG_HDRLEN + sizeof(nlmsgerr))
    return fail(fmt::format("NLMSG_ERROR: {} octets, too short", msg.size()));
  nlmsghdr h;
  std::memcpy(&h, msg.data(), sizeof h);
  if (h.nlmsg_len > msg.size() || h.nlmsg_len < NLMSG_HDRLEN + sizeof(nlmsgerr))
    return fail(
        fmt::format("NLMSG_ERROR: length {} in a {}-octet message", h.nlmsg_len, msg.size()));
  nlmsgerr e;
  std::memcpy(&e, msg.data() + NLMSG_HDRLEN, sizeof e);
  Ack ack{e.error, {}};
  if (!(h.nlmsg_flags & NLM_F_ACK_TLVS)) return ack;
  // Extended ACK (netlink(7)): attributes after the request's header (or whole request unless
  // NLM_F_CAPPED).
  size_t at = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if (!(h.nlmsg_flags & NLM_F_CAPPED))
    at += e.msg.nlmsg_len - std::min<size_t>(e.msg.nlmsg_len, sizeof(nlmsghdr));
  at = NLMSG_ALIGN(at);
  if (at >= h.nlmsg_len) return ack;
  auto attrs = Attrs::parse(msg.subspan(at, h.nlmsg_len - at), "extended ACK");
  if (!attrs) return ack;  // the error code stands without the text
  auto text = attrs->string(NLMSGERR_ATTR_MSG, "NLMSGERR_ATTR_MSG");
  if (text && *text) ack.message = **text;
  return ack;
}

Ack parse_done(std::span<const uint8_t> msg) {
  Ack ack;
  nlmsghdr h{};
  if (msg.size() < NLMSG_HDRLEN + sizeof(int)) return ack;  // older kernels: no payload
  std::memcpy(&h, msg.data(), sizeof h);
  if (h.nlmsg_len > msg.size() || h.nlmsg_len < NLMSG_HDRLEN + sizeof(int)) return ack;
  std::memcpy(&ack.error, msg.data() + NLMSG_HDRLEN, sizeof(int));
  if (ack.error >= 0) {
    ack.error = 0;
    return ack;
  }
  if (!(h.nlmsg_flags & NLM_F_ACK_TLVS)) return ack;
  const size_t at = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(int));
  if (at >= h.nlmsg_len) return ack;
  auto attrs = Attrs::parse(msg.subspan(at, h.nlmsg_len - at), "NLMSG_DONE");
  if (!attrs) return ack;
  auto text = attrs->string(NLMSGERR_ATTR_MSG, "NLMSGERR_ATTR_MSG");
  if (text && *text) ack.message = **text;
  return ack;
}

}  // namespace isthmus::kernel::nl
