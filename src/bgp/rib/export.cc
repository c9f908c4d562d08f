// Export rules (see export.h).
#include "bgp/rib/export.h"

#include <algorithm>

namespace isthmus::bgp {
namespace {

bool has_community(const PathAttributes& a, Community c) {
  return std::find(a.communities.begin(), a.communities.end(), c) != a.communities.end();
}

// Our address of the family's kind: the session's own, or the other-family address of the same
// interface (RFC 2545 §3 for IPv6 routes on an IPv4 session). None: the route cannot be sent.
std::optional<IpAddress> self_next_hop(const ExportTarget& to, Family family) {
  bool v6 = family.afi == Afi::Ipv6;
  if (to.local_address.is_v6() == v6) return to.local_address;
  return v6 ? to.local_address_v6 : to.local_address_v4;
}

bool set_next_hop_self(const ExportTarget& to, Family family, PathAttributes& attrs) {
  auto nh = self_next_hop(to, family);
  if (!nh) return false;
  attrs.next_hop = *nh;
  attrs.link_local_next_hop.reset();
  // RFC 2545 §3: to a peer that shares our link, a global IPv6 next hop of ours goes with our
  // link-local address on that link (a 32-octet MP_REACH next hop). The target has one only
  // when its session is single-hop (see PeerInfo::local_link_local).
  if (family.afi == Afi::Ipv6 && to.local_link_local && nh->is_v6() && !nh->is_link_local())
    attrs.link_local_next_hop = to.local_link_local;
  return true;
}

}  // namespace

bool resolve_self_next_hop(const ExportTarget& to, Family family, PathAttributes& attrs) {
  return !attrs.next_hop.is_unspecified() || set_next_hop_self(to, family, attrs);
}

bool export_rewrite(const ExportSource& from, const ExportTarget& to, Family family,
                    PathAttributes& attrs) {
  // RFC 1997: NO_ADVERTISE - "MUST NOT be advertised to other BGP peers".
  if (has_community(attrs, kNoAdvertise)) return false;

  if (!to.ibgp) {
    // RFC 1997: NO_EXPORT - not outside the AS. No confederations here, so NO_EXPORT_SUBCONFED
    // ("not to external peers") means the same.
    if (has_community(attrs, kNoExport) || has_community(attrs, kNoExportSubconfed)) return false;
    // Sender-side loop check: the peer would drop a path that already holds its AS
    // (RFC 4271 §9.1.2); not sending it saves both sides the work.
    if (to.remote_as != 0 && attrs.as_path.contains(to.remote_as)) return false;
    // RFC 4271 §5.1.2 b: prepend our AS.
    attrs.as_path.prepend(to.local_as);
    // RFC 4271 §5.1.3: to an external peer the next hop is ours (no third-party next hop).
    // Except for EVPN: its next hop is the VTEP the traffic is tunnelled to (RFC 8365 §5.1.3),
    // which a BGP speaker in between (a route server, a spine) must not replace with itself;
    // FRR keeps it unchanged as well. A local route with no next hop gets ours.
    if ((family != kL2vpnEvpn || attrs.next_hop.is_unspecified()) &&
        !set_next_hop_self(to, family, attrs))
      return false;
    // RFC 4271 §5.1.4: a MED received from a neighbouring AS is not passed to another one.
    // A MED set locally (local route, or by our policy on an iBGP-learned route) goes out.
    if (from.peer != kLocalPeer && !from.ibgp) attrs.med.reset();
    // RFC 4271 §5.1.5: LOCAL_PREF is never sent to external peers; RFC 4456 §8: neither are
    // ORIGINATOR_ID and CLUSTER_LIST.
    attrs.local_pref.reset();
    attrs.originator_id.reset();
    attrs.cluster_list.clear();
    return true;
  }

  // To iBGP. RFC 5065 confederation rules are not implemented.
  if (from.ibgp) {
    // RFC 4271 §9.2: routes learned from iBGP are not sent to other iBGP peers, unless we
    // reflect (RFC 4456 §6): from a client to clients and non-clients; from a non-client to
    // clients only.
    if (!from.rr_client && !to.rr_client) return false;
    // RFC 4456 §8: ORIGINATOR_ID names the route's originator in the local AS, set by the first
    // reflector; each reflector prepends its CLUSTER_ID to CLUSTER_LIST.
    if (!attrs.originator_id) attrs.originator_id = from.router_id;
    attrs.cluster_list.insert(attrs.cluster_list.begin(), to.cluster_id);
    // A reflector does not change the next hop (RFC 4456 §10); fill it only if missing.
    if (attrs.next_hop.is_unspecified() && !set_next_hop_self(to, family, attrs)) return false;
  } else {
    // Local or eBGP-learned: next hop self when configured, and always for local routes whose
    // next hop is unspecified ("this speaker").
    if ((to.next_hop_self || attrs.next_hop.is_unspecified()) &&
        !set_next_hop_self(to, family, attrs))
      return false;
  }
  // RFC 4684 §3.2: "When advertising RT membership NLRI to a route-reflector client, the
  // Originator attribute shall be set to the router-id of the advertiser, and the Next-hop
  // attribute shall be set of the local address for that session." The client then takes a
  // membership of its own that comes back (as it must, see Rib) for ours, not for a loop.
  if (family == kIpv4RouteTarget && to.rr_client) {
    if (!set_next_hop_self(to, family, attrs)) return false;
    attrs.originator_id = to.router_id;
  }
  // RFC 4271 §5.1.5: LOCAL_PREF is included in every UPDATE sent to an internal peer.
  attrs.local_pref = effective_local_pref(attrs);
  return true;
}

}  // namespace isthmus::bgp
