// Memory per route of Adj-RIB-In + Loc-RIB (and of one update group's Adj-RIB-Out) for a large
// table, measured with mallinfo2() around the load. Not a test; run by hand:
//   bgp_rib_bench [routes=1000000] [peers=1] [attribute sets=5000]
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bgp/rib/rib.h"
#include "bgp/rib/test_encoder.h"
#include "core/log.h"

namespace isthmus::bgp {
namespace {

// Allocated bytes, including large blocks that malloc maps directly (pages of RouteTable).
size_t heap_in_use() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

constexpr size_t kMaxRoutes = size_t{1} << 22;  // the /32s of 100.64.0.0/10

int run(size_t routes, uint32_t peers, size_t attr_sets) {
  if (routes > kMaxRoutes) {
    std::fprintf(stderr, "bgp_rib_bench: at most %zu routes (the host routes of 100.64.0.0/10)\n",
                 kMaxRoutes);
    return 2;
  }
  log::set_level(log::Level::Warn);
  testing::FakeEncoder enc;
  RibConfig config;
  config.local_as = 65000;
  config.router_id = 0xc61200fe;  // 198.18.0.254
  config.encoder = &enc;
  Rib rib(config);

  auto peer = [](PeerId id) {
    PeerInfo p;
    p.id = id;
    p.address = IpAddress::v4(0xc6120000 + id);  // 198.18.0.<id>
    p.remote_as = 65000;
    p.router_id = 0xc6120000 + id;
    p.ibgp = true;
    p.rr_client = true;
    p.local_address = IpAddress::v4(0xc61200fe);
    p.families = {kIpv4Unicast};
    return p;
  };
  std::vector<uint8_t> out;
  auto drain = [&](PeerId id) {
    while (rib.has_output(id)) {
      out.clear();
      if (rib.take_output(id, out, 1 << 16) == 0) break;
    }
  };
  // Peers 1..peers are iBGP route sources; they all send the same prefixes. Their export policy
  // rejects everything so that the first measurement holds Adj-RIB-In + Loc-RIB only.
  for (PeerId id = 1; id <= peers; ++id) {
    PeerInfo p = peer(id);
    p.export_policy = [](const Prefix&, PathAttributes&) { return false; };
    p.export_policy_id = "reject";
    rib.peer_up(p);
  }

  std::vector<PathAttributes> sets(attr_sets);
  for (size_t i = 0; i < attr_sets; ++i) {
    sets[i].origin = Origin::Igp;
    sets[i].as_path.segments.push_back(
        {AsPathSegment::Type::Sequence, {65001, static_cast<uint32_t>(64512 + i % 1000)}});
    sets[i].next_hop = IpAddress::v4(0xc6120101);  // 198.18.1.1
    sets[i].med = static_cast<uint32_t>(i);
    sets[i].communities = {0xfde80001, static_cast<uint32_t>(i)};
  }
  // Host routes in 100.64.0.0/10 (the test address space): up to kMaxRoutes distinct prefixes.
  std::vector<Prefix> prefixes;
  prefixes.reserve(routes);
  for (size_t i = 0; i < routes; ++i)
    prefixes.emplace_back(IpAddress::v4(0x64400000 + static_cast<uint32_t>(i)), 32);
  const size_t base = heap_in_use();
  auto t0 = std::chrono::steady_clock::now();

  constexpr size_t kBatch = 100;  // prefixes per UPDATE
  for (PeerId id = 1; id <= peers; ++id) {
    for (size_t i = 0; i < routes; i += kBatch) {
      const size_t n = std::min(kBatch, routes - i);
      rib.update(id, kIpv4Unicast, std::span(prefixes).subspan(i, n),
                 sets[(i / kBatch + id) % attr_sets]);
    }
    rib.flush();
  }
  for (PeerId id = 1; id <= peers; ++id) drain(id);
  out.shrink_to_fit();
  const double load_s = seconds_since(t0);
  const size_t in_rib = heap_in_use() - base;
  const RibStats s = rib.stats();

  // One more peer in a group of its own: its Adj-RIB-Out, once the dump has been pulled.
  t0 = std::chrono::steady_clock::now();
  rib.peer_up(peer(1000));
  drain(1000);
  out.shrink_to_fit();
  const double export_s = seconds_since(t0);
  const size_t with_out = heap_in_use() - base;

  std::printf("routes %zu, peers %u, attribute sets %zu (interned: %zu, %zu bytes)\n", routes,
              peers, attr_sets, s.attr_sets, s.attr_bytes);
  std::printf("Adj-RIB-In + Loc-RIB: %zu bytes = %.1f bytes per route per peer (%.2f s load)\n",
              in_rib, static_cast<double>(in_rib) / static_cast<double>(routes * peers), load_s);
  std::printf(
      "+ one update group's Adj-RIB-Out: %zu bytes = %.1f per prefix "
      "(%.2f s export+encode+pull)\n",
      with_out - in_rib, static_cast<double>(with_out - in_rib) / static_cast<double>(routes),
      export_s);
  return 0;
}

}  // namespace
}  // namespace isthmus::bgp

int main(int argc, char** argv) {
  const size_t routes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const uint32_t peers = argc > 2 ? static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 10)) : 1;
  const size_t sets = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 5000;
  return isthmus::bgp::run(routes, peers, sets);
}
