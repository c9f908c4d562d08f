// rtnetlink messages: what we build parses back to the same values (the kernel answers dumps in
// the format of the requests), and malformed messages give precise errors.
#include "kernel/messages.h"

#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <tuple>
#include <vector>

namespace isthmus::kernel::nl {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
MacAddress mac(const char* s) { return *MacAddress::parse(s); }
std::vector<uint8_t> bytes(const Message& m) { return {m.bytes().begin(), m.bytes().end()}; }

TEST(Messages, VxlanLinkRoundTrip) {
  LinkSpec s;
  s.name = "vxlan100";
  s.kind = "vxlan";
  s.mtu = 1450;
  s.mac = mac("02:00:00:00:01:00");
  s.alias = "isthmus:100";
  s.vxlan = VxlanInfo{100, ip("198.18.0.1"), 4789, false};
  Message m = new_link(s);
  EXPECT_EQ(m.header()->nlmsg_type, RTM_NEWLINK);
  EXPECT_EQ(m.header()->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  auto l = parse_link(bytes(m));
  ASSERT_TRUE(l.has_value()) << l.error().message;
  EXPECT_EQ(l->name, "vxlan100");
  EXPECT_EQ(l->kind, "vxlan");
  EXPECT_EQ(l->mtu, 1450u);
  EXPECT_EQ(l->mac, mac("02:00:00:00:01:00"));
  EXPECT_EQ(l->alias, "isthmus:100");
  ASSERT_TRUE(l->vxlan.has_value());
  EXPECT_EQ(*l->vxlan, *s.vxlan);
  // IPv6 VTEP and another port.
  s.vxlan = VxlanInfo{16777215, ip("fd00:18::1"), 8472, true};
  l = parse_link(bytes(new_link(s)));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(*l->vxlan, *s.vxlan);
}

TEST(Messages, BridgeAndVeth) {
  LinkSpec b{.name = "br100", .kind = "bridge"};
  auto l = parse_link(bytes(new_link(b)));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->kind, "bridge");
  EXPECT_FALSE(l->vxlan.has_value());
  LinkSpec v{.name = "veth0", .kind = "veth", .mtu = 1450, .veth_peer = "eth0"};
  l = parse_link(bytes(new_link(v)));
  ASSERT_TRUE(l.has_value()) << l.error().message;
  EXPECT_EQ(l->name, "veth0");  // the peer's name is nested, not ours
  EXPECT_EQ(l->kind, "veth");
}

TEST(Messages, SetLinkAndBridgePort) {
  Message m = set_link(7, LinkChange{.up = true, .mtu = 1450, .master = 3});
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(m.header()));
  EXPECT_EQ(ifi->ifi_index, 7);
  EXPECT_EQ(ifi->ifi_flags & IFF_UP, static_cast<unsigned>(IFF_UP));
  EXPECT_EQ(ifi->ifi_change, static_cast<unsigned>(IFF_UP));
  // A bridge port's flags as a link dump reports them (IFLA_INFO_SLAVE_DATA), with its name.
  Message p = set_bridge_port(7, BridgePortInfo{false, true});
  mnl_attr_put_strz(p.header(), IFLA_IFNAME, "vxlan100");
  auto l = parse_link(bytes(p));
  ASSERT_TRUE(l.has_value()) << l.error().message;
  ASSERT_TRUE(l->port.has_value());
  EXPECT_FALSE(l->port->learning);
  EXPECT_TRUE(l->port->neigh_suppress);
}

