// Fuzzes the control socket (ctl/control.h): a request line as isthmusctl sends it, answered by
// the daemon's commands (run_command) against a daemon built from a small configuration (a
// neighbor, a VNI, a VRF) whose speaker never starts. Any line gives a response object, "ok"
// true with a result or false with an error message; never a crash, and never the internal error
// (code 999) of an exception a handler let through.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "config/config.h"
#include "core/log.h"
#include "ctl/control.h"
#include "daemon/build.h"
#include "daemon/commands.h"

using namespace isthmus;

namespace {

const char* const kConfig = R"(
control_socket: /nonexistent/isthmusd.sock
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: false
  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, families: [l2vpn-evpn, ipv4-unicast] }
    - { address: fd00::2, remote_as: 65001 }
evpn:
  vtep: 198.18.0.1
  vnis: [{ vni: 100 }]
vrfs: [{ name: tenant1, l3vni: 1000 }]
)";

struct Daemon {
  config::Config cfg;
  bgp::policy::PolicySet policies;
  EventLoop loop;
  evpn::Instance* evpn_ptr = nullptr;
  std::unique_ptr<evpn::Instance> evpn;  // outlives the speaker, as in isthmusd
  std::unique_ptr<bgp::Speaker> speaker;

  Daemon() {
    auto c = config::parse_config(kConfig, "fuzz.yaml");
    if (!c) std::abort();
    cfg = std::move(*c);
    auto p = bgp::policy::compile(cfg.policy, cfg.bgp.asn);
    if (!p) std::abort();
    policies = std::move(*p);
    auto sc = daemon::build_speaker_config(cfg, policies);
    if (!sc) std::abort();
    speaker = std::make_unique<bgp::Speaker>(loop, std::move(*sc));
    evpn = std::make_unique<evpn::Instance>(speaker->rib(), daemon::build_evpn_config(cfg),
                                            daemon::evpn_hooks(*speaker, evpn_ptr));
    evpn_ptr = evpn.get();
    daemon::attach_evpn(*speaker, *evpn);
    evpn->start();
  }
  ~Daemon() { speaker.reset(); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The warnings of the inputs that are meant to be refused would only slow the fuzzer down.
  static const bool quiet = (log::set_level(log::Level::Error), true);
  (void)quiet;
  // A fresh daemon per input: what one command changes (a MAC, a cleared neighbor) does not
  // make the next input behave differently, so every crash reproduces from its input alone.
  Daemon d;
  const std::string line(reinterpret_cast<const char*>(data), size);
  auto response = ctl::respond(
      line,
      [&](const std::vector<std::string>& args) {
        return daemon::run_command(*d.speaker, *d.evpn, args);
      },
      "fuzz");
  if (!response.is_object() || !response["ok"].is_boolean()) std::abort();
  if (response["ok"].get<bool>()) {
    if (!response.contains("result")) std::abort();
  } else {
    if (!response["error"].is_string() || response["error"].get<std::string>().empty())
      std::abort();
    if (response.value("code", 0) == 999) std::abort();
  }
  // The server writes the response back whatever bytes the request quoted.
  (void)response.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
