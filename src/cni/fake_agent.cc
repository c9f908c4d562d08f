#include "cni/fake_agent.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace isthmus::cni::testing {

using nlohmann::json;

namespace {

json failure(int code, std::string error) {
  return {{"ok", false}, {"code", code}, {"error", std::move(error)}};
}
json success(json result) { return {{"ok", true}, {"result", std::move(result)}}; }

// The index-th host address of `p` (0 = the network address).
IpAddress host(const Prefix& p, uint32_t index) {
  auto bytes = p.address().bytes();
  size_t last = p.address().size() - 1;
  uint32_t carry = index;
  for (size_t i = last + 1; i-- > 0 && carry;) {
    uint32_t sum = bytes[i] + (carry & 0xff);
    bytes[i] = static_cast<uint8_t>(sum);
    carry = (carry >> 8) + (sum >> 8);
  }
  if (p.address().is_v4())
    return IpAddress::v4(std::array<uint8_t, 4>{bytes[0], bytes[1], bytes[2], bytes[3]});
  return IpAddress::v6(bytes);
}

std::string str(const json& r, const char* key) {
  auto it = r.find(key);
  return it != r.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

FakeAgent::FakeAgent(std::vector<Network> networks) : networks_(std::move(networks)) {}

void FakeAgent::set_starting(bool starting) {
  std::lock_guard l(mu_);
  starting_ = starting;
}

void FakeAgent::tamper(const std::string& container_id, const std::string& ifname,
                       std::string what) {
  std::lock_guard l(mu_);
  tampered_[{container_id, ifname}] = std::move(what);
}

std::vector<json> FakeAgent::requests() const {
  std::lock_guard l(mu_);
  return requests_;
}

json FakeAgent::last_request(const std::string& op) const {
  std::lock_guard l(mu_);
  for (auto it = requests_.rbegin(); it != requests_.rend(); ++it)
    if (str(*it, "op") == op) return *it;
  return nullptr;
}

size_t FakeAgent::attachments() const {
  std::lock_guard l(mu_);
  return table_.size();
}

const FakeAgent::Network* FakeAgent::network(const json& r) const {
  for (auto& n : networks_)
    if (n.name == str(r, "network")) return &n;
  return nullptr;
}

bool FakeAgent::ip_in_use(const IpAddress& a) const {
  for (auto& [k, att] : table_)
    for (auto& ip : att.ips)
      if (ip == a) return true;
  return false;
}

json FakeAgent::handle(const json& request) {
  std::lock_guard l(mu_);
  if (!request.is_object() || !request.contains("op") || !request["op"].is_string())
    return failure(6, "the request is not {\"op\": ...}");
  requests_.push_back(request);
  std::string op = request["op"];
  if (op == "version") return success({{"api", 1}, {"isthmusd", "fake"}});
  if (op == "status") return status(request);
  if (starting_) return failure(11, "the agent is starting: kernel state not reconciled yet");
  if (op == "add") return add(request);
  if (op == "del") return del(request);
  if (op == "check") return check(request);
  if (op == "gc") return gc(request);
  return failure(4, "unknown op \"" + op + "\"");
}

json FakeAgent::add(const json& r) {
  if (str(r, "container_id").empty() || str(r, "ifname").empty())
    return failure(4, "add needs container_id and ifname");
  const Network* n = network(r);
  if (!n) return failure(7, "network \"" + str(r, "network") + "\" is not configured on this node");
  Key key{n->name, str(r, "container_id"), str(r, "ifname")};
  json req = r;
  req.erase("op");
  if (auto it = table_.find(key); it != table_.end()) {
    if (it->second.request == req) return success(it->second.result);
    return failure(4, "attachment exists with a different request");
  }
  Attachment a;
  // Static addresses: inside the network's subnets, not in use.
  if (r.contains("ips")) {
    for (auto& text : r["ips"]) {
      auto ip = IpAddress::parse(text.get<std::string>());
      if (!ip) return failure(7, ip.error().message);
      const Prefix& subnet = ip->is_v4() ? n->v4 : n->v6;
      if (subnet.length() == 0 || !subnet.contains(*ip))
        return failure(7, "static IP " + ip->to_string() + " is outside the subnets of network \"" +
                              n->name + "\"");
      if (ip_in_use(*ip)) return failure(101, "static IP " + ip->to_string() + " is in use");
      a.ips.push_back(*ip);
    }
  }
  uint32_t index = 2;
  for (;; ++index) {
    if (index >= n->pool + 2)
      return failure(100, "the address pool of network \"" + n->name + "\" is exhausted");
    bool used = false;
    for (auto& [k, att] : table_) used = used || (std::get<0>(k) == n->name && att.index == index);
    if (!used && !ip_in_use(host(n->v4, index))) break;
  }
  a.index = index;
  bool has_v4 = false, has_v6 = false;
  for (auto& ip : a.ips) (ip.is_v4() ? has_v4 : has_v6) = true;
  if (!has_v4) a.ips.push_back(host(n->v4, index));
  if (!has_v6 && n->v6.length() != 0) a.ips.push_back(host(n->v6, index));
  char mac[18];
  std::snprintf(mac, sizeof mac, "02:00:00:00:%02x:%02x", index >> 8 & 0xff, index & 0xff);
  a.mac = r.contains("mac") ? r["mac"].get<std::string>() : std::string(mac);
  for (auto& [k, att] : table_)
    if (att.mac == a.mac) return failure(101, "static MAC " + a.mac + " is in use");

  bool tap = str(r, "kind") == "tap";
  json ifaces = json::array();
  uint32_t container_if = 0;
  if (!tap) {
    ifaces.push_back(
        {{"name", "veth" + std::to_string(10000 + index)}, {"mac", "02:01:00:00:00:01"}});
    ifaces.push_back({{"name", str(r, "ifname")},
                      {"mac", a.mac},
                      {"sandbox", str(r, "netns")},
                      {"mtu", n->mtu}});
    container_if = 1;
  } else {
    ifaces.push_back({{"name", str(r, "ifname")}, {"mac", a.mac}, {"mtu", n->mtu}});
  }
  json ips = json::array(), routes = json::array();
  for (auto& ip : a.ips) {
    const Prefix& subnet = ip.is_v4() ? n->v4 : n->v6;
    std::string gw = host(subnet, 1).to_string();
    ips.push_back({{"address", ip.to_string() + "/" + std::to_string(subnet.length())},
                   {"gateway", gw},
                   {"interface", container_if}});
    routes.push_back({{"dst", ip.is_v4() ? "0.0.0.0/0" : "::/0"}, {"gw", gw}});
  }
  a.request = req;
  a.result = {{"interfaces", ifaces}, {"ips", ips}, {"routes", routes}, {"dns", json::object()}};
  auto result = a.result;
  table_[key] = std::move(a);
  return success(result);
}

json FakeAgent::del(const json& r) {
  if (str(r, "container_id").empty() || str(r, "ifname").empty())
    return failure(4, "del needs container_id and ifname");
  const Network* n = network(r);
  if (!n) return success(json::object());  // nothing can be attached to an unknown network
  table_.erase(Key{n->name, str(r, "container_id"), str(r, "ifname")});
  return success(json::object());
}

json FakeAgent::check(const json& r) {
  const Network* n = network(r);
  if (!n) return failure(7, "network \"" + str(r, "network") + "\" is not configured on this node");
  auto it = table_.find(Key{n->name, str(r, "container_id"), str(r, "ifname")});
  if (it == table_.end())
    return failure(3, "no attachment of " + str(r, "container_id") + "/" + str(r, "ifname"));
  if (auto t = tampered_.find({str(r, "container_id"), str(r, "ifname")}); t != tampered_.end())
    return failure(102, str(r, "ifname") + " in " + str(r, "netns") + ": " + t->second);
  if (r.contains("prev_result") && r["prev_result"].contains("ips")) {
    for (auto& ip : r["prev_result"]["ips"]) {
      bool found = false;
      for (auto& mine : it->second.result["ips"]) found = found || mine["address"] == ip["address"];
      if (!found)
        return failure(102, "prevResult address " + ip["address"].get<std::string>() +
                                " is not the attachment's");
    }
  }
  return success(json::object());
}

json FakeAgent::gc(const json& r) {
  const Network* n = network(r);
  if (!n) return failure(7, "network \"" + str(r, "network") + "\" is not configured on this node");
  std::set<std::pair<std::string, std::string>> valid;
  for (auto& v : r["valid"])
    valid.insert(std::pair{v.value("container_id", ""), v.value("ifname", "")});
  json removed = json::array();
  for (auto it = table_.begin(); it != table_.end();) {
    auto& [net, id, ifname] = it->first;
    if (net == n->name && !valid.count({id, ifname})) {
      removed.push_back({{"container_id", id}, {"ifname", ifname}});
      it = table_.erase(it);
    } else {
      ++it;
    }
  }
  return success({{"removed", removed}});
}

json FakeAgent::status(const json& r) {
  const Network* n = network(r);
  if (!n)
    return failure(50, "network \"" + str(r, "network") + "\" is not configured on this node");
  if (starting_) return failure(50, "the agent is starting");
  size_t used = 0;
  for (auto& [k, att] : table_) used += std::get<0>(k) == n->name;
  if (used >= n->pool) return failure(50, "the address pool is exhausted");
  return success(json::object());
}

Expected<void> FakeAgentServer::start(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return fail("socket path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return fail(std::strerror(errno));
  mode_t old = ::umask(0177);
  int rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0 || ::listen(listen_fd_, 16) != 0) return fail(std::strerror(errno));
  if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) return fail(std::strerror(errno));
  path_ = path;
  thread_ = std::thread([this] { serve(); });
  return {};
}

void FakeAgentServer::stop() {
  if (!thread_.joinable()) return;
  char c = 1;
  (void)!::write(stop_pipe_[1], &c, 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
  listen_fd_ = stop_pipe_[0] = stop_pipe_[1] = -1;
  ::unlink(path_.c_str());
}

void FakeAgentServer::serve() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::string in;
    char buf[4096];
    while (in.find('\n') == std::string::npos) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    auto req = json::parse(in.substr(0, in.find('\n')), nullptr, false);
    json resp =
        req.is_discarded() ? failure(6, "the request is not valid JSON") : agent_.handle(req);
    std::string out = resp.dump() + "\n";
    (void)!::write(fd, out.data(), out.size());
    ::close(fd);
  }
}

}  // namespace isthmus::cni::testing
