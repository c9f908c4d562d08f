#include "agent/endpoints.h"

#include <fmt/format.h>
#include <linux/neighbour.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "agent/port_guard.h"
#include "core/log.h"
#include "kernel/netlink_kernel.h"
#include "kernel/netns.h"

namespace isthmus::agent {

namespace {

constexpr const char* kAliasPrefix = "isthmus-ep:";

Unexpected<ApiError> api_error(int code, std::string message) {
  return unexpected(ApiError{code, std::move(message)});
}

// Linux interface names: 1..15 bytes, no '/', no whitespace, not "." or "..".
std::optional<std::string> bad_ifname(const std::string& name) {
  if (name.empty() || name.size() > 15) return "must have 1..15 characters";
  if (name == "." || name == "..") return "must not be . or ..";
  for (char c : name)
    if (c == '/' || c == ':' || c <= ' ' || c == 0x7f) return "must not contain '/', ':' or spaces";
  return std::nullopt;
}

const kernel::Link* by_name(const std::vector<kernel::Link>& links, const std::string& name) {
  auto it = std::find_if(links.begin(), links.end(), [&](const auto& l) { return l.name == name; });
  return it == links.end() ? nullptr : &*it;
}

IpAddress any_address(IpFamily f) {
  return f == IpFamily::V4 ? IpAddress::v4(0u) : IpAddress::v6(std::array<uint8_t, 16>{});
}

// A locally administered unicast MAC for a VM whose MAC was not given: stable per attachment.
MacAddress derived_mac(uint32_t hash) {
  return MacAddress{{0x02, 0x49, static_cast<uint8_t>(hash >> 24), static_cast<uint8_t>(hash >> 16),
                     static_cast<uint8_t>(hash >> 8), static_cast<uint8_t>(hash)}};
}

// A random locally administered unicast MAC, as the kernel gives a veth without one
// (eth_random_addr); nullopt if the kernel has no randomness to give.
std::optional<MacAddress> random_mac() {
  MacAddress m{};
  if (::getrandom(m.bytes.data(), m.bytes.size(), 0) != static_cast<ssize_t>(m.bytes.size()))
    return std::nullopt;
  m.bytes[0] = static_cast<uint8_t>((m.bytes[0] & 0xfe) | 0x02);
  return m;
}

uint32_t fnv1a(const ipam::Key& k) {
  uint32_t h = 2166136261u;
  auto mix = [&](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 16777619u;
    h = (h ^ 0u) * 16777619u;
  };
  mix(k.network);
  mix(k.container_id);
  mix(k.ifname);
  return h;
}

std::string alias_of(const ipam::Key& k) {
  return std::string(kAliasPrefix) + k.network + ":" + k.ifname + ":" + k.container_id;
}

// The route of `r`'s key (table, destination, metric) the namespace has, described, if any.
std::optional<std::string> existing_route(kernel::Kernel& k, const kernel::Route& r) {
  auto routes = k.routes(r.table);
  if (!routes) return std::nullopt;
  const uint32_t metric = r.dst.family() == IpFamily::V6 && r.metric == 0 ? 1024 : r.metric;
  for (const kernel::Route& o : *routes) {
    if (o.dst != r.dst || o.metric != metric) continue;
    std::string text = (r.dst.length() == 0 ? "a default route " : "a route ") + o.dst.to_string();
    if (o.gateway) text += " via " + o.gateway->to_string();
    if (o.unreachable) text += " (unreachable)";
    return text;
  }
  return std::nullopt;
}

}  // namespace

NetnsOpener real_netns() {
  return [](const std::string& path) -> Expected<NetnsHandle> {
    auto ns = kernel::Netns::open(path);
    if (!ns) return unexpected(std::move(ns.error()));
    auto shared = std::make_shared<kernel::Netns>(std::move(*ns));
    // The handle's kernel is the namespace's; it lives as long as the handle's close.
    struct View final : kernel::Kernel {
      std::shared_ptr<kernel::Netns> ns;
      kernel::Kernel& k() { return ns->kernel(); }
      Expected<std::vector<kernel::Link>> links() override { return k().links(); }
      Expected<std::optional<kernel::Link>> find_link(const std::string& name) override {
        return k().find_link(name);
      }
      Expected<kernel::Link> add_link(const kernel::LinkSpec& s) override {
        return k().add_link(s);
      }
      Expected<void> set_link(int i, const kernel::LinkChange& c) override {
        return k().set_link(i, c);
      }
      Expected<void> set_bridge_port(int i, const kernel::BridgePortInfo& p) override {
        return k().set_bridge_port(i, p);
      }
      Expected<void> delete_link(int i) override { return k().delete_link(i); }
      Expected<std::vector<kernel::Address>> addresses() override { return k().addresses(); }
      Expected<void> add_address(const kernel::Address& a) override { return k().add_address(a); }
      Expected<void> delete_address(const kernel::Address& a) override {
        return k().delete_address(a);
      }
      Expected<std::vector<kernel::Route>> routes(uint32_t t) override { return k().routes(t); }
      Expected<void> replace_route(const kernel::Route& r) override { return k().replace_route(r); }
      Expected<void> add_route(const kernel::Route& r) override { return k().add_route(r); }
      Expected<void> delete_route(const kernel::Route& r) override { return k().delete_route(r); }
      Expected<std::vector<kernel::Rule>> rules() override { return k().rules(); }
      Expected<void> add_rule(const kernel::Rule& r) override { return k().add_rule(r); }
      Expected<void> delete_rule(const kernel::Rule& r) override { return k().delete_rule(r); }
      Expected<std::string> sysctl(const std::string& key) override {
        return fail("sysctl " + key + ": not in a container's namespace");
      }
      Expected<void> set_sysctl(const std::string& key, const std::string&) override {
        return fail("sysctl " + key + ": not in a container's namespace");
      }
      Expected<std::vector<kernel::Neighbour>> neighbours() override { return k().neighbours(); }
      Expected<std::vector<kernel::Neighbour>> neighbours_of(int i) override {
        return k().neighbours_of(i);
      }
      Expected<void> replace_neighbour(const kernel::Neighbour& n) override {
        return k().replace_neighbour(n);
      }
      Expected<void> delete_neighbour(const kernel::Neighbour& n) override {
        return k().delete_neighbour(n);
      }
      Expected<std::vector<kernel::FdbEntry>> fdb() override { return k().fdb(); }
      Expected<std::vector<kernel::FdbEntry>> bridge_fdb(int b) override {
        return k().bridge_fdb(b);
      }
      Expected<std::vector<kernel::FdbEntry>> device_fdb(int i) override {
        return k().device_fdb(i);
      }
      Expected<void> add_fdb(const kernel::FdbEntry& e, bool append) override {
        return k().add_fdb(e, append);
      }
      Expected<void> delete_fdb(const kernel::FdbEntry& e) override { return k().delete_fdb(e); }
      std::vector<kernel::ChangeError> apply(std::span<const kernel::EntryChange> c) override {
        return k().apply(c);
      }
    };
    auto view = std::make_unique<View>();
    view->ns = shared;
    NetnsHandle h;
    h.fd = shared->fd();
    h.kernel = std::move(view);
    h.close = [shared] {};
    return h;
  };
}

Endpoints::Endpoints(kernel::Kernel& host, ipam::Ipam& ipam, const AgentConfig& config,
                     NetnsOpener netns)
    : host_(host), ipam_(ipam), config_(config), netns_(std::move(netns)) {}

std::string Endpoints::host_ifname(const ipam::Key& key) {
  return fmt::format("veth{:08x}", fnv1a(key));
}

const Network* Endpoints::network(const std::string& name) const {
  for (const Network& n : config_.networks)
    if (n.name == name) return &n;
  return nullptr;
}

Expected<int, ApiError> Endpoints::bridge_of(const Network& n) {
  auto br = host_.find_link(bridge_name(n.vni));
  if (!br) return api_error(5, br.error().message);
  if (!*br)
    return api_error(11, "network " + n.name + ": " + bridge_name(n.vni) + " is not there yet");
  return (*br)->index;
}

nlohmann::json Endpoints::result(const ipam::Record& r, const Network& n, uint32_t mtu) const {
  nlohmann::json interfaces = nlohmann::json::array();
  const bool tap = r.kind == ipam::Kind::Tap;
  nlohmann::json host = {{"name", r.host_ifname}};
  if (tap && r.mac) host["mac"] = r.mac->to_string();
  interfaces.push_back(host);
  if (!tap) {
    nlohmann::json inner = {{"name", r.key.ifname}, {"sandbox", r.netns}, {"mtu", mtu}};
    if (r.mac) inner["mac"] = r.mac->to_string();
    interfaces.push_back(inner);
  }
  const int index = tap ? 0 : 1;
  nlohmann::json ips = nlohmann::json::array();
  nlohmann::json routes = nlohmann::json::array();
  for (const IpAddress& ip : r.ips) {
    const auto& gw = ip.is_v4() ? n.gateway : n.gateway6;
    if (!gw) continue;
    ips.push_back({{"address", ip.to_string() + "/" + std::to_string(gw->length)},
                   {"gateway", gw->ip.to_string()},
                   {"interface", index}});
    routes.push_back({{"dst", ip.is_v4() ? "0.0.0.0/0" : "::/0"}, {"gw", gw->ip.to_string()}});
  }
  return {{"cniVersion", "1.0.0"},
          {"interfaces", interfaces},
          {"ips", ips},
          {"routes", routes},
          {"dns", nlohmann::json::object()}};
}

void Endpoints::remove_neighbours(const ipam::Record& r) {
  const Network* n = network(r.key.network);
  if (!n || r.ips.empty()) return;
  auto br = host_.find_link(bridge_name(n->vni));
  if (!br) {
    log::warn("agent: endpoint {}: {}", r.key.container_id, br.error().message);
    return;
  }
  if (*br)
    for (const IpAddress& ip : r.ips)
      (void)host_.delete_neighbour({(*br)->index, ip, r.mac, NUD_PERMANENT, false});
}

Expected<void> Endpoints::remove_port(kernel::Kernel& host, const std::string& host_ifname) {
  // A single-link lookup, not a dump of every link: that grows with the host's attachments.
  auto l = host.find_link(host_ifname);
  if (!l) return unexpected(std::move(l.error()));
  if (*l && (*l)->alias.starts_with(kAliasPrefix)) return host.delete_link((*l)->index);
  return {};
}

void Endpoints::remove_kernel_state(const ipam::Record& r) {
  remove_neighbours(r);
  if (auto d = remove_port(host_, r.host_ifname); !d)
    log::warn("agent: endpoint {}: {}", r.key.container_id, d.error().message);
}

Expected<Endpoints::AddPlan, ApiError> Endpoints::plan_add(const EndpointRequest& req) {
  if (!ready_)
    return api_error(11, "the agent is starting: its networks are not in the kernel yet");
  const Network* n = network(req.key.network);
  if (!n) {
    std::string names;
    for (const Network& x : config_.networks) names += (names.empty() ? "" : ", ") + x.name;
    return api_error(7, "network \"" + req.key.network +
                            "\" is not configured on this node (networks: " +
                            (names.empty() ? "none" : names) + ")");
  }
  if (req.key.container_id.empty()) return api_error(4, "container_id is empty");
  if (auto bad = bad_ifname(req.key.ifname))
    return api_error(4, "ifname \"" + req.key.ifname + "\" " + *bad);
  const bool tap = req.kind == ipam::Kind::Tap;
  if (!tap && req.netns.empty()) return api_error(4, "netns is required for a veth attachment");
  if (tap && !req.netns.empty()) return api_error(4, "a tap attachment has no netns");
  auto br = bridge_of(*n);
  if (!br) return unexpected(br.error());

  ipam::Request ir;
  ir.key = req.key;
  ir.ips = req.ips;
  ir.mac = req.mac;
  ir.netns = req.netns;
  ir.kind = req.kind;
  ir.host_ifname = tap ? req.key.ifname : host_ifname(req.key);
  // A new veth's MAC is chosen here rather than by the kernel, so that the allocation's record is
  // complete when it is first written: one durable write of the state per ADD, not two.
  if (!tap && !ir.mac && !ipam_.find(req.key)) ir.mac = random_mac();
  auto alloc = ipam_.allocate(ir);
  if (!alloc) return api_error(alloc.error().code, alloc.error().message);
  AddPlan plan;
  plan.rec = alloc->record;
  plan.allocated = alloc->record;
  plan.fresh = !alloc->existed;
  plan.network = *n;
  plan.bridge = *br;
  plan.mtu = config_.overlay_mtu;
  plan.netns = req.netns;
  const ipam::Record& rec = plan.rec;

  auto found = host_.find_link(rec.host_ifname);
  if (!found) {
    if (plan.fresh) (void)ipam_.release(rec.key);
    return api_error(5, found.error().message);
  }
  const kernel::Link* existing = *found ? &**found : nullptr;
  if (existing && !existing->alias.starts_with(kAliasPrefix)) {
    if (plan.fresh) (void)ipam_.release(rec.key);
    return api_error(5, "a link named " + rec.host_ifname + " exists and is not the agent's");
  }
  // The same ADD again (a runtime's retry): the same result, when the kernel has it.
  if (!plan.fresh && existing && existing->master == *br && rec.mac)
    plan.done = result(rec, *n, plan.mtu);
  // A half-made attachment: made again.
  if (!plan.done && existing) {
    remove_neighbours(rec);
    plan.remake = true;
  }
  return plan;
}

Expected<Endpoints::Port, ApiError> Endpoints::make_port(kernel::Kernel& host,
                                                         const NetnsOpener& netns,
                                                         const AddPlan& plan) {
  const ipam::Record& rec = plan.rec;
  const Network& n = plan.network;
  // What this call made goes again when it fails.
  auto undo = [&](std::string why) -> Unexpected<ApiError> {
    (void)remove_port(host, rec.host_ifname);
    return api_error(5, std::move(why));
  };
  if (plan.remake)
    if (auto d = remove_port(host, rec.host_ifname); !d) return api_error(5, d.error().message);
  Port port;
  if (rec.kind == ipam::Kind::Tap) {
    if (auto t = kernel::create_tap(rec.host_ifname); !t) return undo(t.error().message);
    auto tl = host.find_link(rec.host_ifname);
    if (!tl) return undo(tl.error().message);
    if (!*tl) return undo("tap " + rec.host_ifname + " vanished");
    port.index = (*tl)->index;
    if (auto a = host.set_link(port.index, {.alias = alias_of(rec.key)}); !a)
      return undo(a.error().message);
    port.mac = rec.mac ? *rec.mac : derived_mac(fnv1a(rec.key));
    return port;
  }
  auto ns = netns(plan.netns);
  if (!ns) return undo(ns.error().message);
  struct Closer {
    NetnsHandle& h;
    ~Closer() { h.close(); }
  } closer{*ns};
  auto made = host.add_link({.name = rec.host_ifname,
                             .kind = "veth",
                             .mtu = plan.mtu,
                             .alias = alias_of(rec.key),
                             .veth_peer = rec.key.ifname,
                             .veth_peer_netns_fd = ns->fd});
  if (!made) return undo(made.error().message);
  port.index = made->index;
  kernel::Kernel& k = *ns->kernel;
  auto inner_link = k.find_link(rec.key.ifname);
  const kernel::Link* inner = inner_link && *inner_link ? &**inner_link : nullptr;
  if (!inner) return undo("interface " + rec.key.ifname + " did not appear in " + plan.netns);
  kernel::LinkChange c;
  c.mtu = plan.mtu;
  c.up = true;
  if (rec.mac) c.mac = *rec.mac;
  auto ok = k.set_link(inner->index, c);
  // The default routes are added, never replaced (NLM_F_EXCL): a route the workload's namespace
  // has already is not ours to take over, and the ADD fails (and is undone) instead.
  std::set<IpFamily> routed;
  for (const IpAddress& ip : rec.ips) {
    if (!ok) break;
    const auto& gw = ip.is_v4() ? n.gateway : n.gateway6;
    if (!gw) continue;
    ok = k.add_address({inner->index, ip, gw->length});
    if (!ok || !routed.insert(ip.family()).second) continue;
    const kernel::Route def{
        .dst = Prefix(any_address(ip.family()), 0), .gateway = gw->ip, .oif = inner->index};
    ok = k.add_route(def);
    if (ok) continue;
    if (auto there = existing_route(k, def))
      return undo("in " + plan.netns + ": " + *there +
                  " is there already; the agent does not replace a workload's routes (" +
                  ok.error().message + ")");
  }
  if (!ok) return undo("in " + plan.netns + ": " + ok.error().message);
  port.mac = rec.mac ? *rec.mac : inner->mac;
  return port;
}

Expected<nlohmann::json, ApiError> Endpoints::finish_add(AddPlan& plan,
                                                         Expected<Port, ApiError> port) {
  ipam::Record& rec = plan.rec;
  auto undo = [&](int code, std::string why) -> Unexpected<ApiError> {
    remove_kernel_state(rec);
    if (port) {
      ipam::Record guarded = rec;
      guarded.mac = port->mac;
      unguard(guarded);
    }
    if (plan.fresh) (void)ipam_.release(rec.key);
    return api_error(code, std::move(why));
  };
  if (!port) {
    // The port's own work undid what it made.
    if (plan.fresh) (void)ipam_.release(rec.key);
    return unexpected(std::move(port.error()));
  }
  // Guarded before it joins the bridge: nothing it sends gets in unchecked.
  const MacAddress mac = port->mac;
  if (auto g = guard(rec, mac); !g) {
    remove_kernel_state(rec);
    if (plan.fresh) (void)ipam_.release(rec.key);
    return unexpected(std::move(g.error()));
  }
  // The host end: a port of the network's bridge; the workload's MAC and IPs known to the bridge
  // at once (the agent advertises them from these entries).
  const int br = plan.bridge;
  if (auto s = host_.set_link(port->index, {.up = true, .mtu = plan.mtu, .master = br}); !s)
    return undo(5, s.error().message);
  // The port does not learn: its workload's MAC is the static entry below, and nothing else it
  // sends may make the bridge (and so EVPN) place another MAC on it.
  if (auto l = host_.set_bridge_port(port->index, {.learning = false}); !l)
    return undo(5, l.error().message);
  if (auto f = host_.add_fdb({.ifindex = port->index, .mac = mac, .master = br}, false); !f)
    return undo(5, f.error().message);
  for (const IpAddress& ip : rec.ips)
    if (auto r = host_.replace_neighbour({br, ip, mac, NUD_PERMANENT, false}); !r)
      return undo(5, r.error().message);
  rec.mac = mac;
  if (rec != plan.allocated)
    if (auto u = ipam_.update(rec); !u) return undo(u.error().code, u.error().message);
  log::info("agent: endpoint {} {} on {}: {} {}", rec.key.container_id, rec.key.ifname,
            rec.key.network, mac.to_string(), rec.ips.empty() ? "" : rec.ips[0].to_string());
  return result(rec, plan.network, plan.mtu);
}

Expected<nlohmann::json, ApiError> Endpoints::add(const EndpointRequest& req) {
  auto plan = plan_add(req);
  if (!plan) return unexpected(std::move(plan.error()));
  if (plan->done) return std::move(*plan->done);
  return finish_add(*plan, make_port(host_, netns_, *plan));
}

void Endpoints::repair_port(const ipam::Record& r, const kernel::Link& event) {
  const uint32_t mtu = config_.overlay_mtu;
  const Network* n = network(r.key.network);
  if (!n) return;  // not configured here any more: gc's to remove
  if (event.up && event.mtu == mtu && event.master != 0 && !(event.port && event.port->learning)) {
    // Up, the right MTU, a port of some bridge: of the network's? (one request, for our ports
    // only)
    auto br = host_.find_link(bridge_name(n->vni));
    if (!br || !*br || (*br)->index == event.master) return;
  }
  // The event may be old (the ADD that made the link changed it since): what the link is now.
  auto now = host_.find_link(r.host_ifname);
  auto br = host_.find_link(bridge_name(n->vni));
  if (!now || !*now || (*now)->index != event.index || !br || !*br) return;
  const kernel::Link& l = **now;
  const int bridge = (*br)->index;
  kernel::LinkChange c;
  std::string what;
  if (!l.up) {
    c.up = true;
    what = "was set down";
  }
  if (l.mtu != mtu) {
    c.mtu = mtu;
    what += fmt::format("{}had MTU {}", what.empty() ? "" : ", ", l.mtu);
  }
  if (l.master != bridge) {
    c.master = bridge;
    what += fmt::format("{}was taken off {}", what.empty() ? "" : ", ", bridge_name(n->vni));
  }
  // Joining the bridge again turns learning on: off again, as when someone turned it on.
  const bool learning = c.master || !l.port || l.port->learning;
  if (learning && !c.master) what += fmt::format("{}learned", what.empty() ? "" : ", ");
  if (what.empty()) return;
  const bool link_changes = c.up || c.mtu || c.master;
  if (auto ok = link_changes ? host_.set_link(l.index, c) : Expected<void>{}; !ok) {
    log::warn("agent: endpoint {} {}: {} {}: {}", r.key.container_id, r.key.ifname, r.host_ifname,
              what, ok.error().message);
    return;
  }
  if (learning)
    if (auto ok = host_.set_bridge_port(l.index, {.learning = false}); !ok)
      log::warn("agent: endpoint {} {}: {}", r.key.container_id, r.key.ifname, ok.error().message);
  // Leaving the bridge took the workload's FDB entry with it.
  if (c.master && r.mac)
    if (auto f = host_.add_fdb({.ifindex = l.index, .mac = *r.mac, .master = bridge}, false); !f)
      log::warn("agent: endpoint {} {}: {}", r.key.container_id, r.key.ifname, f.error().message);
  log::info("agent: endpoint {} {} on {}: {} {}: repaired", r.key.container_id, r.key.ifname,
            r.key.network, r.host_ifname, what);
}

void Endpoints::on_event(const kernel::Event& event) {
  const auto* l = std::get_if<kernel::LinkEvent>(&event);
  if (!l) return;
  if (!l->removed) {
    // A port the agent made for a workload, changed behind its back: put back.
    if (!ready_) return;
    for (const auto& [key, rec] : ipam_.records())
      if (rec.host_ifname == l->link.name) {
        if (busy_.contains(key)) return;  // its add or del is at work on it
        const ipam::Record r = rec;
        repair_port(r, l->link);
        return;
      }
    return;
  }
  const ipam::Record* r = nullptr;
  for (const auto& [key, rec] : ipam_.records())
    if (rec.host_ifname == l->link.name) r = &rec;
  if (!r || busy_.contains(r->key)) return;
  // Not when a link of that name is there now: an ADD made it again after removing a
  // half-made one, and this is the old one's event.
  auto links = host_.links();
  if (!links || by_name(*links, l->link.name)) return;
  const ipam::Record gone = *r;
  remove_kernel_state(gone);
  if (auto released = ipam_.release(gone.key); !released) {
    log::warn("agent: endpoint {} {}: {}", gone.key.container_id, gone.key.ifname,
              released.error().message);
    return;
  }
  log::info("agent: endpoint {} {} on {}: {} went away without a DEL; its addresses are released",
            gone.key.container_id, gone.key.ifname, gone.key.network, gone.host_ifname);
}

ipam::Record Endpoints::plan_del(const ipam::Key& key) {
  if (const ipam::Record* r = ipam_.find(key)) {
    remove_neighbours(*r);
    unguard(*r);
    return *r;
  }
  // Not ours on record: a host end left by an ADD that failed half-way still goes.
  ipam::Record leftover;
  leftover.key = key;
  leftover.host_ifname = host_ifname(key);
  return leftover;
}

Expected<void, ApiError> Endpoints::finish_del(const ipam::Record& r, Expected<void> removed) {
  if (!removed) log::warn("agent: endpoint {}: {}", r.key.container_id, removed.error().message);
  if (!ipam_.find(r.key)) return {};
  auto gone = ipam_.release(r.key);
  if (!gone) return api_error(gone.error().code, gone.error().message);
  log::info("agent: endpoint {} {} on {} removed", r.key.container_id, r.key.ifname, r.key.network);
  return {};
}

Expected<void, ApiError> Endpoints::guard(const ipam::Record& r, const MacAddress& mac) {
  if (!guard_) return {};
  auto commands = port_guard_add({r.host_ifname, mac, r.ips});
  if (!commands) return api_error(4, commands.error().message);
  if (auto ok = guard_->apply(kPortGuardTable, *commands, "guard " + r.host_ifname); !ok)
    return api_error(5, ok.error().message);
  return {};
}

void Endpoints::unguard(const ipam::Record& r) {
  if (!guard_ || !r.mac) return;
  auto commands = port_guard_delete({r.host_ifname, *r.mac, r.ips});
  if (!commands) return;
  if (guard_->apply(kPortGuardTable, *commands, "unguard " + r.host_ifname)) return;
  // Some element was not there (the table was made again meanwhile): the table from the records
  // instead, without this one.
  std::vector<GuardedPort> ports;
  for (const auto& [key, rec] : ipam_.records())
    if (key != r.key && rec.mac) ports.push_back({rec.host_ifname, *rec.mac, rec.ips});
  auto body = port_guard_ruleset(ports);
  if (!body) return;
  if (auto ok = guard_->replace_table(kPortGuardTable, *body); !ok)
    log::warn("agent: port security: {}", ok.error().message);
}

Expected<void> Endpoints::guard_all() {
  if (!guard_) return {};
  std::vector<GuardedPort> ports;
  for (const auto& [key, rec] : ipam_.records()) {
    if (!rec.mac) continue;
    GuardedPort p{rec.host_ifname, *rec.mac, rec.ips};
    if (auto one = port_guard_add(p); !one) {
      log::warn("agent: endpoint {} {}: {}: not guarded", key.container_id, key.ifname,
                one.error().message);
      continue;
    }
    ports.push_back(std::move(p));
  }
  auto body = port_guard_ruleset(ports);
  if (!body) return unexpected(std::move(body.error()));
  return guard_->replace_table(kPortGuardTable, *body);
}

Expected<void, ApiError> Endpoints::del(const ipam::Key& key) {
  const ipam::Record r = plan_del(key);
  return finish_del(r, remove_port(host_, r.host_ifname));
}

Expected<void, ApiError> Endpoints::check(const ipam::Key& key, const std::string& netns,
                                          const nlohmann::json& prev_result) {
  const ipam::Record* r = ipam_.find(key);
  if (!r)
    return api_error(3,
                     "no attachment " + key.container_id + " " + key.ifname + " on " + key.network);
  const Network* n = network(key.network);
  if (!n) return api_error(7, "network \"" + key.network + "\" is not configured on this node");
  auto br = bridge_of(*n);
  if (!br) return unexpected(br.error());
  auto found = host_.find_link(r->host_ifname);
  if (!found) return api_error(5, found.error().message);
  const kernel::Link* host = *found ? &**found : nullptr;
  if (!host) return api_error(102, "the host end " + r->host_ifname + " is missing");
  if (host->master != *br)
    return api_error(102, r->host_ifname + " is not a port of " + bridge_name(n->vni));
  // The runtime's result: an address it says our interface has that the attachment does not.
  if (prev_result.is_object() && prev_result.contains("ips") && prev_result["ips"].is_array()) {
    // What the runtime hands us is checked, never assumed: a field of another type is not ours.
    const nlohmann::json none = nlohmann::json::array();
    const auto found_ifs = prev_result.find("interfaces");
    const nlohmann::json& ifs =
        found_ifs != prev_result.end() && found_ifs->is_array() ? *found_ifs : none;
    auto names_ours = [&](size_t idx) {
      if (idx >= ifs.size() || !ifs[idx].is_object()) return false;
      const auto name = ifs[idx].find("name");
      return name != ifs[idx].end() && name->is_string() && name->get<std::string>() == key.ifname;
    };
    for (const auto& x : prev_result["ips"]) {
      if (!x.is_object() || !x.contains("address") || !x["address"].is_string()) continue;
      if (x.contains("interface") && x["interface"].is_number_unsigned() &&
          !names_ours(x["interface"].get<size_t>()))
        continue;  // another plugin's interface
      std::string text = x["address"].get<std::string>();
      if (auto slash = text.find('/'); slash != std::string::npos) text.resize(slash);
      auto a = IpAddress::parse(text);
      if (a && std::find(r->ips.begin(), r->ips.end(), *a) == r->ips.end())
        return api_error(102, "the result has " + a->to_string() + ", which " + key.ifname +
                                  " of this attachment does not");
    }
  }
  if (r->kind == ipam::Kind::Tap) return {};
  auto ns = netns_(netns.empty() ? r->netns : netns);
  if (!ns) return api_error(5, ns.error().message);
  auto done = [&](std::optional<std::string> why) -> Expected<void, ApiError> {
    ns->close();
    if (why) return api_error(102, *why);
    return {};
  };
  auto inner_links = ns->kernel->links();
  if (!inner_links) return done(inner_links.error().message);
  const kernel::Link* inner = by_name(*inner_links, key.ifname);
  if (!inner) return done("interface " + key.ifname + " is missing in the container");
  if (r->mac && inner->mac != *r->mac)
    return done(key.ifname + " has MAC " + inner->mac.to_string() + ", not " + r->mac->to_string());
  if (inner->mtu != config_.overlay_mtu)
    return done(key.ifname + " has MTU " + std::to_string(inner->mtu) + ", not " +
                std::to_string(config_.overlay_mtu));
  auto addrs = ns->kernel->addresses();
  if (!addrs) return done(addrs.error().message);
  auto routes = ns->kernel->routes(254);
  if (!routes) return done(routes.error().message);
  for (const IpAddress& ip : r->ips) {
    const auto& gw = ip.is_v4() ? n->gateway : n->gateway6;
    if (!gw) continue;
    const kernel::Address want{inner->index, ip, gw->length};
    if (std::find(addrs->begin(), addrs->end(), want) == addrs->end())
      return done(key.ifname + " lacks its address " + want.to_string());
    const bool has_default = std::any_of(routes->begin(), routes->end(), [&](const auto& rt) {
      return rt.dst.length() == 0 && rt.dst.family() == ip.family() && rt.gateway == gw->ip;
    });
    if (!has_default) return done("no default route via " + gw->ip.to_string());
  }
  return done(std::nullopt);
}

Expected<std::vector<ipam::Record>, ApiError> Endpoints::gc(
    const std::string& network_name, const std::set<std::pair<std::string, std::string>>& valid) {
  // An attachment being added or removed is not garbage: its request decides.
  std::set<std::pair<std::string, std::string>> keep = valid;
  for (const auto& [key, waiting] : busy_)
    if (key.network == network_name) keep.emplace(key.container_id, key.ifname);
  auto removed = ipam_.gc(network_name, keep);
  if (!removed) return api_error(removed.error().code, removed.error().message);
  for (const ipam::Record& r : *removed) remove_kernel_state(r);
  return std::move(*removed);
}

Expected<void, ApiError> Endpoints::status(const std::string& network_name) {
  if (!ready_) return api_error(50, "the agent is starting");
  const Network* n = network(network_name);
  if (!n) return api_error(50, "network \"" + network_name + "\" is not configured on this node");
  if (auto br = bridge_of(*n); !br) return api_error(50, br.error().message);
  return {};
}

nlohmann::json Endpoints::list() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [key, r] : ipam_.records()) {
    nlohmann::json ips = nlohmann::json::array();
    for (const IpAddress& ip : r.ips) ips.push_back(ip.to_string());
    out.push_back({{"network", key.network},
                   {"container_id", key.container_id},
                   {"ifname", key.ifname},
                   {"kind", std::string(ipam::kind_name(r.kind))},
                   {"netns", r.netns},
                   {"host_ifname", r.host_ifname},
                   {"mac", r.mac ? r.mac->to_string() : ""},
                   {"ips", ips}});
  }
  return {{"endpoints", out}};
}

