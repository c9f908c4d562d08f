// Kernel over rtnetlink (libmnl, see docs/dependencies.md), and the monitor of what the kernel
// changes on its own (a workload's MAC learned on a bridge port, a link that went away).
// Blocking request/ACK on a socket of its own; the monitor is a second, non-blocking socket for
// the event loop. Not thread-safe: one owner.
#pragma once

#include <functional>
#include <memory>
#include <span>

#include "kernel/kernel.h"
#include "kernel/messages.h"

struct mnl_socket;

namespace isthmus::kernel {

class NetlinkSocket {
 public:
  // groups: RTMGRP_* to listen to (0: requests only).
  static Expected<NetlinkSocket> open(unsigned groups = 0);
  NetlinkSocket(NetlinkSocket&&) noexcept;
  NetlinkSocket& operator=(NetlinkSocket&&) noexcept;
  ~NetlinkSocket();
  int fd() const;
  // Sends a change and waits for its ACK; `what` names it in errors.
  Expected<void> request(nl::Message& m, const std::string& what);
  // Sends a GET (dump or single object) and hands every reply message to `fn`.
  Expected<void> query(nl::Message& m, const std::string& what,
                       const std::function<Expected<void>(std::span<const uint8_t>)>& fn);
  // Sends changes many to a datagram, without asking for their ACKs: each datagram ends with an
  // NLMSG_NOOP that asks for one, so the kernel, which reports every failure (netlink(7)) and
  // handles a datagram's messages in order, has answered all of them once that ACK is in.
  // `failed(i, reason)` for each message that failed.
  // The messages are made one at a time by `build(i)`, i < count, and copied into the datagram.
  Expected<void> send_batch(size_t count, const std::function<nl::Message(size_t)>& build,
                            const std::function<void(size_t, std::string)>& failed);
  // Reads what is queued without blocking, each message to `fn`. False: the kernel dropped
  // messages (the receive buffer overran) and the reader must read the whole state again; what
  // was queued is read all the same, so that the socket has room again.
  Expected<bool> drain(const std::function<void(std::span<const uint8_t>)>& fn);

 private:
  NetlinkSocket(mnl_socket* nl, uint32_t portid) : nl_(nl), portid_(portid) {}
  Expected<void> exchange(nl::Message& m, const std::string& what,
                          const std::function<Expected<void>(std::span<const uint8_t>)>* fn);
  mnl_socket* nl_ = nullptr;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
};

class NetlinkKernel final : public Kernel {
 public:
  static Expected<std::unique_ptr<NetlinkKernel>> open();
  // rtnetlink of another network namespace (an fd of /proc/PID/ns/net or /var/run/netns/NAME):
  // the socket is made there and stays bound to it.
  static Expected<std::unique_ptr<NetlinkKernel>> open_in(int netns_fd);

  Expected<std::vector<Link>> links() override;
  Expected<std::optional<Link>> find_link(const std::string& name) override;
  Expected<Link> add_link(const LinkSpec& spec) override;
  Expected<void> set_link(int ifindex, const LinkChange& change) override;
  Expected<void> set_bridge_port(int ifindex, const BridgePortInfo& port) override;
  Expected<void> delete_link(int ifindex) override;
  Expected<std::vector<Address>> addresses() override;
  Expected<void> add_address(const Address& a) override;
  Expected<void> delete_address(const Address& a) override;
  Expected<std::vector<Route>> routes(uint32_t table) override;
  Expected<void> replace_route(const Route& r) override;
  Expected<void> add_route(const Route& r) override;
  Expected<void> delete_route(const Route& r) override;
  Expected<std::vector<Rule>> rules() override;
  Expected<void> add_rule(const Rule& r) override;
  Expected<void> delete_rule(const Rule& r) override;
  Expected<std::string> sysctl(const std::string& key) override;
  Expected<void> set_sysctl(const std::string& key, const std::string& value) override;
  Expected<std::vector<Neighbour>> neighbours() override;
  Expected<std::vector<Neighbour>> neighbours_of(int ifindex) override;
  Expected<void> replace_neighbour(const Neighbour& n) override;
  Expected<void> delete_neighbour(const Neighbour& n) override;
  Expected<std::vector<FdbEntry>> fdb() override;
  Expected<std::vector<FdbEntry>> bridge_fdb(int bridge) override;
  Expected<std::vector<FdbEntry>> device_fdb(int ifindex) override;
  Expected<void> add_fdb(const FdbEntry& e, bool append) override;
  Expected<void> delete_fdb(const FdbEntry& e) override;
  std::vector<ChangeError> apply(std::span<const EntryChange> changes) override;

  // One link by name.
  Expected<Link> link(const std::string& name);

 private:
  explicit NetlinkKernel(NetlinkSocket s) : sock_(std::move(s)) {}
  std::string link_name(int ifindex);
  NetlinkSocket sock_;
};

// Events of links, addresses, neighbours and FDB entries, for the event loop.
class Monitor {
 public:
  // ignore_extern_adds: the kernel does not even queue RTM_NEWNEIGH of externally learned
  // entries (NTF_EXT_LEARNED: what a control plane, this one, installs; a socket filter), so
  // that installing 100k remote MACs does not overrun the socket with their echoes. Their
  // removals still come.
  static Expected<Monitor> open(bool ignore_extern_adds = false);
  int fd() const { return sock_.fd(); }
  // Everything queued, parsed; a message that does not parse is reported to `bad` and skipped.
  // False: events were lost (overrun): read the state again.
  Expected<bool> read(const std::function<void(const Event&)>& fn,
                      const std::function<void(const Error&)>& bad);
  // The socket's receive buffer, octets (4 MiB from open()); a test makes it overrun.
  Expected<void> set_receive_buffer(int bytes);

 private:
  explicit Monitor(NetlinkSocket s) : sock_(std::move(s)) {}
  NetlinkSocket sock_;
};

}  // namespace isthmus::kernel
