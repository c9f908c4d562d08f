// The agent's endpoint service (docs/agent-api.md): workloads attached to a network on
// request, with everything the network gives them, and detached without a trace.
//
// add: addresses from IPAM (persisted first), then a veth pair whose one end is `ifname` inside
// the container's namespace (MAC, overlay MTU, addresses, default routes via the anycast gateway)
// and whose other end is a port of the network's bridge; or, for a VM, a tap device on the
// bridge. The workload's MAC goes into the bridge's FDB on that port (static) and its IPs into
// the bridge's neighbour table (permanent), so the agent advertises MAC and MAC+IP at once,
// before the workload has sent a frame. Anything that fails undoes what the call did.
// del: the host end goes (a veth takes its other end with it, wherever that is), the neighbour
// entries go, the addresses are released; nothing to delete is not an error, and the container's
// namespace is not needed.
// Host ends are named from the attachment (veth + 8 hex digits of a hash of network, container
// and ifname) and carry the alias "isthmus-ep:<network>:<ifname>:<container>" (cut to fit), so
// that what is the agent's is known after a restart.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/ipam.h"
#include "kernel/kernel.h"

namespace isthmus::agent {

// An error of the API: a CNI error code (docs/agent-api.md) and what went wrong.
struct ApiError {
  int code = 0;
  std::string message;
};

struct EndpointRequest {
  ipam::Key key = {};
  std::string netns = {};           // veth: the container's namespace path
  std::vector<IpAddress> ips = {};  // static requests
  std::optional<MacAddress> mac = {};
  ipam::Kind kind = ipam::Kind::Veth;
};

// One request of the API socket (docs/agent-api.md) with its fields checked: what handle()
// dispatches. Which fields are set depends on the op.
struct ApiRequest {
  std::string op;            // version, list, status, gc, del, check, add
  EndpointRequest endpoint;  // key.network from status on; the whole key from del on; all: add
  std::set<std::pair<std::string, std::string>> valid = {};  // gc: (container_id, ifname)
  nlohmann::json prev_result = nullptr;                      // check
};

// The request's fields, their types and values, in the order handle() reads them; no state is
// looked at (code 4: missing or unknown, 6: not an object or a field of the wrong type, 7: a bad
// MAC or IP address).
Expected<ApiRequest, ApiError> parse_api_request(const nlohmann::json& request);

// Opens another network namespace: its rtnetlink and the fd that moves a link into it.
struct NetnsHandle {
  std::unique_ptr<kernel::Kernel> kernel;
  int fd = -1;
  std::function<void()> close;  // releases fd
};
using NetnsOpener = std::function<Expected<NetnsHandle>(const std::string& path)>;
// The real one (kernel::Netns).
NetnsOpener real_netns();

class Endpoints {
 public:
  Endpoints(kernel::Kernel& host, ipam::Ipam& ipam, const AgentConfig& config, NetnsOpener netns);

  // The CNI 1.0.0-shaped result of docs/agent-api.md.
  Expected<nlohmann::json, ApiError> add(const EndpointRequest& request);
  Expected<void, ApiError> del(const ipam::Key& key);
  // What differs between the attachment's record and the kernel (in its namespace) or the
  // runtime's result (`prev_result`, may be null): code 102; an unknown attachment: 3.
  Expected<void, ApiError> check(const ipam::Key& key, const std::string& netns,
                                 const nlohmann::json& prev_result = nullptr);
  Expected<std::vector<ipam::Record>, ApiError> gc(
      const std::string& network, const std::set<std::pair<std::string, std::string>>& valid);
  // Whether an add to `network` can succeed now (docs/agent-api.md `status`).
  Expected<void, ApiError> status(const std::string& network);

  // docs/agent-api.md: the whole request/response of the API socket.
  nlohmann::json handle(const nlohmann::json& request);
  // `list` and `show endpoint`: every attachment.
  nlohmann::json list() const;
  const std::map<ipam::Key, ipam::Record>& records() const { return ipam_.records(); }

  // A kernel event: the host end of an attachment went away without a DEL (its container's
  // namespace was destroyed: a runtime that never calls DEL, such as ctr 1.6 after `task kill`,
  // or someone deleted it). The attachment is dead: its addresses and neighbour entries go, and
  // a later DEL finds nothing to do.
  // A workload's port the agent made that was set down, given another MTU or taken off its
  // network's bridge (an event of it, not of the agent's own doing): set up again with the
  // overlay MTU on the bridge, with the workload's FDB entry.
  void on_event(const kernel::Event& event);

  // Set once the agent's networks are in the kernel (the first reconcile ran).
  void set_ready(bool ready) { ready_ = ready; }

  static std::string host_ifname(const ipam::Key& key);

 private:
  const Network* network(const std::string& name) const;
  Expected<int, ApiError> bridge_of(const Network& n);
  nlohmann::json result(const ipam::Record& r, const Network& n, uint32_t mtu) const;
  void remove_kernel_state(const ipam::Record& r);
  // on_event() of a link that is a workload's port (`event`: what the event says of it).
  void repair_port(const ipam::Record& r, const kernel::Link& event);

  kernel::Kernel& host_;
  ipam::Ipam& ipam_;
  const AgentConfig& config_;
  NetnsOpener netns_;
  bool ready_ = false;
};

}  // namespace isthmus::agent