Expected<ApiRequest, ApiError> parse_api_request(const nlohmann::json& req) {
  if (!req.is_object()) return api_error(6, "malformed request: not a JSON object");
  // Reads a string field into `out`; the error when it is missing (and required) or no string.
  auto str = [&](const char* field, bool required, std::string& out) -> std::optional<ApiError> {
    auto it = req.find(field);
    if (it == req.end() || it->is_null()) {
      if (required) return ApiError{4, std::string("\"") + field + "\" is missing"};
      return std::nullopt;
    }
    if (!it->is_string()) return ApiError{6, std::string("\"") + field + "\" must be a string"};
    out = it->get<std::string>();
    return std::nullopt;
  };
  ApiRequest r;
  if (auto e = str("op", true, r.op)) return unexpected(std::move(*e));
  if (r.op == "version" || r.op == "list") return r;
  ipam::Key& key = r.endpoint.key;
  if (auto e = str("network", true, key.network)) return unexpected(std::move(*e));
  if (r.op == "status") return r;
  if (r.op == "gc") {
    auto it = req.find("valid");
    if (it != req.end() && !it->is_null()) {
      if (!it->is_array()) return api_error(6, "\"valid\" must be an array");
      for (const auto& v : *it) {
        if (!v.is_object() || !v.contains("container_id") || !v["container_id"].is_string() ||
            !v.contains("ifname") || !v["ifname"].is_string())
          return api_error(6, "each of \"valid\" needs string container_id and ifname");
        r.valid.emplace(v["container_id"].get<std::string>(), v["ifname"].get<std::string>());
      }
    }
    return r;
  }
  if (auto e = str("container_id", true, key.container_id)) return unexpected(std::move(*e));
  if (auto e = str("ifname", true, key.ifname)) return unexpected(std::move(*e));
  if (auto e = str("netns", false, r.endpoint.netns)) return unexpected(std::move(*e));
  if (r.op == "del") return r;
  if (r.op == "check") {
    r.prev_result = req.value("prev_result", nlohmann::json());
    return r;
  }
  if (r.op != "add")
    return api_error(4, "unknown op \"" + r.op + "\" (version, add, del, check, gc, status, list)");
  std::string kind = "veth";
  if (auto e = str("kind", false, kind)) return unexpected(std::move(*e));
  if (kind == "tap")
    r.endpoint.kind = ipam::Kind::Tap;
  else if (kind != "veth")
    return api_error(4, "kind \"" + kind + "\" is neither veth nor tap");
  std::string mac;
  if (auto e = str("mac", false, mac)) return unexpected(std::move(*e));
  if (!mac.empty()) {
    auto m = MacAddress::parse(mac);
    if (!m || (m->bytes[0] & 1))
      return api_error(7, "mac \"" + mac + "\" is not a unicast MAC address");
    r.endpoint.mac = *m;
  }
  auto ips = req.find("ips");
  if (ips != req.end() && !ips->is_null()) {
    if (!ips->is_array()) return api_error(6, "\"ips\" must be an array of strings");
    for (const auto& v : *ips) {
      if (!v.is_string()) return api_error(6, "\"ips\" must be an array of strings");
      std::string text = v.get<std::string>();
      if (auto slash = text.find('/'); slash != std::string::npos) text.resize(slash);
      auto ip = IpAddress::parse(text);
      if (!ip) return api_error(7, "\"" + v.get<std::string>() + "\" is not an IP address");
      r.endpoint.ips.push_back(*ip);
    }
  }
  return r;
}

