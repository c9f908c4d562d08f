#include "agent/port_guard.h"

#include <fmt/format.h>

#include <algorithm>

namespace isthmus::agent {
namespace {

// Names the table's sets may hold: what the agent makes (vethXXXXXXXX) and sane tap names. Quotes
// or backslashes would change what nft reads.
bool nft_safe(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '@' || c == '-';
  });
}

struct Elements {
  std::vector<std::string> ports, macs, ipv4, ipv6, nd;
};

Expected<void> add_elements(const GuardedPort& p, Elements& e) {
  if (!nft_safe(p.ifname))
    return fail("port security: interface name \"" + p.ifname +
                "\" has characters other than letters, digits and _.@-");
  const std::string port = "\"" + p.ifname + "\"";
  const std::string mac = p.mac.to_string();
  e.ports.push_back(port);
  e.macs.push_back(port + " . " + mac);
  auto v6 = [&](const IpAddress& a) {
    e.ipv6.push_back(port + " . " + mac + " . " + a.to_string());
    std::string hex = "0x";
    for (uint8_t b : a.bytes()) hex += fmt::format("{:02x}", b);
    e.nd.push_back(port + " . " + mac + " . " + hex);
  };
  for (const IpAddress& a : p.ips) {
    if (a.is_v4())
      e.ipv4.push_back(port + " . " + mac + " . " + a.to_string());
    else
      v6(a);
  }
  v6(eui64_link_local(p.mac));
  return {};
}

// `{ a, b }`, or nothing when there are none (nft refuses an empty element list).
std::string elements(const std::vector<std::string>& items) {
  if (items.empty()) return "";
  std::string out = "{ ";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + " }";
}

// One command per set with elements: `VERB element bridge isthmus SET { ... }`.
std::string commands(const char* verb, const Elements& e) {
  std::string out;
  auto one = [&](const char* set, const std::vector<std::string>& items) {
    if (items.empty()) return;
    out += fmt::format("{} element {} {} {}\n", verb, kPortGuardTable.to_string(), set,
                       elements(items));
  };
  one("ports", e.ports);
  one("macs", e.macs);
  one("ipv4", e.ipv4);
  one("ipv6", e.ipv6);
  one("nd", e.nd);
  return out;
}

}  // namespace

IpAddress eui64_link_local(const MacAddress& mac) {
  const auto& m = mac.bytes;
  return IpAddress::v6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(m[0] ^ 0x02), m[1], m[2],
                        0xff, 0xfe, m[3], m[4], m[5]});
}

Expected<std::string> port_guard_ruleset(const std::vector<GuardedPort>& ports) {
  Elements e;
  for (const GuardedPort& p : ports)
    if (auto ok = add_elements(p, e); !ok) return unexpected(std::move(ok.error()));
  auto set = [](const char* name, const char* type, const std::vector<std::string>& items) {
    std::string s = fmt::format("\tset {} {{\n\t\t{}\n", name, type);
    if (!items.empty()) s += "\t\telements = " + elements(items) + "\n";
    return s + "\t}\n";
  };
  std::string out;
  for (const char* c : kPortGuardCounters) out += fmt::format("\tcounter {} {{ }}\n", c);
  out += set("ports", "type ifname", e.ports);
  out += set("macs", "type ifname . ether_addr", e.macs);
  out += set("ipv4", "type ifname . ether_addr . ipv4_addr", e.ipv4);
  out += set("ipv6", "type ifname . ether_addr . ipv6_addr", e.ipv6);
  // A Neighbor Advertisement's target (ICMPv6 octets 8..23), not an ipv6_addr to nft: a raw set.
  out += set("nd", "typeof iifname . ether saddr . @th,64,128", e.nd);
  out += R"(	chain prerouting {
		type filter hook prerouting priority -300; policy accept;
		iifname != @ports accept
		ether type { 8021q, 8021ad } counter name "drop_vlan" drop
		iifname . ether saddr != @macs counter name "drop_mac" drop
		arp saddr ip 0.0.0.0 accept
		ether type arp iifname . arp saddr ether . arp saddr ip != @ipv4 counter name "drop_arp" drop
		ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept
		ether type ip iifname . ether saddr . ip saddr != @ipv4 counter name "drop_ipv4" drop
		ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld2-listener-report } accept
		ether type ip6 iifname . ether saddr . ip6 saddr != @ipv6 counter name "drop_ipv6" drop
		icmpv6 type nd-neighbor-advert iifname . ether saddr . @th,64,128 != @nd counter name "drop_nd" drop
	}
)";
  return out;
}

Expected<std::string> port_guard_add(const GuardedPort& port) {
  Elements e;
  if (auto ok = add_elements(port, e); !ok) return unexpected(std::move(ok.error()));
  return commands("add", e);
}

Expected<std::string> port_guard_delete(const GuardedPort& port) {
  Elements e;
  if (auto ok = add_elements(port, e); !ok) return unexpected(std::move(ok.error()));
  return commands("delete", e);
}

}  // namespace isthmus::agent
