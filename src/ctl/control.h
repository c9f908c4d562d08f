// The daemon's control socket: a unix stream socket (mode 0600) speaking one request and one
// response per connection, each a JSON document. Request: {"args": ["show", "bgp", "summary"]}
// followed by a newline. Response: {"ok": true, "result": ...} or {"ok": false, "error": "..."}.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/expected.h"

namespace isthmus::ctl {

using Handler = std::function<Expected<nlohmann::json>(const std::vector<std::string>& args)>;

class ControlServer {
 public:
  ControlServer(EventLoop& loop, Handler handler);
  ~ControlServer();
  // Creates the socket (and its directory); an existing stale socket file is replaced.
  Expected<void> listen(const std::string& path);

 private:
  struct Client {
    int fd;
    std::string in;
    std::string out;
    size_t out_offset = 0;
  };
  void on_accept();
  void on_client(int fd, uint32_t events);
  void drop(int fd);

  EventLoop& loop_;
  Handler handler_;
  int listen_fd_ = -1;
  std::string path_;
  std::map<int, std::unique_ptr<Client>> clients_;
};

// Client side (isthmusctl): sends the request and returns the "result", or the daemon's error,
// or why the daemon could not be reached.
Expected<nlohmann::json> call(const std::string& socket_path, const std::vector<std::string>& args);

}  // namespace isthmus::ctl
