#include "cni/types.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "cni/json_read.h"
#include "core/ip.h"

namespace isthmus::cni {

using nlohmann::json;

namespace {

// CNI spec 1.1.0 §5 "Version": the spec versions, in order. 0.1.0 and 0.2.0 share a result
// format, as do 0.3.0, 0.3.1 and 0.4.0.
constexpr std::array<std::string_view, 7> kVersions = {"0.1.0", "0.2.0", "0.3.0", "0.3.1",
                                                       "0.4.0", "1.0.0", "1.1.0"};

enum class Format : uint8_t { V02, V04, V10, V11 };

Format format_of(std::string_view version) {
  if (!version_at_least(version, "0.3.0")) return Format::V02;
  if (!version_at_least(version, "1.0.0")) return Format::V04;
  if (!version_at_least(version, "1.1.0")) return Format::V10;
  return Format::V11;
}

std::string in_quotes(std::string_view s) {
  std::string out = "\"";
  out.append(s);
  out += '"';
  return out;
}

// "100.64.1.40/24", "fd00::1/64": an address and a prefix length; host bits may be set.
Expected<IpAddress, std::string> parse_cidr(std::string_view s) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos)
    return unexpected(in_quotes(s) +
                      " is not in CIDR notation (address/length, e.g. 100.64.1.40/24)");
  auto addr = IpAddress::parse(s.substr(0, slash));
  if (!addr) return unexpected(in_quotes(s) + " is not in CIDR notation: " + addr.error().message);
  auto len_text = s.substr(slash + 1);
  unsigned len = 0;
  auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  unsigned max = addr->is_v4() ? 32 : 128;
  if (len_text.empty() || ec != std::errc() || end != len_text.data() + len_text.size() ||
      len > max)
    return unexpected(in_quotes(s) + " has an invalid prefix length (0.." + std::to_string(max) +
                      ")");
  return *addr;
}

CniError bad_value(std::string_view path, std::string msg) {
  return cni_error(Code::kInvalidNetworkConfig, std::string(path) + ": " + msg);
}

Expected<std::string, CniError> read_cidr(const json& o, std::string_view key,
                                          std::string_view where, bool required) {
  auto v = opt_string(o, key, where);
  if (!v) return unexpected(v.error());
  if (!*v) {
    if (required) return unexpected(bad_value(json_path(where, key), "missing"));
    return std::string{};
  }
  if (auto a = parse_cidr(**v); !a) return unexpected(bad_value(json_path(where, key), a.error()));
  return std::move(**v);
}

Expected<std::string, CniError> read_ip(const json& o, std::string_view key,
                                        std::string_view where) {
  auto v = opt_string(o, key, where);
  if (!v) return unexpected(v.error());
  if (!*v) return std::string{};
  if (auto a = IpAddress::parse(**v); !a)
    return unexpected(bad_value(json_path(where, key), a.error().message));
  return std::move(**v);
}

Expected<Dns, CniError> read_dns(const json& o, std::string_view where) {
  auto obj = opt_object(o, "dns", where);
  if (!obj) return unexpected(obj.error());
  Dns d;
  if (!*obj) return d;
  auto path = json_path(where, "dns");
  auto ns = opt_strings(**obj, "nameservers", path);
  if (!ns) return unexpected(ns.error());
  auto domain = opt_string(**obj, "domain", path);
  if (!domain) return unexpected(domain.error());
  auto search = opt_strings(**obj, "search", path);
  if (!search) return unexpected(search.error());
  auto options = opt_strings(**obj, "options", path);
  if (!options) return unexpected(options.error());
  d.nameservers = ns->value_or(std::vector<std::string>{});
  d.domain = domain->value_or("");
  d.search = search->value_or(std::vector<std::string>{});
  d.options = options->value_or(std::vector<std::string>{});
  return d;
}

Expected<Route, CniError> read_route(const json& o, std::string_view path) {
  if (!o.is_object()) return unexpected(wrong_type(path, "an object", o));
  Route r;
  auto dst = read_cidr(o, "dst", path, true);
  if (!dst) return unexpected(dst.error());
  auto gw = read_ip(o, "gw", path);
  if (!gw) return unexpected(gw.error());
  r.dst = std::move(*dst);
  r.gw = std::move(*gw);
  for (auto [key, field] : {std::pair{"mtu", &r.mtu}, std::pair{"advmss", &r.advmss},
                            std::pair{"priority", &r.priority}, std::pair{"table", &r.table},
                            std::pair{"scope", &r.scope}}) {
    auto v = opt_uint(o, key, path);
    if (!v) return unexpected(v.error());
    *field = *v;
  }
  return r;
}

Expected<std::vector<Route>, CniError> read_routes(const json& o, std::string_view where) {
  auto a = opt_array(o, "routes", where);
  if (!a) return unexpected(a.error());
  std::vector<Route> out;
  if (!*a) return out;
  auto path = json_path(where, "routes");
  for (size_t i = 0; i < (*a)->size(); ++i) {
    auto r = read_route((**a)[i], json_path(path, i));
    if (!r) return unexpected(r.error());
    out.push_back(std::move(*r));
  }
  return out;
}

