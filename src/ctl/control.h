// The daemon's control socket: a unix stream socket (mode 0600) speaking one request and one
// response per connection, each a JSON document. Request: {"args": ["show", "bgp", "summary"]}
// followed by a newline. Response: {"ok": true, "result": ...} or {"ok": false, "error": "..."}.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_loop.h"
#include "core/expected.h"

namespace isthmus::ctl {

using Handler = std::function<Expected<nlohmann::json>(const std::vector<std::string>& args)>;
// A server of another protocol on the same framing (the agent's API, docs/agent-api.md): the
// parsed request object in, the whole response object out. A request that is not a JSON object
// is answered {"ok": false, "code": 6, "error": ...} without calling it.
using RawHandler = std::function<nlohmann::json(const nlohmann::json& request)>;
// The same, answering later: the response object goes through `reply` (once, on the loop's
// thread, before the handler returns or any time after). The client is not timed out while it
// waits; one that goes away first never gets its response, and the handler is not told.
using AsyncRawHandler = std::function<void(const nlohmann::json& request,
                                           std::function<void(nlohmann::json response)> reply)>;

// What one socket's clients can make the daemon hold (docs/operations.md, "Local sockets").
struct ServerLimits {
  // Clients connected at once; one more is accepted and closed at once (a burst of those is
  // logged once), and the others are served on.
  size_t max_clients = 64;
  // A client that sends or takes nothing for this long (connected and silent, stopped half-way
  // through its request, not reading its response) is closed.
  Duration idle_timeout = std::chrono::seconds(10);
  // accept() out of descriptors (EMFILE, ENFILE) or memory: the socket is not watched for this
  // long, doubled on each failure in a row up to max_backoff; one log line says why.
  Duration min_backoff = std::chrono::milliseconds(100);
  Duration max_backoff = std::chrono::seconds(5);
};

// The arguments of a request line (without its newline) of the control socket: the strings of
// its "args" array (other elements are left out), or why the line is not such a request.
Expected<std::vector<std::string>> parse_args_request(const std::string& line);
// The response object to one request line, as the server writes it back. A line that is not a
// request is answered as malformed; "ping" is answered here; no exception of the handler escapes
// (a JSON field of the wrong type: code 6; anything else: code 999, logged with `where`).
nlohmann::json respond(const std::string& line, const Handler& handler, std::string_view where);
// The same for a RawHandler: a line that is not a JSON object is answered with code 6.
nlohmann::json respond_raw(const std::string& line, const RawHandler& handler,
                           std::string_view where);

class ControlServer {
 public:
  ControlServer(EventLoop& loop, Handler handler, ServerLimits limits = {});
  ControlServer(EventLoop& loop, RawHandler handler, ServerLimits limits = {});
  ControlServer(EventLoop& loop, AsyncRawHandler handler, ServerLimits limits = {});
  ~ControlServer();
  // Creates the socket (and its directory); an existing stale socket file is replaced.
  Expected<void> listen(const std::string& path);

  size_t clients() const { return clients_.size(); }
  // For tests: accept() calls made, and clients refused for being over max_clients.
  uint64_t accept_calls() const { return accept_calls_; }
  uint64_t refused() const { return refused_total_; }

 private:
  struct Client {
    int fd;
    uint64_t id;  // descriptors are reused: a late response finds its client by both
    std::string in;
    std::string out;
    size_t out_offset = 0;
    EventLoop::TimerId idle = 0;
    bool waiting = false;  // for an AsyncRawHandler's reply
  };
  void on_accept();
  void on_client(int fd, uint32_t events);
  void drop(int fd);
  void arm_idle(Client& c);
  void back_off(int err);
  void resumed();  // accept() works again after a back-off

  nlohmann::json respond(const std::string& line);
  // An AsyncRawHandler's request: the client waits (no idle timeout, only its hanging up is
  // watched) until answer() brings its response.
  void start_async(Client& c, const std::string& line);
  void answer(int fd, uint64_t id, const nlohmann::json& response);

  EventLoop& loop_;
  Handler handler_;
  RawHandler raw_handler_;
  AsyncRawHandler async_handler_;
  ServerLimits limits_;
  int listen_fd_ = -1;
  std::string path_;
  std::map<int, std::unique_ptr<Client>> clients_;
  uint64_t accept_calls_ = 0;
  uint64_t refused_total_ = 0;
  uint64_t refused_burst_ = 0;  // refused since the last client accepted
  Duration backoff_{};          // zero: accepting
  EventLoop::TimerId resume_ = 0;
  uint64_t next_id_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // weak copies: the server is there
};

// Client side (isthmusctl): sends the request and returns the "result", or the daemon's error,
// or why the daemon could not be reached.
Expected<nlohmann::json> call(const std::string& socket_path, const std::vector<std::string>& args);

// One request object, the whole response object (or why the daemon could not be reached or
// answered nothing that parses).
Expected<nlohmann::json> request(const std::string& socket_path, const nlohmann::json& message);

}  // namespace isthmus::ctl
