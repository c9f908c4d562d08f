#include "daemon/commands.h"

#include <algorithm>
#include <charconv>

#include "bgp/speaker/show.h"

namespace isthmus::daemon {

namespace {

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

Expected<nlohmann::json> show_bgp_routes(bgp::Speaker& speaker, bgp::Family family,
                                         const std::vector<std::string>& args, size_t at) {
  std::optional<Prefix> prefix;
  if (args.size() > at + 1)
    return fail("too many words after \"" +
                joined({args.begin(), args.begin() + static_cast<std::ptrdiff_t>(at)}) + "\"");
  if (args.size() == at + 1) {
    auto p = Prefix::parse(args[at]);
    if (!p) return fail(p.error().message);
    if ((family == bgp::kIpv4Unicast) != p->address().is_v4())
      return fail("\"" + args[at] + "\" is not an address of family " + family.name());
    prefix = *p;
    // A bare address asks for the route that forwards it: the longest matching prefix.
    if (args[at].find('/') == std::string::npos) {
      for (int len = p->max_length(); len >= 0; --len) {
        Prefix candidate(p->address(), static_cast<uint8_t>(len));
        if (!speaker.rib().lookup(family, candidate).empty()) {
          prefix = candidate;
          break;
        }
      }
    }
  }
  return bgp::show_routes(speaker, family, prefix);
}

// show bgp l2vpn evpn [route-type 1..5] [vni 0..16777215], the options in any order.
Expected<nlohmann::json> show_bgp_evpn(const bgp::Speaker& speaker,
                                       const std::vector<std::string>& args) {
  std::optional<uint8_t> type;
  std::optional<uint32_t> vni;
  constexpr const char* kUsage = "expected: show bgp l2vpn evpn [route-type 1..5] [vni V]";
  for (size_t i = 4; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) return fail(kUsage);
    uint32_t v = 0;
    const std::string& text = args[i + 1];
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size())
      return fail(args[i] + ": \"" + text + "\" is not a number");
    if (args[i] == "route-type" && !type) {
      if (v < 1 || v > 5) return fail("route-type: " + text + " is not an EVPN route type (1..5)");
      type = static_cast<uint8_t>(v);
    } else if (args[i] == "vni" && !vni) {
      if (v > 0xffffff) return fail("vni: " + text + " does not fit 24 bits");
      vni = v;
    } else {
      return fail(kUsage);
    }
  }
  return bgp::show_evpn_routes(speaker, type, vni);
}

nlohmann::json vrf_json(const evpn::MacVrf& m) {
  nlohmann::json j;
  j["vni"] = m.vni;
  j["rd"] = m.rd.to_string();
  auto rts = [](const std::vector<bgp::ExtCommunity>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& c : v) a.push_back(c.to_string());
    return a;
  };
  j["import_rts"] = rts(m.import_rts);
  j["export_rts"] = rts(m.export_rts);
  return j;
}

// The MAC-VRF of the VNI named by `text`, or a message saying why there is none.
Expected<const evpn::MacVrf*> find_vrf(const std::vector<evpn::MacVrf>& mac_vrfs,
                                       const std::string& text) {
  uint32_t vni = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), vni);
  if (ec != std::errc() || end != text.data() + text.size())
    return fail("vni: \"" + text + "\" is not a number");
  auto it = std::find_if(mac_vrfs.begin(), mac_vrfs.end(),
                         [&](const evpn::MacVrf& m) { return m.vni == vni; });
  if (it == mac_vrfs.end())
    return fail("no EVPN instance for VNI " + text + " (see show evpn vni)");
  return &*it;
}

// show evpn vni: each MAC-VRF with what the Loc-RIB holds for it.
nlohmann::json show_evpn_vni(const bgp::Speaker& speaker,
                             const std::vector<evpn::MacVrf>& mac_vrfs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : mac_vrfs) {
    const evpn::VrfView v = evpn::view(speaker.rib(), m);
    nlohmann::json j = vrf_json(m);
    j["macs"] = v.macs.size();
    j["routes"] = v.routes;
    nlohmann::json vteps = nlohmann::json::array();
    for (const auto& a : v.flood_vteps) vteps.push_back(a.to_string());
    j["remote_vteps"] = std::move(vteps);
    out.push_back(std::move(j));
  }
  return out;
}