TEST(Messages, AddressRouteNeighbourFdbRoundTrip) {
  Address a{4, ip("100.64.1.1"), 24};
  auto pa = parse_address(bytes(new_address(a)));
  ASSERT_TRUE(pa.has_value());
  EXPECT_EQ(*pa, a);
  Address a6{4, ip("fd00:64:1::1"), 64};
  EXPECT_EQ(*parse_address(bytes(del_address(a6))), a6);

  Route r{*Prefix::parse("100.64.2.0/24"), ip("100.64.1.254"), 4, 254, RTPROT_STATIC, 10};
  auto pr = parse_route(bytes(replace_route(r)));
  ASSERT_TRUE(pr.has_value() && pr->has_value());
  EXPECT_EQ(**pr, r);
  Route def{*Prefix::parse("::/0"), ip("fd00:64:1::1"), 4, 1000, RTPROT_STATIC, 0};
  pr = parse_route(bytes(replace_route(def)));
  ASSERT_TRUE(pr.has_value() && pr->has_value());
  EXPECT_EQ(**pr, def);
  // Symmetric IRB's routes: through the L3 VNI's bridge, onlink (RTNH_F_ONLINK in rtm_flags),
  // IPv6 via the VTEP's IPv4-mapped address; the unreachable default at a high metric.
  Route onlink{.dst = *Prefix::parse("fd00:64:2::/64"),
               .gateway = ip("::ffff:198.18.0.2"),
               .oif = 9,
               .table = 0x49001389,
               .protocol = 77,
               .onlink = true};
  Message om = replace_route(onlink);
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_get_payload(om.header()));
  EXPECT_EQ(rtm->rtm_flags, static_cast<unsigned>(RTNH_F_ONLINK));
  EXPECT_EQ(rtm->rtm_scope, RT_SCOPE_UNIVERSE);
  pr = parse_route(bytes(om));
  ASSERT_TRUE(pr.has_value() && pr->has_value());
  EXPECT_EQ(**pr, onlink);
  // The kernel reports other next-hop flags (a link down) besides: only ONLINK is read.
  rtm->rtm_flags |= RTNH_F_LINKDOWN;
  EXPECT_TRUE((*parse_route(bytes(om)))->onlink);
  Route unreachable{.dst = *Prefix::parse("0.0.0.0/0"),
                    .table = 0x49001389,
                    .protocol = 77,
                    .metric = 4278198272u,
                    .unreachable = true};
  pr = parse_route(bytes(replace_route(unreachable)));
  ASSERT_TRUE(pr.has_value() && pr->has_value());
  EXPECT_EQ(**pr, unreachable);
  // A dump of one table: its number in the header (when it fits) and in RTA_TABLE.
  Message d = dump_routes(AF_INET6, 0x49001389);
  EXPECT_TRUE(d.header()->nlmsg_flags & NLM_F_DUMP);
  const auto* drtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(d.header()));
  EXPECT_EQ(drtm->rtm_family, AF_INET6);
  EXPECT_EQ(drtm->rtm_table, RT_TABLE_UNSPEC);
  EXPECT_EQ(drtm->rtm_flags | drtm->rtm_dst_len | drtm->rtm_scope | drtm->rtm_type, 0);
  EXPECT_EQ(static_cast<const rtmsg*>(mnl_nlmsg_get_payload(dump_routes(AF_INET, 254).header()))
                ->rtm_table,
            254);

  Neighbour n{4, ip("100.64.1.7"), mac("02:00:00:00:00:07"), NUD_NOARP, true};
  auto pn = parse_neighbour(bytes(replace_neighbour(n)));
  ASSERT_TRUE(pn.has_value());
  EXPECT_EQ(*pn, n);

  FdbEntry flood{5, MacAddress{}, ip("198.18.0.2"), 0, NUD_PERMANENT, true, false};
  Message fm = add_fdb(flood, true);
  EXPECT_TRUE(fm.header()->nlmsg_flags & NLM_F_APPEND);
  auto pf = parse_fdb(bytes(fm));
  ASSERT_TRUE(pf.has_value());
  EXPECT_EQ(*pf, flood);
  FdbEntry remote{5, mac("02:00:00:00:02:01"), ip("198.18.0.2"), 0, NUD_REACHABLE, true, true};
  Message rm = add_fdb(remote, false);
  EXPECT_TRUE(rm.header()->nlmsg_flags & NLM_F_REPLACE);
  EXPECT_EQ(*parse_fdb(bytes(rm)), remote);
  EXPECT_EQ(*parse_fdb(bytes(del_fdb(remote))), remote);
  // Without a state: what the kernel takes for each kind of entry.
  EXPECT_EQ(parse_fdb(bytes(add_fdb(FdbEntry{5, remote.mac, remote.dst, 0, 0, true, true}, false)))
                ->state,
            NUD_REACHABLE);
  EXPECT_EQ(
      parse_fdb(bytes(add_fdb(FdbEntry{5, MacAddress{}, remote.dst, 0, 0, true}, true)))->state,
      NUD_PERMANENT);
  EXPECT_EQ(parse_fdb(bytes(add_fdb(FdbEntry{6, remote.mac}, false)))->state, NUD_NOARP);
}

