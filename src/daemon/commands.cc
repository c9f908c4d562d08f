#include "daemon/commands.h"

#include <algorithm>
#include <charconv>

#include "bgp/speaker/show.h"
#include "ctl/commands.h"

namespace isthmus::daemon {

namespace {

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

Expected<nlohmann::json> show_bgp_routes(bgp::Speaker& speaker, bgp::Family family,
                                         const std::vector<std::string>& args, size_t at,
                                         const bgp::Rib* rib = nullptr) {
  const bgp::Rib& table = rib ? *rib : speaker.rib();
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
        if (!table.lookup(family, candidate).empty()) {
          prefix = candidate;
          break;
        }
      }
    }
  }
  return bgp::show_routes(speaker, family, prefix, rib);
}

// show bgp vrf NAME ipv4|ipv6 [unicast] [PREFIX|ADDRESS]
Expected<nlohmann::json> show_bgp_vrf(bgp::Speaker& speaker, const std::vector<std::string>& args) {
  if (args.size() < 5 || (args[4] != "ipv4" && args[4] != "ipv6"))
    return fail(ctl::expected(ctl::CommandId::ShowBgpVrf));
  const bgp::Rib* rib = speaker.vrf_rib(args[3]);
  if (!rib) {
    std::string names;
    for (const auto& [name, r] : speaker.vrf_ribs()) names += (names.empty() ? "" : ", ") + name;
    return fail(
        "VRF " + args[3] + " has no BGP neighbors" +
        (names.empty() ? std::string(" (no VRF has)") : " (VRFs with neighbors: " + names + ")"));
  }
  const bgp::Family family = args[4] == "ipv4" ? bgp::kIpv4Unicast : bgp::kIpv6Unicast;
  const size_t at = args.size() > 5 && args[5] == "unicast" ? 6 : 5;
  return show_bgp_routes(speaker, family, args, at, rib);
}

// show bgp l2vpn evpn [route-type 1..5] [vni 0..16777215], the options in any order.
Expected<nlohmann::json> show_bgp_evpn(const bgp::Speaker& speaker,
                                       const std::vector<std::string>& args) {
  std::optional<uint8_t> type;
  std::optional<uint32_t> vni;
  const std::string usage = ctl::expected(ctl::CommandId::ShowBgpEvpn);
  for (size_t i = 4; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) return fail(usage);
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
      return fail(usage);
    }
  }
  return bgp::show_evpn_routes(speaker, type, vni);
}

// A MAC-VRF's or an IP-VRF's VNI, RD and route targets.
template <typename V>
nlohmann::json vrf_json(const V& m) {
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

// An IP-VRF: the tenant's name (vrfs[].name), L3 VNI, RD, route targets and Router's MAC.
nlohmann::json ip_vrf_json(const evpn::IpVrf& v) {
  nlohmann::json j = vrf_json(v);
  j["name"] = v.name;
  j["router_mac"] = v.router_mac.to_string();
  return j;
}

// The VNI named by `text`, or a message saying why it is none.
Expected<uint32_t> parse_vni(const std::string& text) {
  uint32_t vni = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), vni);
  if (ec != std::errc() || end != text.data() + text.size())
    return fail("vni: \"" + text + "\" is not a number");
  return vni;
}

// The MAC-VRF of the VNI named by `text`, or a message saying why there is none.
Expected<const evpn::MacVrf*> find_vrf(const evpn::Instance& evpn, const std::string& text) {
  auto vni = parse_vni(text);
  if (!vni) return unexpected(vni.error());
  const evpn::MacVrf* vrf = evpn.find_vrf(*vni);
  if (!vrf) return fail("no EVPN instance for VNI " + text + " (see show evpn vni)");
  return vrf;
}

const char* state_name(evpn::LocalMac::State s) {
  switch (s) {
    case evpn::LocalMac::State::Local:
      return "local";
    case evpn::LocalMac::State::MovedAway:
      return "moved-away";
    case evpn::LocalMac::State::Conflict:
      return "conflict";
  }
  return "?";
}

nlohmann::json ips_json(const std::vector<IpAddress>& ips) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& ip : ips) a.push_back(ip.to_string());
  return a;
}

