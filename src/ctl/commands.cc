#include "ctl/commands.h"

#include <algorithm>
#include <iterator>

namespace isthmus::ctl {

namespace {

using enum CommandId;

// In the order of CommandId (checked below), which is the order of isthmusctl --help.
constexpr Command kCommands[] = {
    {ShowBgpSummary, "show bgp summary", "", "every neighbor: AS, messages, up/down, prefixes",
     "show bgp summary"},
    {ShowBgpNeighbor, "show bgp neighbor|neighbors", "[ADDRESS]",
     "a neighbor (without ADDRESS every one) in detail", "show bgp neighbor 198.18.0.2"},
    {ShowBgpUnicast, "show bgp ipv4|ipv6 unicast", "[PREFIX|ADDRESS]",
     "the Loc-RIB; an ADDRESS gives its longest match", "show bgp ipv4 unicast 100.64.0.0/16"},
    {ShowBgpUnicastShort, "show bgp ipv4|ipv6", "[PREFIX|ADDRESS]", "the same: unicast implied",
     "show bgp ipv6 fd00:64:1::1"},
    {ShowBgpEvpn, "show bgp l2vpn evpn", "[route-type N] [vni V]",
     "EVPN routes, of one route type (1..5) or VNI", "show bgp l2vpn evpn route-type 2 vni 100"},
    {ShowBgpRtc, "show bgp ipv4 rtc", "", "route target memberships (RFC 4684)",
     "show bgp ipv4 rtc"},
    {ShowBgpVrf, "show bgp vrf", "NAME ipv4|ipv6 [unicast] [PREFIX|ADDRESS]",
     "a VRF's BGP table (its gateways' routes)", "show bgp vrf tenant1 ipv4 unicast"},
    {ClearBgpNeighbor, "clear bgp neighbor", "ADDRESS [hard | graceful | soft [in|out]]",
     "reset the session, or refresh routes (soft)", "clear bgp neighbor 198.18.0.2 soft in"},
    {ShowEvpnVni, "show evpn vni", "", "the MAC-VRFs: RD, route targets, MACs, remote VTEPs",
     "show evpn vni"},
    {ShowEvpnMac, "show evpn mac", "vni VNI", "a MAC-VRF's MACs, each at the VTEP that wins",
     "show evpn mac vni 100"},
    {EvpnMac, "evpn mac", "add|del VNI MAC [IP] [sticky]",
     "advertise (withdraw) a local MAC as a type-2 route",
     "evpn mac add 100 02:00:00:00:01:01 100.64.0.11"},
    {ClearEvpnDupAddr, "clear evpn dup-addr", "vni VNI [mac MAC]",
     "unfreeze the MACs frozen as duplicates", "clear evpn dup-addr vni 100 mac 02:00:00:00:01:01"},
    {ShowEvpnIpVrf, "show evpn ip-vrf", "", "the IP-VRFs: RD, route targets, Router's MAC",
     "show evpn ip-vrf"},
    {ShowEvpnPrefix, "show evpn prefix", "vni L3VNI", "an IP-VRF's prefixes, local and remote",
     "show evpn prefix vni 1000"},
    {EvpnPrefix, "evpn prefix", "add|del L3VNI PREFIX",
     "advertise (withdraw) a prefix as a type-5 route", "evpn prefix add 1000 100.64.10.0/24"},
    {ShowNetwork, "show network", "", "the networks: VNI, gateways, devices, MTU, flood list",
     "show network", true},
    {ShowEndpoint, "show endpoint", "", "the workloads on this host: MAC, IPs, bridge port",
     "show endpoint", true},
    {ShowKernelFdb, "show kernel fdb", "vni VNI",
     "the kernel's FDB of a network's bridge and VXLAN", "show kernel fdb vni 100", true},
    {EndpointAdd, "endpoint add", "--network NAME --tap NAME [--mac MAC] [--ip ADDRESS]...",
     "attach a VM's tap device to the network",
     "endpoint add --network blue --tap vm1-eth0 --mac 02:00:00:00:00:40 --ip 100.64.1.40", true},
    {EndpointDel, "endpoint del", "--network NAME --tap NAME",
     "detach it: the tap, its addresses, its routes", "endpoint del --network blue --tap vm1-eth0",
     true},
};

constexpr bool in_order() {
  for (size_t i = 0; i < std::size(kCommands); ++i)
    if (static_cast<size_t>(kCommands[i].id) != i) return false;
  return std::size(kCommands) == static_cast<size_t>(EndpointDel) + 1;
}
static_assert(in_order(), "kCommands lists every CommandId, in order");

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t at = 0;;) {
    const size_t end = s.find(sep, at);
    out.push_back(s.substr(at, end == std::string_view::npos ? end : end - at));
    if (end == std::string_view::npos) return out;
    at = end + 1;
  }
}

// How many of the command's words begin `args`.
size_t matched_words(const Command& c, const std::vector<std::string>& args) {
  size_t n = 0;
  for (std::string_view word : split(c.words, ' ')) {
    if (n == args.size()) break;
    const auto alternatives = split(word, '|');
    if (std::find(alternatives.begin(), alternatives.end(), args[n]) == alternatives.end()) break;
    ++n;
  }
  return n;
}

size_t word_count(const Command& c) { return split(c.words, ' ').size(); }

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

std::span<const Command> commands() { return kCommands; }

const Command& command(CommandId id) { return kCommands[static_cast<size_t>(id)]; }

const Command* find_command(const std::vector<std::string>& args) {
  const Command* best = nullptr;
  for (const Command& c : kCommands)
    if (matched_words(c, args) == word_count(c) && (!best || word_count(c) > word_count(*best)))
      best = &c;
  return best;
}

std::string synopsis(const Command& c) {
  std::string s(c.words);
  if (!c.arguments.empty()) s += " " + std::string(c.arguments);
  return s;
}

std::vector<std::string> example_args(const Command& c) {
  std::vector<std::string> out;
  for (std::string_view w : split(c.example, ' ')) out.emplace_back(w);
  return out;
}

std::string expected(CommandId id) { return "expected: " + synopsis(command(id)); }

std::string unknown_command(const std::vector<std::string>& args) {
  size_t most = 0;
  for (const Command& c : kCommands) most = std::max(most, matched_words(c, args));
  std::string list;
  for (const Command& c : kCommands)
    if (matched_words(c, args) == most) list += (list.empty() ? "" : ", ") + synopsis(c);
  return "unknown command \"" + joined(args) + "\"; try: " + list;
}

std::string needs_agent_role(const Command& c) {
  return std::string(c.words) +
         ": a command of the node agent role, which this isthmusd does not run (its "
         "configuration has no agent: section)";
}

std::string commands_help() {
  // The help starts in this column, or on a line of its own after a longer synopsis.
  constexpr size_t kColumn = 47;
  std::string out;
  for (bool agent : {false, true}) {
    out += agent ? "\nagent commands (isthmusd with the node agent role, agent: in its "
                   "configuration):\n"
                 : "commands:\n";
    for (const Command& c : kCommands) {
      if (c.needs_agent != agent) continue;
      std::string line = "  " + synopsis(c);
      if (line.size() + 2 > kColumn)
        line += "\n" + std::string(kColumn, ' ');
      else
        line.resize(kColumn, ' ');
      out += line + std::string(c.help) + "\n";
    }
  }
  return out;
}

}  // namespace isthmus::ctl