// A dump of one device's neighbours or FDB entries: an ndmsg with the family only (strict
// checking refuses any other field) and the filter as NDA_IFINDEX or NDA_MASTER.
TEST(Messages, DumpOfOneDevice) {
  for (const auto& [family, ifindex, master] :
       {std::tuple{uint8_t{AF_BRIDGE}, 7, 0}, std::tuple{uint8_t{AF_BRIDGE}, 0, 9},
        std::tuple{uint8_t{AF_INET6}, 7, 0}}) {
    Message m = dump_neighbours(family, ifindex, master);
    EXPECT_EQ(m.header()->nlmsg_type, RTM_GETNEIGH);
    EXPECT_TRUE(m.header()->nlmsg_flags & NLM_F_DUMP);
    const auto* nd = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(m.header()));
    EXPECT_EQ(nd->ndm_family, family);
    EXPECT_EQ(nd->ndm_ifindex | nd->ndm_state | nd->ndm_flags | nd->ndm_type, 0);
    std::vector<std::pair<uint16_t, uint32_t>> attrs;
    const std::span<const uint8_t> b = m.bytes();
    for (size_t at = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ndmsg)); at + sizeof(nlattr) <= b.size();) {
      nlattr h;
      std::memcpy(&h, b.data() + at, sizeof h);
      ASSERT_EQ(h.nla_len, sizeof(nlattr) + sizeof(uint32_t));
      uint32_t v = 0;
      std::memcpy(&v, b.data() + at + sizeof(nlattr), sizeof v);
      attrs.emplace_back(h.nla_type, v);
      at += NLA_ALIGN(h.nla_len);
    }
    std::vector<std::pair<uint16_t, uint32_t>> want;
    if (ifindex) want.emplace_back(NDA_IFINDEX, ifindex);
    if (master) want.emplace_back(NDA_MASTER, master);
    EXPECT_EQ(attrs, want);
  }
}

TEST(Messages, EventsByType) {
  FdbEntry learned{6, mac("02:00:00:00:00:09"), std::nullopt, 3, NUD_REACHABLE, false, false};
  Message m = add_fdb(learned, false);
  mnl_attr_put_u32(m.header(), NDA_MASTER, 3);
  auto e = parse_event(bytes(m));
  ASSERT_TRUE(e.has_value() && e->has_value());
  const auto* fe = std::get_if<FdbEvent>(&**e);
  ASSERT_NE(fe, nullptr);
  EXPECT_FALSE(fe->removed);
  EXPECT_EQ(fe->entry.master, 3);
  EXPECT_EQ(fe->entry.mac, learned.mac);
  Neighbour n{4, ip("fd00:64:1::7"), mac("02:00:00:00:00:07"), NUD_REACHABLE, false};
  e = parse_event(bytes(del_neighbour(n)));
  ASSERT_TRUE(e.has_value() && e->has_value());
  const auto* ne = std::get_if<NeighbourEvent>(&**e);
  ASSERT_NE(ne, nullptr);
  EXPECT_TRUE(ne->removed);
  EXPECT_EQ(ne->neighbour.ip, n.ip);
  // Routes are not followed by the monitor.
  e = parse_event(bytes(replace_route(Route{*Prefix::parse("100.64.0.0/10")})));
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->has_value());
}

