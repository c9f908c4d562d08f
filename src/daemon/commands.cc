#include "daemon/commands.h"

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
    return fail("too many words after \"" + joined({args.begin(), args.begin() + static_cast<std::ptrdiff_t>(at)}) + "\"");
  if (args.size() == at + 1) {
    auto p = Prefix::parse(args[at]);
    if (!p) return fail(p.error().message);
    if ((family == bgp::kIpv4Unicast) != p->address().is_v4())
      return fail("\"" + args[at] + "\" is not an address of family " + family.name());
    prefix = *p;
  }
  return bgp::show_routes(speaker, family, prefix);
}

}  // namespace

Expected<nlohmann::json> run_command(bgp::Speaker& speaker, const std::vector<std::string>& args) {
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
  if (is({"show", "bgp", "ipv4", "unicast"})) return show_bgp_routes(speaker, bgp::kIpv4Unicast, args, 4);
  if (is({"show", "bgp", "ipv6", "unicast"})) return show_bgp_routes(speaker, bgp::kIpv6Unicast, args, 4);
  if (is({"show", "bgp", "ipv4"})) return show_bgp_routes(speaker, bgp::kIpv4Unicast, args, 3);
  if (is({"show", "bgp", "ipv6"})) return show_bgp_routes(speaker, bgp::kIpv6Unicast, args, 3);
  return fail("unknown command \"" + joined(args) +
              "\"; try: show bgp summary | show bgp neighbor [ADDR] | show bgp ipv4|ipv6 unicast "
              "[PREFIX]");
}

}  // namespace isthmus::daemon