nlohmann::json Endpoints::handle(const nlohmann::json& request) {
  auto error = [](const ApiError& e) {
    return nlohmann::json{{"ok", false}, {"code", e.code}, {"error", e.message}};
  };
  auto ok = [](nlohmann::json result) {
    return nlohmann::json{{"ok", true}, {"result", std::move(result)}};
  };
  auto req = parse_api_request(request);
  if (!req) return error(req.error());
  const std::string& op = req->op;
  const ipam::Key& key = req->endpoint.key;
  if ((op == "add" || op == "del" || op == "check") && busy_.contains(key))
    return error({11, "a request for this attachment is being served: try again when it is done"});
  if (op == "version") return ok({{"api", 1}, {"isthmusd", "0.1.0"}});
  if (op == "list") return ok(list());
  if (op == "status") {
    auto s = status(key.network);
    return s ? ok(nlohmann::json::object()) : error(s.error());
  }
  if (op == "gc") {
    auto removed = gc(key.network, req->valid);
    if (!removed) return error(removed.error());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : *removed)
      out.push_back({{"container_id", r.key.container_id}, {"ifname", r.key.ifname}});
    return ok({{"removed", out}});
  }
  if (op == "del") {
    auto d = del(key);
    return d ? ok(nlohmann::json::object()) : error(d.error());
  }
  if (op == "check") {
    auto c = check(key, req->endpoint.netns, req->prev_result);
    return c ? ok(nlohmann::json::object()) : error(c.error());
  }
  auto a = add(req->endpoint);
  return a ? ok(std::move(*a)) : error(a.error());
}