TEST(Messages, MalformedInputIsAPreciseError) {
  LinkSpec s{.name = "br0", .kind = "bridge"};
  auto good = bytes(new_link(s));
  EXPECT_EQ(parse_link(std::vector<uint8_t>(good.begin(), good.begin() + 8)).error().message,
            "link message: 8 octets, too short for a netlink header");
  auto cut = good;
  cut.resize(good.size() - 4);
  EXPECT_EQ(parse_link(cut).error().message, "link message: length " + std::to_string(good.size()) +
                                                 " in a " + std::to_string(cut.size()) +
                                                 "-octet message");
  // An attribute claiming more than there is.
  auto bad = good;
  const size_t first_attr = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifinfomsg));
  bad[first_attr] = 0xff;
  bad[first_attr + 1] = 0x00;
  EXPECT_NE(parse_link(bad).error().message.find("attribute 3 of length 255"), std::string::npos)
      << parse_link(bad).error().message;
  // No name.
  Message noname = set_link(3, LinkChange{});
  EXPECT_EQ(parse_link(bytes(noname)).error().message, "link 3: no IFLA_IFNAME");
  // A 5-octet address.
  Message n(RTM_NEWNEIGH, 0);
  auto* nd = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(n.header(), sizeof(ndmsg)));
  nd->ndm_family = AF_INET;
  const uint8_t five[5] = {100, 64, 1, 7, 0};
  mnl_attr_put(n.header(), NDA_DST, sizeof five, five);
  EXPECT_EQ(parse_neighbour(bytes(n)).error().message,
            "NDA_DST: 5 octets is not an IPv4 or IPv6 address");
}

TEST(Messages, AckWithTheKernelsWords) {
  // NLMSG_ERROR, -EEXIST, capped, with NLMSGERR_ATTR_MSG.
  std::vector<uint8_t> buf(256);
  nlmsghdr* h = mnl_nlmsg_put_header(buf.data());
  h->nlmsg_type = NLMSG_ERROR;
  h->nlmsg_flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
  auto* e = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(h, sizeof(nlmsgerr)));
  e->error = -17;
  e->msg.nlmsg_len = 64;
  mnl_attr_put_strz(h, NLMSGERR_ATTR_MSG, "A VXLAN device with the specified VNI already exists");
  auto ack = parse_ack({buf.data(), h->nlmsg_len});
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->error, -17);
  EXPECT_EQ(ack->message, "A VXLAN device with the specified VNI already exists");
  EXPECT_FALSE(parse_ack({buf.data(), 20}).has_value());
}

TEST(Messages, DoneCarriesTheErrorOfADump) {
  std::vector<uint8_t> buf(256);
  nlmsghdr* h = mnl_nlmsg_put_header(buf.data());
  h->nlmsg_type = NLMSG_DONE;
  h->nlmsg_flags = NLM_F_MULTI;
  EXPECT_EQ(parse_done({buf.data(), h->nlmsg_len}).error, 0);  // no payload (older kernels)
  auto* e = static_cast<int*>(mnl_nlmsg_put_extra_header(h, sizeof(int)));
  *e = 0;
  EXPECT_EQ(parse_done({buf.data(), h->nlmsg_len}).error, 0);
  *e = -2;
  h->nlmsg_flags |= NLM_F_ACK_TLVS;
  mnl_attr_put_strz(h, NLMSGERR_ATTR_MSG, "ipv4: FIB table does not exist");
  Ack done = parse_done({buf.data(), h->nlmsg_len});
  EXPECT_EQ(done.error, -2);
  EXPECT_EQ(done.message, "ipv4: FIB table does not exist");
  EXPECT_EQ(parse_done({buf.data(), 18}).error, 0);  // cut short: nothing to read
}

}  // namespace
}  // namespace isthmus::kernel::nl
