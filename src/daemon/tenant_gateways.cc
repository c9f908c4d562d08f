#include "daemon/tenant_gateways.h"

#include "core/log.h"

namespace isthmus::daemon {

namespace {

bgp::Family family_of(const Prefix& p) {
  return p.family() == IpFamily::V4 ? bgp::kIpv4Unicast : bgp::kIpv6Unicast;
}

// A route of ours into a VRF's table: IGP origin, our address as next hop (filled per session).
bgp::PathAttributes own_attributes(const Prefix& p, const bgp::AsPath& as_path = {}) {
  bgp::PathAttributes a;
  a.origin = bgp::Origin::Igp;
  a.as_path = as_path;
  a.next_hop = p.family() == IpFamily::V4 ? IpAddress::v4(0u) : IpAddress::v6({});
  return a;
}

}  // namespace

TenantGateways::TenantGateways(bgp::Speaker& speaker, evpn::Instance& evpn,
                               const config::Config& cfg)
    : speaker_(speaker), evpn_(evpn) {
  for (const config::Neighbor& nb : cfg.bgp.neighbors)
    if (!nb.vrf.empty()) interface_[nb.address] = nb.interface;
  for (const auto& [name, rib] : speaker.vrf_ribs()) {
    const config::Vrf* vc = cfg.find_vrf(name);
    if (!vc) continue;  // the configuration refuses this
    Vrf v{name, vc->l3vni, rib.get(), {}, {}};
    if (const evpn::IpVrf* ip = evpn.find_ip_vrf(vc->l3vni))
      v.subnets.insert(ip->subnets.begin(), ip->subnets.end());
    for (const Prefix& p : v.subnets) v.rib->originate(family_of(p), p, own_attributes(p));
    const size_t index = vrfs_.size();
    v.rib->set_best_changed(
        [this, index](bgp::Family, const Prefix& p, const bgp::Path*) { changed(index, p); });
    vrfs_.push_back(std::move(v));
  }
  if (!vrfs_.empty()) speaker.request_flush();
}

TenantGateways::~TenantGateways() {
  for (Vrf& v : vrfs_) v.rib->set_best_changed({});
}

void TenantGateways::set_agent(agent::Agent* agent) {
  agent_ = agent;
  if (!agent_) return;
  for (Vrf& v : vrfs_)
    for (const Prefix& prefix : std::set<Prefix>(v.gateway)) apply(v, prefix);
}

void TenantGateways::remote_prefix(uint32_t l3vni, const Prefix& prefix,
                                   const std::vector<evpn::RemotePrefix>& remote) {
  const IpAddress* vtep = nullptr;
  if (const auto& c = evpn_.config(); c.vtep) vtep = &*c.vtep;
  for (Vrf& v : vrfs_) {
    if (v.l3vni != l3vni) continue;
    const evpn::RemotePrefix* use = nullptr;
    for (const evpn::RemotePrefix& r : remote)
      if (!r.host && r.unusable.empty() && r.router_mac && (!vtep || r.vtep != *vtep)) {
        use = &r;
        break;
      }
    if (use)
      v.rib->import(family_of(prefix), prefix, own_attributes(prefix, use->as_path));
    else
      v.rib->withdraw_imported(family_of(prefix), prefix);
    speaker_.request_flush();
  }
}

void TenantGateways::changed(size_t vrf, const Prefix& prefix) {
  pending_.insert({vrf, prefix});
  if (posted_) return;
  posted_ = true;
  speaker_.loop().post([this] { run(); });
}

void TenantGateways::run() {
  posted_ = false;
  auto pending = std::move(pending_);
  pending_.clear();
  for (const auto& [index, prefix] : pending) apply(vrfs_[index], prefix);
}

void TenantGateways::apply(Vrf& v, const Prefix& prefix) {
  const bgp::PathView* best = nullptr;
  const auto paths = v.rib->lookup(family_of(prefix), prefix);
  for (const bgp::PathView& p : paths)
    if (p.best && p.attrs) best = &p;
  const bgp::Peer* peer = nullptr;
  if (best && best->peer != bgp::kLocalPeer && best->peer != bgp::kImportedPeer) {
    auto it = speaker_.peers().find(best->peer);
    if (it != speaker_.peers().end()) peer = it->second.get();
  }
  const bool gateway = peer != nullptr;
  if (gateway)
    v.gateway.insert(prefix);
  else if (v.gateway.erase(prefix) == 0)
    return;  // neither now nor before
  const bool subnet = v.subnets.contains(prefix);
  if (gateway) {
    const bgp::PathAttributes& a = *best->attrs;
    auto iface = interface_.find(peer->config().address);
    if (agent_ && iface != interface_.end())
      agent_->set_gateway_route(v.l3vni, prefix,
                                agent::GatewayRoute{prefix, a.next_hop, iface->second});
    if (!subnet)
      if (auto r = evpn_.add_prefix(v.l3vni, prefix, a.as_path); !r)
        log::warn("tenant {}: {} from gateway {}: not advertised as type 5: {}", v.name,
                  prefix.to_string(), peer->config().address.to_string(), r.error().message);
  } else {
    if (agent_) agent_->set_gateway_route(v.l3vni, prefix, std::nullopt);
    if (!subnet) (void)evpn_.remove_prefix(v.l3vni, prefix);
  }
}

}  // namespace isthmus::daemon