// ---- Serving requests concurrently ------------------------------------------------------------

template <typename T>
void Endpoints::offload(std::function<T(kernel::Kernel&)> work, std::function<void(T)> then) {
  if (!pool_) return then(work(host_));
  auto out = std::make_shared<std::optional<T>>();
  pool_->run([out, work = std::move(work)](kernel::Kernel& host) { out->emplace(work(host)); },
             [out, then = std::move(then), alive = std::weak_ptr<int>(alive_)] {
               if (alive.lock() && *out) then(std::move(**out));
             });
}

void Endpoints::handle(const nlohmann::json& request, Reply reply) {
  auto req = parse_api_request(request);
  if (!req || (req->op != "add" && req->op != "del" && req->op != "check"))
    return reply(handle(request));
  const ipam::Key key = req->endpoint.key;
  auto turn = [this, r = std::move(*req), reply = std::move(reply)]() mutable {
    serve(std::move(r), std::move(reply));
  };
  auto [it, idle] = busy_.try_emplace(key);
  if (!idle) {
    it->second.push_back(std::move(turn));
    return;
  }
  turn();
}

void Endpoints::next(const ipam::Key& key) {
  auto it = busy_.find(key);
  if (it == busy_.end()) return;
  if (it->second.empty()) {
    busy_.erase(it);
    return;
  }
  auto turn = std::move(it->second.front());
  it->second.pop_front();
  turn();
}