// show evpn vni: each MAC-VRF with what the EVPN service holds for it.
nlohmann::json show_evpn_vni(const evpn::Instance& evpn) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : evpn.config().mac_vrfs) {
    nlohmann::json j = vrf_json(m);
    size_t local = 0, duplicates = 0;
    const auto rows = evpn.macs(m.vni);
    for (const auto& r : *rows) {
      if (r.local_mac && r.local_mac->state == evpn::LocalMac::State::Local) ++local;
      if (r.local_mac && r.local_mac->duplicate) ++duplicates;
    }
    j["macs"] = rows->size();
    j["local_macs"] = local;
    j["duplicate_macs"] = duplicates;
    j["routes"] = evpn.route_count(m.vni);
    j["remote_vteps"] = ips_json(*evpn.flood_list(m.vni));
    out.push_back(std::move(j));
  }
  return out;
}

// show evpn mac vni V: the MACs of one MAC-VRF, each at the VTEP that wins (RFC 7432 §15), with
// this VTEP's own state of the MAC when it has one.
Expected<nlohmann::json> show_evpn_mac(const bgp::Speaker& speaker, const evpn::Instance& evpn,
                                       const std::vector<std::string>& args) {
  if (args.size() != 5 || args[3] != "vni") return fail(ctl::expected(ctl::CommandId::ShowEvpnMac));
  auto vrf = find_vrf(evpn, args[4]);
  if (!vrf) return fail(vrf.error().message);
  const auto rows = evpn.macs((*vrf)->vni);
  nlohmann::json j = vrf_json(**vrf);
  nlohmann::json macs = nlohmann::json::array();
  for (const auto& r : *rows) {
    nlohmann::json flags = nlohmann::json::array();
    if (r.local) flags.push_back("local");
    if (r.winner.sticky) flags.push_back("sticky");
    const evpn::LocalMac* l = r.local_mac;
    if (l && l->duplicate) flags.push_back("duplicate");
    if (l && l->conflict) flags.push_back("conflict");
    nlohmann::json m{
        {"mac", r.mac.to_string()},          {"ips", ips_json(r.winner.ips)},
        {"vtep", r.winner.vtep.to_string()}, {"local", r.local},
        {"sequence", r.winner.sequence},     {"sticky", r.winner.sticky},
        {"duplicate", l && l->duplicate},    {"flags", std::move(flags)},
        {"rd", r.winner.rd.to_string()},     {"from", bgp::peer_name(speaker, r.winner.peer)},
        {"advertisements", r.advertisements}};
    if (l) {
      std::vector<IpAddress> ips;
      for (const auto& a : l->routes)
        if (a) ips.push_back(*a);
      m["local_mac"] = {{"state", state_name(l->state)},
                        {"advertised", !l->in_rib.empty()},
                        {"sequence", l->in_rib.empty() ? l->sequence : l->rib_sequence},
                        {"sticky", l->sticky},
                        {"duplicate", l->duplicate},
                        {"conflict", l->conflict},
                        {"moves", l->moves.size()},
                        {"ips", ips_json(ips)}};
    }
    macs.push_back(std::move(m));
  }
  j["macs"] = std::move(macs);
  return j;
}

// evpn mac add|del VNI MAC [IP] [sticky]: a MAC (and IP) local to this VTEP, advertised as a
// type-2 route (withdrawn by del; del without IP withdraws every route of the MAC). Until the
// node agent learns MACs from the kernel, this is how they are originated; a MAC another VTEP
// advertises is taken over with the next sequence number (RFC 7432 §15.1); sticky advertises it
// as static (RFC 7432 §15.2).
Expected<nlohmann::json> evpn_mac_command(evpn::Instance& evpn,
                                          const std::vector<std::string>& args) {
  const std::string usage = ctl::expected(ctl::CommandId::EvpnMac);
  if (args.size() < 5 || args.size() > 7 || (args[2] != "add" && args[2] != "del"))
    return fail(usage);
  const bool add = args[2] == "add";
  auto vni = parse_vni(args[3]);
  if (!vni) return unexpected(vni.error());
  auto mac = MacAddress::parse(args[4]);
  if (!mac) return fail("MAC address: " + mac.error().message);
  std::optional<IpAddress> ip;
  bool sticky = false;
  for (size_t i = 5; i < args.size(); ++i) {
    if (args[i] == "sticky" && add && !sticky) {
      sticky = true;
    } else if (i == 5) {
      auto a = IpAddress::parse(args[i]);
      if (!a) return fail(a.error().message);
      ip = *a;
    } else {
      return fail(usage);
    }
  }
  const std::string what =
      "VNI " + args[3] + ": " + mac->to_string() + (ip ? " " + ip->to_string() : "");
  if (!add) {
    auto r = evpn.remove_local_mac(*vni, *mac, ip);
    if (!r) return unexpected(r.error());
    return nlohmann::json(what + (*r ? " no longer advertised" : " was not a local MAC"));
  }
  auto r = evpn.add_local_mac(*vni, *mac, ip, sticky);
  if (!r) return unexpected(r.error());
  if (!r->advertised) return nlohmann::json(what + " is local but not advertised: " + r->note);
  std::string s = what + " advertised from " + evpn.config().vtep->to_string() + " (sequence " +
                  std::to_string(r->sequence) + (sticky ? ", sticky" : "") + ")";
  if (!r->note.empty()) s += ": " + r->note;
  return nlohmann::json(s);
}

