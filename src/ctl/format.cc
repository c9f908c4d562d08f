#include "ctl/format.h"

#include <fmt/format.h>

#include "ctl/commands.h"

namespace isthmus::ctl {

namespace {

using nlohmann::json;

std::string str(const json& j, const char* key, const std::string& dflt = "") {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  if (j[key].is_string()) return j[key].get<std::string>();
  return j[key].dump();
}

std::string uptime(int64_t s) {
  if (s < 0) return "never";
  if (s >= 86400) return fmt::format("{}d{:02}h{:02}m", s / 86400, s % 86400 / 3600, s % 3600 / 60);
  return fmt::format("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60);
}

uint64_t sum(const json& j) {
  uint64_t n = 0;
  if (j.is_object())
    for (auto& [k, v] : j.items())
      if (v.is_number()) n += v.get<uint64_t>();
  return n;
}

std::string join(const json& arr, const char* sep = " ") {
  std::string out;
  if (!arr.is_array()) return out;
  for (auto& v : arr) {
    if (!out.empty()) out += sep;
    out += v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

}  // namespace

std::string format_bgp_summary(const json& j) {
  std::string out = fmt::format("BGP router identifier {}, local AS number {}\n",
                                str(j, "router_id"), str(j, "asn"));
  if (j.contains("routes"))
    for (auto& [fam, n] : j["routes"].items()) out += fmt::format("{} routes: {}\n", fam, n.dump());
  out += "\n";
  out += fmt::format("{:<40} {:>10} {:>8} {:>8} {:>10} {:<12} {:>8} {:>8}\n", "Neighbor", "AS",
                     "MsgRcvd", "MsgSent", "Up/Down", "State", "PfxRcd", "PfxSnt");
  for (auto& n : j.value("neighbors", json::array())) {
    bool up = str(n, "state") == "Established";
    out += fmt::format("{:<40} {:>10} {:>8} {:>8} {:>10} {:<12} {:>8} {:>8}\n",
                       str(n, "address") + (n.value("dynamic", false) ? "*" : ""),
                       str(n, "remote_as"), str(n, "messages_received"), str(n, "messages_sent"),
                       up ? uptime(n.value("uptime_s", int64_t{0})) : "never", str(n, "state"),
                       up ? std::to_string(sum(n["prefixes_received"])) : "-",
                       up ? std::to_string(sum(n["prefixes_sent"])) : "-");
  }
  if (j.value("neighbors", json::array()).empty()) out += "No neighbors configured.\n";
  return out;
}

std::string format_bgp_neighbor(const json& n) {
  std::string out;
  out += fmt::format("BGP neighbor is {}, remote AS {}, local AS {}, {} link{}\n",
                     str(n, "address"), str(n, "remote_as"), str(n, "local_as"),
                     str(n, "type") == "ibgp" ? "internal" : "external",
                     n.value("dynamic", false) ? " (dynamic)" : "");
  if (!str(n, "description").empty())
    out += fmt::format("  Description: {}\n", str(n, "description"));
  if (n.contains("vrf"))
    out += fmt::format("  Gateway of VRF {} on {}\n", str(n, "vrf"), str(n, "interface"));
  out += fmt::format("  BGP state = {}", str(n, "state"));
  if (str(n, "state") == "Established")
    out += fmt::format(", up for {}", uptime(n.value("uptime_s", int64_t{0})));
  out += "\n";
  if (n.contains("router_id")) out += fmt::format("  Remote router ID {}\n", str(n, "router_id"));
  if (n.contains("local_address"))
    out += fmt::format("  Local address {}\n", str(n, "local_address"));
  if (n.contains("hold_time"))
    out += fmt::format("  Hold time {}s, keepalive interval {}s\n", str(n, "hold_time"),
                       str(n, "keepalive"));
  if (n.value("route_reflector_client", false)) out += "  Route-reflector client\n";
  if (n.contains("capabilities")) {
    auto& c = n["capabilities"];
    out += "  Peer capabilities:";
    for (auto k : {"four_octet_as", "route_refresh", "enhanced_route_refresh", "extended_message",
                   "graceful_restart"})
      if (c.value(k, false)) out += std::string(" ") + k;
    out += "\n    families: " + join(c.value("families", json::array())) + "\n";
  }
  out += "  Negotiated families: " + join(n.value("families", json::array())) + "\n";
  out += "  Prefixes (received / accepted / sent):\n";
  if (n.contains("prefixes_received"))
    for (auto& [fam, v] : n["prefixes_received"].items())
      out += fmt::format("    {:<14} {} / {} / {}\n", fam, v.dump(),
                         n["prefixes_accepted"].value(fam, json(0)).dump(),
                         n["prefixes_sent"].value(fam, json(0)).dump());
  out += fmt::format(
      "  Messages: received {} (updates {}, notifications {}, refresh {}), sent {} "
      "(updates {}, notifications {})\n",
      str(n, "messages_received"), str(n, "updates_received"), str(n, "notifications_received"),
      str(n, "route_refresh_received"), str(n, "messages_sent"), str(n, "updates_sent"),
      str(n, "notifications_sent"));
  out += fmt::format("  Established {} time(s); UPDATE errors handled (RFC 7606): {}\n",
                     str(n, "established_transitions"), str(n, "update_errors"));
  if (n.contains("update_group"))
    out += fmt::format(
        "  Update group {}{}, {} octets queued for it; split out for lagging {} time(s)\n",
        str(n, "update_group"), n.value("update_group_split", false) ? " (split out, lagging)" : "",
        str(n, "output_queued"), str(n, "update_group_splits"));
  if (n.value("routes_too_large", 0) > 0)
    out +=
        fmt::format("  Routes withdrawn, too large for its messages (no extended messages): {}\n",
                    str(n, "routes_too_large"));
  if (!str(n, "last_error").empty()) out += "  Last error: " + str(n, "last_error") + "\n";
  if (!str(n, "last_notification_sent").empty())
    out += "  Last notification sent: " + str(n, "last_notification_sent") + "\n";
  if (!str(n, "last_notification_received").empty())
    out += "  Last notification received: " + str(n, "last_notification_received") + "\n";
  return out;
}

std::string format_bgp_routes(const json& j) {
  std::string out = fmt::format("Family {}\n", str(j, "family"));
  out += "Status: * valid, S stale, > best; Origin: i igp, e egp, ? incomplete\n\n";
  out += fmt::format("   {:<43} {:<39} {:>10} {:>7} {}\n", "Network", "Next Hop", "MED", "LocPrf",
                     "Path");
  size_t n = 0;
  for (auto& r : j.value("routes", json::array())) {
    bool first = true;
    for (auto& p : r.value("paths", json::array())) {
      std::string origin = str(p, "origin") == "igp" ? "i" : str(p, "origin") == "egp" ? "e" : "?";
      out += fmt::format("{}{} {:<43} {:<39} {:>10} {:>7} {}{}{}\n",
                         p.value("stale", false) ? "S" : "*", p.value("best", false) ? ">" : " ",
                         first ? str(r, "prefix") : "", str(p, "next_hop"), str(p, "med"),
                         str(p, "local_pref"), str(p, "as_path"),
                         str(p, "as_path").empty() ? "" : " ", origin);
      first = false;
    }
    ++n;
  }
  out += fmt::format("\nDisplayed {} prefixes\n", n);
  return out;
}

std::string format_evpn_routes(const json& j) {
  std::string out = fmt::format("Family {}\n", str(j, "family"));
  out += "Status: * valid, S stale, > best\n\n";
  out += fmt::format("   {:<62} {:<39} {:>8} {}\n", "Route", "Next Hop", "VNI", "From");
  size_t n = 0;
  for (auto& r : j.value("routes", json::array())) {
    bool first = true;
    for (auto& p : r.value("paths", json::array())) {
      out += fmt::format("{}{} {:<62} {:<39} {:>8} {}\n", p.value("stale", false) ? "S" : "*",
                         p.value("best", false) ? ">" : " ", first ? str(r, "route") : "",
                         str(p, "next_hop"), str(p, "vni"), str(p, "from"));
      std::string ext;
      for (auto& e : p.value("ext_communities", json::array())) ext += " " + e.get<std::string>();
      if (!ext.empty()) out += fmt::format("{:5}{}\n", "", ext.substr(1));
      first = false;
    }
    ++n;
  }
  out += fmt::format("\nDisplayed {} routes\n", n);
  return out;
}

std::string format_rtc_routes(const json& j) {
  std::string out = fmt::format("Family {}\n", str(j, "family"));
  out += "Status: * valid, S stale, > best\n\n";
  out += fmt::format("   {:<40} {:<39} {}\n", "Route target membership", "Next Hop", "From");
  size_t n = 0;
  for (auto& r : j.value("routes", json::array())) {
    bool first = true;
    for (auto& p : r.value("paths", json::array())) {
      out += fmt::format("{}{} {:<40} {:<39} {}\n", p.value("stale", false) ? "S" : "*",
                         p.value("best", false) ? ">" : " ", first ? str(r, "route") : "",
                         str(p, "next_hop"), str(p, "from"));
      first = false;
    }
    ++n;
  }
  out += fmt::format("\nDisplayed {} routes\n", n);
  return out;
}

std::string format_networks(const json& j) {
  constexpr std::string_view row =
      "{:<16} {:>8}  {:<16} {:<20} {:<24} {:>5} {:<4} {:<3} {:>7} {:>6}  {}\n";
  std::string out = fmt::format(row, "Network", "VNI", "VRF", "Gateway", "Gateway6", "MTU", "Up",
                                "NAT", "MACs", "IPs", "Flood list");
  for (auto& n : j) {
    std::string flood;
    for (auto& v : n.value("flood", json::array()))
      flood += (flood.empty() ? "" : " ") + v.get<std::string>();
    out += fmt::format(row, str(n, "name"), str(n, "vni"), str(n, "vrf"), str(n, "gateway"),
                       str(n, "gateway6"), str(n, "mtu"), n.value("up", false) ? "yes" : "no",
                       n.value("nat_outgoing", false) ? "yes" : "no", str(n, "remote_macs"),
                       str(n, "remote_ips"), flood);
  }
  return out;
}

std::string format_endpoints(const json& j) {
  std::string out = fmt::format("{:<16} {:>8}  {:<18} {:<16} {:<11} {:>4}  {}\n", "Network", "VNI",
                                "MAC", "Port", "State", "Seq", "IPs");
  for (auto& e : j) {
    std::string ips;
    for (auto& ip : e.value("ips", json::array()))
      ips += (ips.empty() ? "" : " ") + ip.get<std::string>();
    out += fmt::format("{:<16} {:>8}  {:<18} {:<16} {:<11} {:>4}  {}\n", str(e, "network"),
                       str(e, "vni"), str(e, "mac"), str(e, "port"), str(e, "state"),
                       str(e, "sequence"), ips);
  }
  return out;
}

std::string format_kernel_fdb(const json& j) {
  std::string out = fmt::format("{:<18} {:<16} {:<39} {}\n", "MAC", "Device", "VTEP", "Flags");
  for (auto& e : j) {
    std::string flags = e.value("self", false) ? "self" : "learned";
    if (e.value("extern_learned", false)) flags += " extern_learn";
    if (e.value("state", 0) & 0x80) flags += " permanent";
    out += fmt::format("{:<18} {:<16} {:<39} {}\n", str(e, "mac"), str(e, "device"), str(e, "vtep"),
                       flags);
  }
  return out;
}

std::string format_evpn_vni(const json& j) {
  std::string out = fmt::format("{:>8}  {:<22} {:>6} {:>6} {:>5} {:>7}  {:<30} {}\n", "VNI", "RD",
                                "MACs", "Local", "Dups", "Routes", "Import RTs", "Remote VTEPs");
  for (auto& v : j) {
    std::string rts, vteps;
    for (auto& r : v.value("import_rts", json::array()))
      rts += (rts.empty() ? "" : " ") + r.get<std::string>();
    for (auto& a : v.value("remote_vteps", json::array()))
      vteps += (vteps.empty() ? "" : " ") + a.get<std::string>();
    out += fmt::format("{:>8}  {:<22} {:>6} {:>6} {:>5} {:>7}  {:<30} {}\n", str(v, "vni"),
                       str(v, "rd"), str(v, "macs"), str(v, "local_macs"), str(v, "duplicate_macs"),
                       str(v, "routes"), rts, vteps);
  }
  return out;
}

std::string format_evpn_mac(const json& j) {
  std::string out = fmt::format(
      "VNI {} (RD {})\nFlags: L local, S sticky (static), D duplicate (frozen), C conflict (static "
      "elsewhere)\n\n",
      str(j, "vni"), str(j, "rd"));
  out += fmt::format("{:<17} {:<39} {:>8} {:<5} {:<39} {:>4}  {}\n", "MAC", "VTEP", "Sequence",
                     "Flags", "IPs", "Advs", "Here");
  size_t n = 0;
  for (auto& m : j.value("macs", json::array())) {
    std::string ips;
    for (auto& a : m.value("ips", json::array()))
      ips += (ips.empty() ? "" : " ") + a.get<std::string>();
    std::string flags;
    for (auto& f : m.value("flags", json::array())) {
      const std::string name = f.get<std::string>();
      flags += name == "local"       ? "L"
               : name == "sticky"    ? "S"
               : name == "duplicate" ? "D"
               : name == "conflict"  ? "C"
                                     : "?";
    }
    // This VTEP's own state of the MAC, when it has one.
    std::string here = "-";
    if (m.contains("local_mac")) {
      const json& l = m["local_mac"];
      here =
          fmt::format("{} seq {}{} moves {}", str(l, "state"), str(l, "sequence"),
                      l.value("advertised", false) ? " advertised" : " withdrawn", str(l, "moves"));
    }
    out += fmt::format("{:<17} {:<39} {:>8} {:<5} {:<39} {:>4}  {}\n", str(m, "mac"),
                       m.value("local", false) ? "local" : str(m, "vtep"), str(m, "sequence"),
                       flags, ips, str(m, "advertisements"), here);
    ++n;
  }
  out += fmt::format("\nDisplayed {} MACs\n", n);
  return out;
}

std::string format_evpn_ip_vrf(const json& j) {
  std::string out = fmt::format("{:<15} {:>8}  {:<22} {:<17} {:>6} {:>7}  {}\n", "VRF", "L3 VNI",
                                "RD", "Router MAC", "Local", "Remote", "Import RTs");
  for (auto& v : j) {
    std::string rts;
    for (auto& r : v.value("import_rts", json::array()))
      rts += (rts.empty() ? "" : " ") + r.get<std::string>();
    const std::string name = str(v, "name");
    out += fmt::format("{:<15} {:>8}  {:<22} {:<17} {:>6} {:>7}  {}\n", name.empty() ? "-" : name,
                       str(v, "vni"), str(v, "rd"), str(v, "router_mac"), str(v, "local_prefixes"),
                       str(v, "remote_prefixes"), rts);
  }
  return out;
}

std::string format_evpn_prefix(const json& j) {
  const std::string name = str(j, "name");
  std::string out = fmt::format("{}L3 VNI {} (RD {}, Router MAC {})\n\n",
                                name.empty() ? "" : "VRF " + name + ", ", str(j, "vni"),
                                str(j, "rd"), str(j, "router_mac"));
  out += fmt::format("{:<43} {:<39} {}\n", "Prefix", "VTEP", "Router MAC");
  size_t n = 0;
  for (auto& p : j.value("prefixes", json::array())) {
    bool first = true;
    if (p.value("local", false)) {
      out += fmt::format("{:<43} {:<39} {}\n", str(p, "prefix"), "local", str(j, "router_mac"));
      first = false;
    }
    for (auto& r : p.value("remote", json::array())) {
      out += fmt::format("{:<43} {:<39} {}\n", first ? str(p, "prefix") : "", str(r, "vtep"),
                         str(r, "router_mac"));
      if (r.contains("unusable"))
        out += fmt::format("{:<43} not installed: {}\n", "", str(r, "unusable"));
      first = false;
    }
    ++n;
  }
  out += fmt::format("\nDisplayed {} prefixes\n", n);
  return out;
}

std::string format_text(const std::vector<std::string>& args, const json& result) {
  // The answer's shape is the command's (ctl/commands.h), whichever of its spellings was sent.
  const Command* c = find_command(args);
  if (c) {
    switch (c->id) {
      case CommandId::ShowBgpSummary:
        return format_bgp_summary(result);
      case CommandId::ShowBgpNeighbor:
        if (result.is_array()) {
          std::string out;
          for (auto& n : result) out += format_bgp_neighbor(n) + "\n";
          return out;
        }
        return format_bgp_neighbor(result);
      case CommandId::ShowBgpUnicast:
      case CommandId::ShowBgpUnicastShort:
      case CommandId::ShowBgpVrf:
        return format_bgp_routes(result);
      case CommandId::ShowBgpEvpn:
        return format_evpn_routes(result);
      case CommandId::ShowBgpRtc:
        return format_rtc_routes(result);
      case CommandId::ShowEvpnVni:
        return format_evpn_vni(result);
      case CommandId::ShowEvpnMac:
        return format_evpn_mac(result);
      case CommandId::ShowEvpnIpVrf:
        return format_evpn_ip_vrf(result);
      case CommandId::ShowEvpnPrefix:
        return format_evpn_prefix(result);
      case CommandId::ShowNetwork:
        return format_networks(result);
      case CommandId::ShowEndpoint:
        return format_endpoints(result);
      case CommandId::ShowKernelFdb:
        return format_kernel_fdb(result);
      case CommandId::ClearBgpNeighbor:
      case CommandId::EvpnMac:
      case CommandId::ClearEvpnDupAddr:
      case CommandId::EvpnPrefix:
      case CommandId::EndpointAdd:
      case CommandId::EndpointDel:
        break;  // a sentence, or a result shown as JSON
    }
  }
  if (result.is_string()) return result.get<std::string>() + "\n";
  return result.dump(2) + "\n";
}

}  // namespace isthmus::ctl