void Endpoints::serve(ApiRequest req, Reply reply) {
  const ipam::Key key = req.endpoint.key;
  // Answers, then lets the attachment's next request have its turn.
  auto answer = [this, key, reply = std::move(reply)](nlohmann::json response) {
    reply(std::move(response));
    next(key);
  };
  auto error = [](const ApiError& e) {
    return nlohmann::json{{"ok", false}, {"code", e.code}, {"error", e.message}};
  };
  auto ok = [](nlohmann::json result) {
    return nlohmann::json{{"ok", true}, {"result", std::move(result)}};
  };
  if (req.op == "check") {
    auto c = check(key, req.endpoint.netns, req.prev_result);
    return answer(c ? ok(nlohmann::json::object()) : error(c.error()));
  }
  if (req.op == "del") {
    ipam::Record r = plan_del(key);
    const std::string name = r.host_ifname;
    return offload<Expected<void>>(
        [name](kernel::Kernel& host) { return remove_port(host, name); },
        [this, r = std::move(r), answer, ok, error](Expected<void> removed) {
          auto d = finish_del(r, std::move(removed));
          answer(d ? ok(nlohmann::json::object()) : error(d.error()));
        });
  }
  auto plan = plan_add(req.endpoint);
  if (!plan) return answer(error(plan.error()));
  if (plan->done) return answer(ok(std::move(*plan->done)));
  auto shared = std::make_shared<AddPlan>(std::move(*plan));
  offload<Expected<Port, ApiError>>(
      [shared, netns = netns_](kernel::Kernel& host) { return make_port(host, netns, *shared); },
      [this, shared, answer, ok, error](Expected<Port, ApiError> port) {
        auto a = finish_add(*shared, std::move(port));
        answer(a ? ok(std::move(*a)) : error(a.error()));
      });
}