// show evpn mac vni V: the MACs of one MAC-VRF, each at the VTEP that wins (RFC 7432 §15).
Expected<nlohmann::json> show_evpn_mac(const bgp::Speaker& speaker,
                                       const std::vector<evpn::MacVrf>& mac_vrfs,
                                       const std::vector<std::string>& args) {
  if (args.size() != 5 || args[3] != "vni") return fail("expected: show evpn mac vni VNI");
  auto vrf = find_vrf(mac_vrfs, args[4]);
  if (!vrf) return fail(vrf.error().message);
  const evpn::VrfView v = evpn::view(speaker.rib(), **vrf);
  nlohmann::json j = vrf_json(**vrf);
  nlohmann::json macs = nlohmann::json::array();
  for (const auto& e : v.macs) {
    nlohmann::json ips = nlohmann::json::array();
    for (const auto& a : e.ips) ips.push_back(a.to_string());
    macs.push_back({{"mac", e.best.mac.to_string()},
                    {"ips", std::move(ips)},
                    {"vtep", e.best.vtep.to_string()},
                    {"sequence", e.best.sequence},
                    {"sticky", e.best.sticky},
                    {"rd", e.best.rd.to_string()},
                    {"from", bgp::peer_name(speaker, e.best.peer)},
                    {"advertisements", e.advertisements}});
  }
  j["macs"] = std::move(macs);
  return j;
}

// evpn mac add|del VNI MAC [IP]: a MAC (and IP) local to this VTEP, advertised as a type-2 route
// (withdrawn by del). Until the node agent learns MACs from the kernel, this is how they are
// originated; a MAC another VTEP advertises is taken over with the next sequence number
// (RFC 7432 §15.1).
Expected<nlohmann::json> evpn_mac_command(bgp::Speaker& speaker, const EvpnContext& ctx,
                                          const std::vector<std::string>& args) {
  if (args.size() < 5 || args.size() > 6 || (args[2] != "add" && args[2] != "del"))
    return fail("expected: evpn mac add|del VNI MAC [IP]");
  if (!ctx.vtep) return fail("this speaker is not a VTEP (evpn.vtep is not set)");
  auto found = find_vrf(ctx.mac_vrfs, args[3]);
  if (!found) return fail(found.error().message);
  const evpn::MacVrf* vrf = *found;
  auto mac = MacAddress::parse(args[4]);
  if (!mac) return fail("MAC address: " + mac.error().message);
  std::optional<IpAddress> ip;
  if (args.size() == 6) {
    auto a = IpAddress::parse(args[5]);
    if (!a) return fail(a.error().message);
    ip = *a;
  }
  const std::string what =
      "VNI " + args[3] + ": " + mac->to_string() + (ip ? " " + ip->to_string() : "");
  if (args[2] == "del") {
    auto [route, attrs] = evpn::mac_route(*vrf, *ctx.vtep, *mac, ip, 0);
    speaker.rib().withdraw_originated_evpn(route);
    speaker.request_flush();
    return nlohmann::json(what + " no longer advertised");
  }
  const uint32_t seq = evpn::local_sequence(speaker.rib(), *vrf, *mac);
  auto [route, attrs] = evpn::mac_route(*vrf, *ctx.vtep, *mac, ip, seq);
  speaker.rib().originate_evpn(route, attrs);
  speaker.request_flush();
  return nlohmann::json(what + " advertised from " + ctx.vtep->to_string() + " (sequence " +
                        std::to_string(seq) + ")");
}

}  // namespace

