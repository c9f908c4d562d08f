// isthmusd: the Isthmus daemon. Reads the YAML configuration and runs the roles it names on one
// event loop: the BGP speaker / route reflector, EVPN, and the node agent (the virtual networks in
// the kernel, and the endpoint API that isthmus-cni and isthmusctl endpoint use), with a control
// socket for isthmusctl.
#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "agent/port_guard.h"
#include "bgp/speaker/speaker.h"
#include "config/config.h"
#include "core/event_loop.h"
#include "core/fd_limit.h"
#include "core/log.h"
#include "ctl/control.h"
#include "daemon/agent_setup.h"
#include "daemon/build.h"
#include "daemon/commands.h"
#include "daemon/tenant_gateways.h"
#include "kernel/firewall.h"
#include "kernel/netlink_kernel.h"

using namespace isthmus;

namespace {

void usage(FILE* to) {
  std::fprintf(to,
               "usage: isthmusd --config FILE        run with this configuration\n"
               "       isthmusd --check-config FILE  check a configuration and exit (0 = valid)\n"
               "       isthmusd --version\n");
}

Expected<config::Config> load(const std::string& path, bgp::policy::PolicySet& policies,
                              bgp::SpeakerConfig& speaker) {
  auto cfg = config::load_config_file(path);
  if (!cfg) return cfg;
  auto compiled = bgp::policy::compile(cfg->policy, cfg->bgp.asn);
  if (!compiled) return fail(path + ": " + compiled.error().message);
  policies = std::move(*compiled);
  auto sc = daemon::build_speaker_config(*cfg, policies);
  if (!sc) return fail(path + ": " + sc.error().message);
  speaker = std::move(*sc);
  return cfg;
}

int run(const std::string& path) {
  bgp::policy::PolicySet policies;
  bgp::SpeakerConfig speaker_config;
  auto cfg = load(path, policies, speaker_config);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
    return 1;
  }
  log::set_level(cfg->log_level);
  for (auto& w : cfg->warnings) log::warn("config: {}", w);

  // Every client, session and namespace is a descriptor: the soft limit goes up to the hard one.
  if (auto fds = raise_fd_limit(); !fds)
    log::warn("isthmusd: open files limit: {}", fds.error().message);
  else if (fds->after != fds->before)
    log::info("isthmusd: open files limit raised from {} to {}", fds->before, fds->after);
  else
    log::info("isthmusd: open files limit {}", fds->after);

  std::signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

  // The node agent: the kernel and what the configuration leaves to be found on this host.
  std::unique_ptr<kernel::NetlinkKernel> kernel;
  std::unique_ptr<kernel::NftFirewall> firewall;  // the agent's nftables table
  agent::AgentConfig agent_config;
  if (cfg->agent) {
    auto k = kernel::NetlinkKernel::open();
    if (!k) {
      log::error("agent: {}", k.error().message);
      return 1;
    }
    kernel = std::move(*k);
    auto f = kernel::NftFirewall::open();
    if (!f) {
      log::error("agent: {}", f.error().message);
      return 1;
    }
    firewall = std::move(*f);
    auto ac = daemon::prepare_agent(*cfg, *kernel);
    if (!ac) {
      log::error("agent: {}", ac.error().message);
      return 1;
    }
    agent_config = std::move(*ac);
    // RFC 4724 §4.1: the kernel keeps the EVPN forwarding state while isthmusd is away, and
    // says whether it did this time.
    auto kept = agent::forwarding_state_present(*kernel, agent_config);
    if (!kept) {
      log::error("agent: {}", kept.error().message);
      return 1;
    }
    speaker_config.forwarding.families = {bgp::kL2vpnEvpn};
    speaker_config.forwarding.preserved = *kept;
  }
  // A route reflector restarts gracefully too: its clients keep forwarding on what it sent them.
  const bool reflector = !cfg->agent && daemon::reflector_forwarding(speaker_config);