namespace {

// Threads that each own an rtnetlink socket of the host's namespace.
class ThreadPool final : public KernelPool {
 public:
  ThreadPool(EventLoop& loop, std::vector<std::unique_ptr<kernel::Kernel>> kernels) : loop_(loop) {
    for (auto& k : kernels)
      threads_.emplace_back(
          [this, k = std::shared_ptr<kernel::Kernel>(std::move(k))] { main(*k); });
  }
  ~ThreadPool() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void run(std::function<void(kernel::Kernel&)> work, std::function<void()> done) override {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back({std::move(work), std::move(done)});
    }
    wake_.notify_one();
  }

 private:
  struct Job {
    std::function<void(kernel::Kernel&)> work;
    std::function<void()> done;
  };
  void main(kernel::Kernel& host) {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job.work(host);
      loop_.post(std::move(job.done));
    }
  }

  EventLoop& loop_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: started once the rest is there
};

}  // namespace

Expected<std::unique_ptr<KernelPool>> thread_pool(EventLoop& loop, size_t threads) {
  std::vector<std::unique_ptr<kernel::Kernel>> kernels;
  for (size_t i = 0; i < threads; ++i) {
    auto k = kernel::NetlinkKernel::open();
    if (!k) return unexpected(std::move(k.error()));
    kernels.push_back(std::move(*k));
  }
  return std::unique_ptr<KernelPool>(new ThreadPool(loop, std::move(kernels)));
}

}  // namespace isthmus::agent