// 0.1.0/0.2.0: {"ip4": {"ip": CIDR, "gateway": IP, "routes": [...]}, "ip6": {...}, "dns": {...}}
Expected<Result, CniError> parse_v02(const json& j, std::string_view where) {
  Result r;
  for (auto family : {"ip4", "ip6"}) {
    auto obj = opt_object(j, family, where);
    if (!obj) return unexpected(obj.error());
    if (!*obj) continue;
    auto path = json_path(where, family);
    auto ip = read_cidr(**obj, "ip", path, true);
    if (!ip) return unexpected(ip.error());
    auto gw = read_ip(**obj, "gateway", path);
    if (!gw) return unexpected(gw.error());
    auto routes = read_routes(**obj, path);
    if (!routes) return unexpected(routes.error());
    r.ips.push_back(IpConfig{.address = std::move(*ip), .gateway = std::move(*gw)});
    for (auto& route : *routes) r.routes.push_back(std::move(route));
  }
  auto dns = read_dns(j, where);
  if (!dns) return unexpected(dns.error());
  r.dns = std::move(*dns);
  return r;
}

Expected<Result, CniError> parse_v04_and_later(const json& j, std::string_view where) {
  Result r;
  auto ifaces = opt_array(j, "interfaces", where);
  if (!ifaces) return unexpected(ifaces.error());
  if (*ifaces) {
    auto path = json_path(where, "interfaces");
    for (size_t i = 0; i < (*ifaces)->size(); ++i) {
      const json& o = (**ifaces)[i];
      auto p = json_path(path, i);
      if (!o.is_object()) return unexpected(wrong_type(p, "an object", o));
      Interface f;
      auto name = opt_string(o, "name", p);
      if (!name) return unexpected(name.error());
      if (!*name || (*name)->empty()) return unexpected(bad_value(json_path(p, "name"), "missing"));
      f.name = std::move(**name);
      for (auto [key, field] :
           {std::pair{"mac", &f.mac}, std::pair{"sandbox", &f.sandbox},
            std::pair{"socketPath", &f.socket_path}, std::pair{"pciID", &f.pci_id}}) {
        auto v = opt_string(o, key, p);
        if (!v) return unexpected(v.error());
        *field = v->value_or("");
      }
      auto mtu = opt_uint(o, "mtu", p);
      if (!mtu) return unexpected(mtu.error());
      f.mtu = *mtu;
      r.interfaces.push_back(std::move(f));
    }
  }
  auto ips = opt_array(j, "ips", where);
  if (!ips) return unexpected(ips.error());
  if (*ips) {
    auto path = json_path(where, "ips");
    for (size_t i = 0; i < (*ips)->size(); ++i) {
      const json& o = (**ips)[i];
      auto p = json_path(path, i);
      if (!o.is_object()) return unexpected(wrong_type(p, "an object", o));
      auto address = read_cidr(o, "address", p, true);
      if (!address) return unexpected(address.error());
      auto gw = read_ip(o, "gateway", p);
      if (!gw) return unexpected(gw.error());
      auto index = opt_uint(o, "interface", p);
      if (!index) return unexpected(index.error());
      if (*index && **index >= r.interfaces.size())
        return unexpected(bad_value(json_path(p, "interface"),
                                    std::to_string(**index) + " is not an index into interfaces (" +
                                        std::to_string(r.interfaces.size()) + " of them)"));
      // 0.3.x/0.4.0 "version" is implied by the address; it must agree when present.
      auto version = opt_string(o, "version", p);
      if (!version) return unexpected(version.error());
      if (*version) {
        auto addr = parse_cidr(*address);
        std::string_view want = addr->is_v4() ? "4" : "6";
        if (**version != want)
          return unexpected(bad_value(json_path(p, "version"),
                                      in_quotes(**version) + " does not match the address " +
                                          *address + " (expected " + in_quotes(want) + ")"));
      }
      r.ips.push_back(
          IpConfig{.address = std::move(*address), .gateway = std::move(*gw), .interface = *index});
    }
  }
  auto routes = read_routes(j, where);
  if (!routes) return unexpected(routes.error());
  r.routes = std::move(*routes);
  auto dns = read_dns(j, where);
  if (!dns) return unexpected(dns.error());
  r.dns = std::move(*dns);
  return r;
}

json dns_json(const Dns& d) {
  json o = json::object();
  if (!d.nameservers.empty()) o["nameservers"] = d.nameservers;
  if (!d.domain.empty()) o["domain"] = d.domain;
  if (!d.search.empty()) o["search"] = d.search;
  if (!d.options.empty()) o["options"] = d.options;
  return o;
}

json route_json(const Route& r, Format f) {
  json o = {{"dst", r.dst}};
  if (!r.gw.empty()) o["gw"] = r.gw;
  if (f == Format::V11) {
    if (r.mtu) o["mtu"] = *r.mtu;
    if (r.advmss) o["advmss"] = *r.advmss;
    if (r.priority) o["priority"] = *r.priority;
    if (r.table) o["table"] = *r.table;
    if (r.scope) o["scope"] = *r.scope;
  }
  return o;
}