Expected<nlohmann::json> run_command(bgp::Speaker& speaker, const EvpnContext& evpn,
                                     const std::vector<std::string>& args) {
  const auto& mac_vrfs = evpn.mac_vrfs;
  auto is = [&](std::initializer_list<const char*> words) {
    if (args.size() < words.size()) return false;
    size_t i = 0;
    for (auto w : words)
      if (args[i++] != w) return false;
    return true;
  };
  if (is({"show", "bgp", "summary"}) && args.size() == 3) return bgp::show_summary(speaker);
  if (is({"show", "bgp", "neighbor"}) || is({"show", "bgp", "neighbors"})) {
    if (args.size() == 3) {
      nlohmann::json all = nlohmann::json::array();
      for (auto& [id, p] : speaker.peers())
        all.push_back(*bgp::show_neighbor(speaker, p->config().address));
      return all;
    }
    auto a = IpAddress::parse(args[3]);
    if (!a) return fail(a.error().message);
    auto j = bgp::show_neighbor(speaker, *a);
    if (!j) return fail("no BGP neighbor " + a->to_string());
    return *j;
  }
  if (is({"show", "bgp", "ipv4", "unicast"}))
    return show_bgp_routes(speaker, bgp::kIpv4Unicast, args, 4);
  if (is({"show", "bgp", "ipv6", "unicast"}))
    return show_bgp_routes(speaker, bgp::kIpv6Unicast, args, 4);
  if (is({"show", "bgp", "l2vpn", "evpn"})) return show_bgp_evpn(speaker, args);
  if (is({"show", "bgp", "ipv4", "rtc"}) && args.size() == 4) return bgp::show_rtc_routes(speaker);
  if (is({"show", "evpn", "vni"}) && args.size() == 3) return show_evpn_vni(speaker, mac_vrfs);
  if (is({"show", "evpn", "mac"})) return show_evpn_mac(speaker, mac_vrfs, args);
  if (is({"evpn", "mac"})) return evpn_mac_command(speaker, evpn, args);
  if (is({"show", "bgp", "ipv4"})) return show_bgp_routes(speaker, bgp::kIpv4Unicast, args, 3);
  if (is({"show", "bgp", "ipv6"})) return show_bgp_routes(speaker, bgp::kIpv6Unicast, args, 3);
  if (is({"clear", "bgp", "neighbor"}) && args.size() >= 4) {
    auto a = IpAddress::parse(args[3]);
    if (!a) return fail(a.error().message);
    bgp::Peer* p = speaker.find_peer(*a);
    if (!p) return fail("no BGP neighbor " + a->to_string());
    std::vector<std::string> how(args.begin() + 4, args.end());
    Expected<void> r;
    std::string done;
    if (how.empty() || how == std::vector<std::string>{"hard"}) {
      // RFC 8538 §5: a Hard Reset when the peer supports it; neither side keeps routes.
      r = p->reset("cleared by operator", true);
      done = "session reset";
    } else if (how == std::vector<std::string>{"graceful"}) {
      // RFC 8538 §4: with the N bit both sides keep the other's routes as stale.
      r = p->reset("cleared by operator (graceful)", false);
      done = "session reset gracefully";
    } else if (how == std::vector<std::string>{"soft"}) {
      r = p->refresh_in();
      if (r) r = p->refresh_out();
      done = "route refresh requested and routes re-sent";
    } else if (how == std::vector<std::string>{"soft", "in"}) {
      r = p->refresh_in();
      done = "route refresh requested";
    } else if (how == std::vector<std::string>{"soft", "out"}) {
      r = p->refresh_out();
      done = "routes re-sent";
    } else {
      return fail("expected: clear bgp neighbor ADDR [hard | graceful | soft [in|out]]");
    }
    if (!r) return fail("neighbor " + a->to_string() + ": " + r.error().message);
    return nlohmann::json("neighbor " + a->to_string() + ": " + done);
  }
  return fail(
      "unknown command \"" + joined(args) +
      "\"; try: show bgp summary | show bgp neighbor [ADDR] | show bgp ipv4|ipv6 unicast "
      "[PREFIX] | show bgp l2vpn evpn [route-type N] [vni V] | show evpn vni | show evpn mac "
      "vni V | evpn mac add|del VNI MAC [IP] | clear bgp neighbor ADDR "
      "[hard | graceful | soft [in|out]]");
}

}  // namespace isthmus::daemon
