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

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/ipam.h"
#include "core/event_loop.h"
#include "kernel/firewall.h"
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
// The real one (kernel::Netns). Stateless: it may be called on any thread.
NetnsOpener real_netns();

// Where the slow kernel work of add and del runs (making a veth pair in a workload's namespace,
// removing one: the kernel waits for RCU grace periods there), off the event loop: `work` on a
// thread of the pool, with a host Kernel of that thread's own, then `done` on the loop's thread.
class KernelPool {
 public:
  virtual ~KernelPool() = default;
  virtual void run(std::function<void(kernel::Kernel& host)> work, std::function<void()> done) = 0;
};
// `threads` threads, each with an rtnetlink socket of its own, made here (the error when one
// cannot be); `done` is posted to `loop`. The destructor waits for the work queued.
Expected<std::unique_ptr<KernelPool>> thread_pool(EventLoop& loop, size_t threads);

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

  // docs/agent-api.md: the whole request/response of the API socket, served at once (add and
  // del do their kernel work on the calling thread).
  nlohmann::json handle(const nlohmann::json& request);
  // The same, with the response through `reply` on the loop's thread, now or later: add and del
  // do their slow kernel work in the pool (set_pool), meanwhile the loop serves other requests
  // and everything else. Requests for the same attachment (add, del, check) are served one after
  // the other, in order of arrival; those for different attachments overlap.
  using Reply = std::function<void(nlohmann::json response)>;
  void handle(const nlohmann::json& request, Reply reply);
  // nullptr: the kernel work runs on the loop's thread. The pool must outlive the requests.
  void set_pool(KernelPool* pool) { pool_ = pool; }
  // Port security (agent/port_guard.h) in `firewall`'s table `bridge isthmus`: an add guards the
  // port before it joins the bridge, a del takes its elements away. nullptr: no guard.
  void set_port_guard(kernel::Firewall* firewall) { guard_ = firewall; }
  // The guard's table replaced whole with the port of every attachment (at start: what a
  // previous run left is adopted without a gap in enforcement).
  Expected<void> guard_all();
  // Attachments with a request being served or waiting.
  size_t busy() const { return busy_.size(); }
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
  // An add in three steps: planned on the loop (checks, IPAM's allocation), the port made
  // anywhere (make_port: only its arguments and the kernel it is given), finished on the loop.
  struct AddPlan {
    ipam::Record rec;        // as allocated; finish_add() fills in the MAC
    ipam::Record allocated;  // as IPAM wrote it
    bool fresh = false;      // allocated by this add: released when it fails
    Network network;
    int bridge = 0;
    uint32_t mtu = 0;
    std::string netns;
    bool remake = false;                 // a half-made attachment's host end goes first
    std::optional<nlohmann::json> done;  // the same add again, complete: its result
  };
  struct Port {
    int index = 0;
    MacAddress mac;
  };
  Expected<AddPlan, ApiError> plan_add(const EndpointRequest& req);
  static Expected<Port, ApiError> make_port(kernel::Kernel& host, const NetnsOpener& netns,
                                            const AddPlan& plan);
  Expected<nlohmann::json, ApiError> finish_add(AddPlan& plan, Expected<Port, ApiError> port);
  // A del: the record (or what a failed add may have left) with its neighbour entries gone, then
  // its host end removed (remove_port, anywhere), then the addresses released.
  ipam::Record plan_del(const ipam::Key& key);
  Expected<void, ApiError> finish_del(const ipam::Record& r, Expected<void> removed);
  static Expected<void> remove_port(kernel::Kernel& host, const std::string& host_ifname);
  void remove_neighbours(const ipam::Record& r);
  // The port's elements in or out of the guard's table (nothing without a guard).
  Expected<void, ApiError> guard(const ipam::Record& r, const MacAddress& mac);
  void unguard(const ipam::Record& r);
  // A request of one attachment, its turn come; `reply` then starts the next one's.
  void serve(ApiRequest req, Reply reply);
  void next(const ipam::Key& key);
  // `work` in the pool (or here without one), then `then` on the loop's thread, unless the
  // service is gone by then.
  template <typename T>
  void offload(std::function<T(kernel::Kernel&)> work, std::function<void(T)> then);

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
  KernelPool* pool_ = nullptr;
  kernel::Firewall* guard_ = nullptr;
  // The attachments being served, each with the requests waiting for it.
  std::map<ipam::Key, std::deque<std::function<void()>>> busy_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // weak copies: the service is there
};

}  // namespace isthmus::agent