bool is_v4_cidr(const std::string& cidr) {
  auto a = parse_cidr(cidr);
  return a && a->is_v4();
}

}  // namespace

json error_json(const CniError& e, std::string_view cni_version) {
  json j = {{"cniVersion", cni_version}, {"code", e.code}, {"msg", e.msg}};
  if (!e.details.empty()) j["details"] = e.details;
  return j;
}

std::span<const std::string_view> supported_versions() { return kVersions; }
std::string_view latest_version() { return kVersions.back(); }

std::optional<size_t> version_index(std::string_view v) {
  for (size_t i = 0; i < kVersions.size(); ++i)
    if (kVersions[i] == v) return i;
  return std::nullopt;
}

bool version_at_least(std::string_view v, std::string_view min) {
  return version_index(v).value_or(0) >= version_index(min).value_or(0);
}

std::string supported_versions_text() {
  std::string out;
  for (auto v : kVersions) {
    if (!out.empty()) out += ", ";
    out.append(v);
  }
  return out;
}

Expected<Result, CniError> parse_result(const json& j, std::string_view version,
                                        std::string_view what) {
  if (!j.is_object()) return unexpected(wrong_type(what, "an object", j));
  if (format_of(version) == Format::V02) return parse_v02(j, what);
  return parse_v04_and_later(j, what);
}

Expected<json, CniError> render_result(const Result& r, std::string_view version) {
  Format f = format_of(version);
  json j = {{"cniVersion", version}};
  if (f == Format::V02) {
    // Only the first address of each family fits; routes go with their family's address.
    json ip4, ip6;
    for (auto& ip : r.ips) {
      json& slot = is_v4_cidr(ip.address) ? ip4 : ip6;
      if (!slot.is_null()) continue;
      slot = {{"ip", ip.address}};
      if (!ip.gateway.empty()) slot["gateway"] = ip.gateway;
    }
    if (ip4.is_null() && ip6.is_null())
      return cni_fail(Code::kInvalidNetworkConfig,
                      "a cniVersion " + std::string(version) + " result needs an IP address and " +
                          "this attachment has none",
                      "use cniVersion 0.3.0 or later");
    for (auto& route : r.routes) {
      json& slot = is_v4_cidr(route.dst) ? ip4 : ip6;
      if (slot.is_null()) continue;
      slot["routes"].push_back(route_json(route, f));
    }
    if (!ip4.is_null()) j["ip4"] = std::move(ip4);
    if (!ip6.is_null()) j["ip6"] = std::move(ip6);
    j["dns"] = dns_json(r.dns);
    return j;
  }
  json ifaces = json::array();
  for (auto& i : r.interfaces) {
    json o = {{"name", i.name}};
    if (!i.mac.empty()) o["mac"] = i.mac;
    if (!i.sandbox.empty()) o["sandbox"] = i.sandbox;
    if (f == Format::V11) {
      if (i.mtu) o["mtu"] = *i.mtu;
      if (!i.socket_path.empty()) o["socketPath"] = i.socket_path;
      if (!i.pci_id.empty()) o["pciID"] = i.pci_id;
    }
    ifaces.push_back(std::move(o));
  }
  json ips = json::array();
  for (auto& ip : r.ips) {
    json o = {{"address", ip.address}};
    if (f == Format::V04) o["version"] = is_v4_cidr(ip.address) ? "4" : "6";
    if (!ip.gateway.empty()) o["gateway"] = ip.gateway;
    if (ip.interface) o["interface"] = *ip.interface;
    ips.push_back(std::move(o));
  }
  json routes = json::array();
  for (auto& route : r.routes) routes.push_back(route_json(route, f));
  if (!ifaces.empty()) j["interfaces"] = std::move(ifaces);
  if (!ips.empty()) j["ips"] = std::move(ips);
  if (!routes.empty()) j["routes"] = std::move(routes);
  j["dns"] = dns_json(r.dns);
  return j;
}

Result merge_results(const Result& prev, const Result& ours) {
  Result r = prev;
  auto offset = static_cast<uint32_t>(prev.interfaces.size());
  for (auto& i : ours.interfaces) r.interfaces.push_back(i);
  for (auto ip : ours.ips) {
    if (ip.interface) *ip.interface += offset;
    r.ips.push_back(std::move(ip));
  }
  for (auto& route : ours.routes) r.routes.push_back(route);
  auto append_new = [](std::vector<std::string>& to, const std::vector<std::string>& from) {
    for (auto& s : from)
      if (std::find(to.begin(), to.end(), s) == to.end()) to.push_back(s);
  };
  append_new(r.dns.nameservers, ours.dns.nameservers);
  if (r.dns.domain.empty()) r.dns.domain = ours.dns.domain;
  append_new(r.dns.search, ours.dns.search);
  append_new(r.dns.options, ours.dns.options);
  return r;
}

}  // namespace isthmus::cni