// clear evpn dup-addr vni V [mac M]: unfreezes duplicate MACs (RFC 7432 §15.1 "until a
// corrective action is taken").
Expected<nlohmann::json> clear_evpn_dup_addr(evpn::Instance& evpn,
                                             const std::vector<std::string>& args) {
  if ((args.size() != 5 && args.size() != 7) || args[3] != "vni" ||
      (args.size() == 7 && args[5] != "mac"))
    return fail(ctl::expected(ctl::CommandId::ClearEvpnDupAddr));
  auto vni = parse_vni(args[4]);
  if (!vni) return unexpected(vni.error());
  std::optional<MacAddress> mac;
  if (args.size() == 7) {
    auto m = MacAddress::parse(args[6]);
    if (!m) return fail("MAC address: " + m.error().message);
    mac = *m;
  }
  auto n = evpn.clear_duplicate(*vni, mac);
  if (!n) return unexpected(n.error());
  if (mac)
    return nlohmann::json("VNI " + args[4] + ": " + mac->to_string() +
                          (*n ? " is no longer a duplicate" : " was not a duplicate"));
  return nlohmann::json("VNI " + args[4] + ": " + std::to_string(*n) + " duplicate MAC" +
                        (*n == 1 ? "" : "s") + " cleared");
}

// show evpn ip-vrf: each IP-VRF (the tenants of vrfs:) with its name, Router's MAC and prefix
// counts.
nlohmann::json show_evpn_ip_vrf(const evpn::Instance& evpn) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& v : evpn.config().ip_vrfs) {
    nlohmann::json j = ip_vrf_json(v);
    size_t local = 0, remote = 0;
    const auto rows = evpn.prefixes(v.vni);
    for (const auto& r : *rows) {
      if (r.local) ++local;
      if (!r.remote.empty()) ++remote;
    }
    j["local_prefixes"] = local;
    j["remote_prefixes"] = remote;
    out.push_back(std::move(j));
  }
  return out;
}

// show evpn prefix vni L3VNI: the prefixes of an IP-VRF, ours and each remote VTEP's.
Expected<nlohmann::json> show_evpn_prefix(const bgp::Speaker& speaker, const evpn::Instance& evpn,
                                          const std::vector<std::string>& args) {
  if (args.size() != 5 || args[3] != "vni")
    return fail(ctl::expected(ctl::CommandId::ShowEvpnPrefix));
  auto vni = parse_vni(args[4]);
  if (!vni) return unexpected(vni.error());
  auto rows = evpn.prefixes(*vni);
  if (!rows) return unexpected(rows.error());
  nlohmann::json j = ip_vrf_json(*evpn.find_ip_vrf(*vni));
  nlohmann::json prefixes = nlohmann::json::array();
  for (const auto& r : *rows) {
    nlohmann::json remote = nlohmann::json::array();
    for (const auto& p : r.remote) {
      remote.push_back({{"vtep", p.vtep.to_string()},
                        {"router_mac", p.router_mac ? p.router_mac->to_string() : ""},
                        {"vni", p.label},
                        {"rd", p.rd.to_string()},
                        {"from", bgp::peer_name(speaker, p.peer)}});
      if (!p.unusable.empty()) remote.back()["unusable"] = p.unusable;
    }
    prefixes.push_back(
        {{"prefix", r.prefix.to_string()}, {"local", r.local}, {"remote", std::move(remote)}});
  }
  j["prefixes"] = std::move(prefixes);
  return j;
}