  EventLoop loop;
  // The EVPN service outlives the speaker (declared first): the RIB calls into it.
  evpn::Instance* evpn_ptr = nullptr;
  std::unique_ptr<evpn::Instance> evpn_service;
  bgp::Speaker speaker(loop, std::move(speaker_config));
  evpn_service = std::make_unique<evpn::Instance>(speaker.rib(), daemon::build_evpn_config(*cfg),
                                                  daemon::evpn_hooks(speaker, evpn_ptr));
  evpn_ptr = evpn_service.get();
  daemon::attach_evpn(speaker, *evpn_service);
  // A VTEP joins the flood list of every VNI (RFC 7432 §11).
  evpn_service->start();
  // RFC 4684: the route targets the MAC-VRFs and IP-VRFs import, for peers that constrain what
  // they send us.
  for (const auto& m : evpn::rt_memberships(evpn_service->config(), cfg->bgp.asn))
    speaker.rib().originate_rtc(m, evpn::rt_membership_attributes());
  // The tenants' gateways (BGP neighbors of a VRF): their tables, EVPN and the agent tied.
  daemon::TenantGateways gateways(speaker, *evpn_service, *cfg);
  // The agent: the kernel follows EVPN, EVPN hears what the kernel learns. A reconcile runs
  // once per loop turn in which something changed, and every second while one failed.
  std::unique_ptr<agent::Agent> node_agent;
  std::optional<kernel::Monitor> monitor;
  // The endpoint service and its API socket (docs/agent-api.md), with IPAM's state file.
  std::optional<agent::ipam::Ipam> ipam;
  // Before the service: destroyed after it (the work queued in it finishes, its results are
  // dropped).
  std::unique_ptr<agent::KernelPool> endpoint_pool;
  std::unique_ptr<agent::Endpoints> endpoints;
  std::unique_ptr<ctl::ControlServer> api;
  bool reconcile_posted = false;
  // A full reconcile at most once a second: drift that others can cause again and again (a
  // workload's router advertisement that gives a bridge an address, a link someone keeps setting
  // down) must not keep the loop in full runs. The retry timer brings the deferred one.
  std::chrono::steady_clock::time_point last_full{};
  std::function<void()> schedule_reconcile = [&] {
    if (reconcile_posted || !node_agent) return;
    reconcile_posted = true;
    loop.post([&] {
      reconcile_posted = false;
      if (node_agent->full_due()) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last_full < std::chrono::seconds(1)) return;
        last_full = now;
      }
      node_agent->reconcile();
    });
  };
  // Retries a reconcile that failed (the agent stays dirty), once a second.
  std::function<void()> retry = [&] {
    if (node_agent->dirty()) schedule_reconcile();
    loop.add_timer(std::chrono::seconds(1), retry);
  };
  std::function<void()> periodic = [&] {
    node_agent->resync(/*staged=*/true);
    loop.add_timer(agent_config.reconcile_interval, periodic);
  };
  if (kernel) {
    node_agent =
        std::make_unique<agent::Agent>(*kernel, *evpn_service, agent_config, firewall.get());
    evpn::Observer observer = node_agent->observer();
    if (!gateways.empty()) {
      observer.remote_prefix = [&gateways, inner = std::move(observer.remote_prefix)](
                                   uint32_t l3vni, const Prefix& p,
                                   const std::vector<evpn::RemotePrefix>& remote) {
        if (inner) inner(l3vni, p, remote);
        gateways.remote_prefix(l3vni, p, remote);
      };
      gateways.set_agent(node_agent.get());
    }
    evpn_service->set_observer(std::move(observer));
    node_agent->set_wake(schedule_reconcile);
    // Remote entries from before the restart stay until the peers have sent their routes again.
    node_agent->begin_restart();
    speaker.set_on_routes_complete([&](const std::string& why) { node_agent->end_restart(why); });
    // The echoes of our own FDB and neighbour entries are not wanted (their removals are).
    auto m = kernel::Monitor::open(/*ignore_extern_adds=*/true);
    if (!m) {
      log::error("agent: {}", m.error().message);
      return 1;
    }
    monitor = std::move(*m);
    auto r = node_agent->reconcile();
    log::info("agent: VTEP {}, overlay MTU {}, {} networks; {} kernel changes at start{}",
              agent_config.vtep.to_string(), agent_config.overlay_mtu, agent_config.networks.size(),
              r.changes, r.ok() ? "" : fmt::format(", {} failed", r.errors.size()));
    if (auto l = node_agent->learn_all(); !l) log::warn("agent: {}", l.error().message);
    auto opened = agent::ipam::Ipam::open(
        cfg->agent->state_dir + "/" + std::string(agent::ipam::kStateFileName),
        daemon::ipam_networks(*cfg));
    if (!opened) {
      log::error("agent: {}", opened.error().message);
      return 1;
    }
    ipam.emplace(std::move(*opened));
    for (const auto& note : ipam->notes()) log::warn("agent: {}", note);
    for (const auto& key : ipam->stale())
      log::warn(
          "agent: endpoint {} {} of network {}: not configured here any more (del or gc removes "
          "it)",
          key.container_id, key.ifname, key.network);
    endpoints = std::make_unique<agent::Endpoints>(*kernel, *ipam, node_agent->config(),
                                                   agent::real_netns());
    // Port security: the workload ports' guard, with every attachment of a previous run at once.
    if (cfg->agent->port_security) {
      endpoints->set_port_guard(firewall.get());
      if (auto g = endpoints->guard_all(); !g) {
        log::error("agent: port security: {}", g.error().message);
        return 1;
      }
    } else if (auto d = firewall->delete_table(agent::kPortGuardTable); !d) {
      log::warn("agent: port security off: {}", d.error().message);
    }
    endpoints->set_ready(true);
    // Making and removing veth pairs waits in the kernel: four threads do it, so that the loop
    // (BGP included) never waits, and four runtimes' requests overlap.
    if (auto pool = agent::thread_pool(loop, 4); pool) {
      endpoint_pool = std::move(*pool);
      endpoints->set_pool(endpoint_pool.get());
    } else {
      log::warn("agent: endpoint API: {}: its kernel work runs in the event loop",
                pool.error().message);
    }
    api = std::make_unique<ctl::ControlServer>(
        loop, ctl::AsyncRawHandler([&](const nlohmann::json& req, agent::Endpoints::Reply reply) {
          endpoints->handle(req, std::move(reply));
        }));
    if (auto listening = api->listen(cfg->agent->api_socket); !listening) {
      log::error("agent: API socket: {}", listening.error().message);
      return 1;
    }
    log::info("agent: endpoint API on {}, {} endpoints in {}", cfg->agent->api_socket,
              ipam->records().size(), ipam->path());
    loop.add_fd(monitor->fd(), EPOLLIN, [&](uint32_t) {
      auto ok = monitor->read(
          [&](const kernel::Event& e) {
            node_agent->on_event(e);
            endpoints->on_event(e);
          },
          [](const Error& e) { log::warn("agent: kernel event: {}", e.message); });
      if (!ok) {
        log::warn("agent: {}", ok.error().message);
      } else if (!*ok) {
        log::warn("agent: kernel events were lost: reading the kernel's state again");
        node_agent->resync();
      }
    });
    loop.add_timer(std::chrono::seconds(1), retry);
    // Drift that no event reports (a route of ours deleted, an event lost without an overrun):
    // a full reconcile every reconcile_interval.
    if (agent_config.reconcile_interval.count() > 0)
      loop.add_timer(agent_config.reconcile_interval, periodic);
  }
  ctl::ControlServer control(loop, [&](const std::vector<std::string>& args) {
    if (node_agent)
      if (auto r = daemon::agent_command(*node_agent, *kernel, endpoints.get(), args))
        return std::move(*r);
    return daemon::run_command(speaker, *evpn_service, args);
  });
  if (auto r = control.listen(cfg->control_socket); !r) {
    log::error("{}", r.error().message);
    return 1;
  }
  if (auto r = speaker.start(); !r) {
    log::error("bgp: {}", r.error().message);
    return 1;
  }
  log::info("isthmusd: running AS{} router-id {} ({} neighbors, control socket {})", cfg->bgp.asn,
            cfg->bgp.router_id.to_string(), cfg->bgp.neighbors.size(), cfg->control_socket);

  loop.add_fd(sfd, EPOLLIN, [&](uint32_t) {
    signalfd_siginfo si;
    if (::read(sfd, &si, sizeof si) != sizeof si) return;
    log::info("isthmusd: signal {}: shutting down", strsignal(static_cast<int>(si.ssi_signo)));
    // An agent's kernel state stays and forwards, and a reflector's clients go on forwarding on
    // what it sent them: the peers keep our routes meanwhile.
    if (node_agent) node_agent->stop();
    speaker.shutdown("isthmusd is shutting down", node_agent != nullptr || reflector);
    // Let the Cease NOTIFICATIONs drain before the sockets close.
    loop.add_timer(std::chrono::milliseconds(200), [&] { loop.stop(); });
  });
  loop.run();
  // The kernel state stays as it is: forwarding goes on while the agent is away (a restart
  // adopts it).
  if (monitor) loop.remove_fd(monitor->fd());
  loop.remove_fd(sfd);
  ::close(sfd);
  log::info("isthmusd: stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    usage(stdout);
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("isthmusd 0.1.0\n");
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "--check-config") == 0) {
    bgp::policy::PolicySet policies;
    bgp::SpeakerConfig sc;
    auto cfg = load(argv[2], policies, sc);
    if (!cfg) {
      std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
      return 1;
    }
    for (auto& w : cfg->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    std::printf("%s: configuration is valid\n", argv[2]);
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "--config") == 0) return run(argv[2]);
  usage(stderr);
  return 2;
}