// evpn prefix add|del L3VNI PREFIX: a prefix of the IP-VRF reachable through this VTEP, advertised
// as a type-5 route (RFC 9136 §4.4.1), or withdrawn.
Expected<nlohmann::json> evpn_prefix_command(evpn::Instance& evpn,
                                             const std::vector<std::string>& args) {
  if (args.size() != 5 || (args[2] != "add" && args[2] != "del"))
    return fail(ctl::expected(ctl::CommandId::EvpnPrefix));
  auto vni = parse_vni(args[3]);
  if (!vni) return unexpected(vni.error());
  auto prefix = Prefix::parse(args[4]);
  if (!prefix) return unexpected(prefix.error());
  const std::string what = "L3 VNI " + args[3] + ": " + prefix->to_string();
  if (args[2] == "del") {
    auto r = evpn.remove_prefix(*vni, *prefix);
    if (!r) return unexpected(r.error());
    return nlohmann::json(what + (*r ? " no longer advertised" : " was not advertised"));
  }
  auto r = evpn.add_prefix(*vni, *prefix);
  if (!r) return unexpected(r.error());
  return nlohmann::json(what + (*r ? " advertised from " : " was already advertised from ") +
                        evpn.config().vtep->to_string());
}

// show bgp neighbor|neighbors [ADDRESS]: every neighbor, or the one at ADDRESS.
Expected<nlohmann::json> show_bgp_neighbor(const bgp::Speaker& speaker,
                                           const std::vector<std::string>& args) {
  if (args.size() == 3) {
    nlohmann::json all = nlohmann::json::array();
    for (auto& [id, p] : speaker.peers())
      all.push_back(*bgp::show_neighbor(speaker, p->config().address));
    return all;
  }
  if (args.size() != 4) return fail(ctl::expected(ctl::CommandId::ShowBgpNeighbor));
  auto a = IpAddress::parse(args[3]);
  if (!a) return fail(a.error().message);
  auto j = bgp::show_neighbor(speaker, *a);
  if (!j) return fail("no BGP neighbor " + a->to_string());
  return *j;
}

// clear bgp neighbor ADDRESS [hard | graceful | soft [in|out]]
Expected<nlohmann::json> clear_bgp_neighbor(bgp::Speaker& speaker,
                                            const std::vector<std::string>& args) {
  if (args.size() < 4) return fail(ctl::expected(ctl::CommandId::ClearBgpNeighbor));
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
    return fail(ctl::expected(ctl::CommandId::ClearBgpNeighbor));
  }
  if (!r) return fail("neighbor " + a->to_string() + ": " + r.error().message);
  return nlohmann::json("neighbor " + a->to_string() + ": " + done);
}

}  // namespace

Expected<nlohmann::json> run_command(bgp::Speaker& speaker, evpn::Instance& evpn,
                                     const std::vector<std::string>& args) {
  using enum ctl::CommandId;
  const ctl::Command* c = ctl::find_command(args);
  if (!c) return fail(ctl::unknown_command(args));
  // args[2] of show bgp ipv4|ipv6 ...
  auto family = [&] { return args[2] == "ipv4" ? bgp::kIpv4Unicast : bgp::kIpv6Unicast; };
  switch (c->id) {
    case ShowBgpSummary:
      if (args.size() != 3) return fail(ctl::expected(c->id));
      return bgp::show_summary(speaker);
    case ShowBgpNeighbor:
      return show_bgp_neighbor(speaker, args);
    case ShowBgpUnicast:
      return show_bgp_routes(speaker, family(), args, 4);
    case ShowBgpUnicastShort:
      return show_bgp_routes(speaker, family(), args, 3);
    case ShowBgpEvpn:
      return show_bgp_evpn(speaker, args);
    case ShowBgpRtc:
      if (args.size() != 4) return fail(ctl::expected(c->id));
      return bgp::show_rtc_routes(speaker);
    case ShowBgpVrf:
      return show_bgp_vrf(speaker, args);
    case ClearBgpNeighbor:
      return clear_bgp_neighbor(speaker, args);
    case ShowEvpnVni:
      if (args.size() != 3) return fail(ctl::expected(c->id));
      return show_evpn_vni(evpn);
    case ShowEvpnMac:
      return show_evpn_mac(speaker, evpn, args);
    case EvpnMac:
      return evpn_mac_command(evpn, args);
    case ClearEvpnDupAddr:
      return clear_evpn_dup_addr(evpn, args);
    case ShowEvpnIpVrf:
      if (args.size() != 3) return fail(ctl::expected(c->id));
      return show_evpn_ip_vrf(evpn);
    case ShowEvpnPrefix:
      return show_evpn_prefix(speaker, evpn, args);
    case EvpnPrefix:
      return evpn_prefix_command(evpn, args);
    // The agent's (agent_command answers them on a daemon with the agent role).
    case ShowNetwork:
    case ShowEndpoint:
    case ShowKernelFdb:
    case EndpointAdd:
    case EndpointDel:
      return fail(ctl::needs_agent_role(*c));
  }
  return fail(ctl::unknown_command(args));
}

}  // namespace isthmus::daemon
