#include "ctl/control.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "core/log.h"

namespace isthmus::ctl {

namespace {
constexpr size_t kMaxRequest = 64 * 1024;

Expected<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path)
    return fail("control socket path \"" + path + "\" is too long (at most " +
                std::to_string(sizeof a.sun_path - 1) + " bytes)");
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}
}  // namespace

ControlServer::ControlServer(EventLoop& loop, Handler handler, ServerLimits limits)
    : loop_(loop), handler_(std::move(handler)), limits_(limits) {}

ControlServer::ControlServer(EventLoop& loop, RawHandler handler, ServerLimits limits)
    : loop_(loop), raw_handler_(std::move(handler)), limits_(limits) {}

ControlServer::ControlServer(EventLoop& loop, AsyncRawHandler handler, ServerLimits limits)
    : loop_(loop), async_handler_(std::move(handler)), limits_(limits) {}

ControlServer::~ControlServer() {
  for (auto& [fd, c] : clients_) {
    loop_.cancel_timer(c->idle);
    loop_.remove_fd(fd);
    ::close(fd);
  }
  loop_.cancel_timer(resume_);
  if (listen_fd_ >= 0) {
    loop_.remove_fd(listen_fd_);
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }
}

Expected<void> ControlServer::listen(const std::string& path) {
  auto addr = unix_address(path);
  if (!addr) return unexpected(addr.error());
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) return fail("control socket directory " + dir.string() + ": " + ec.message());
  // A socket file left by a daemon that died is replaced; a live daemon's is not.
  if (int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); probe >= 0) {
    const bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) == 0;
    ::close(probe);
    if (live) return fail("socket " + path + " is in use by a running daemon");
  }
  ::unlink(path.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return fail(std::string("control socket: ") + std::strerror(errno));
  mode_t old = ::umask(0177);  // root only: 0600
  int r = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&*addr), sizeof *addr);
  ::umask(old);
  if (r != 0 || ::listen(listen_fd_, 16) != 0)
    return fail("control socket " + path + ": " + std::strerror(errno));
  path_ = path;
  loop_.add_fd(listen_fd_, EPOLLIN, [this](uint32_t) { on_accept(); });
  return {};
}

void ControlServer::on_accept() {
  for (;;) {
    ++accept_calls_;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) return back_off(err);
      if (err == EAGAIN)
        resumed();  // nothing waiting, but a descriptor was there for it (taken before the wait)
      else
        log::warn("socket {}: accept: {}", path_, std::strerror(err));
      return;
    }
    resumed();
    if (clients_.size() >= limits_.max_clients) {
      // Refused: closed at once, so that the client sees the end at once; the others go on.
      ::close(fd);
      ++refused_total_;
      if (refused_burst_++ == 0)
        log::warn("socket {}: {} clients connected, the most it serves: refusing more", path_,
                  clients_.size());
      continue;
    }
    if (refused_burst_ != 0) {
      log::info("socket {}: serving again; {} clients were refused", path_, refused_burst_);
      refused_burst_ = 0;
    }
    auto& c = clients_[fd];
    c = std::make_unique<Client>(Client{fd, next_id_++, {}, {}, 0});
    arm_idle(*c);
    loop_.add_fd(fd, EPOLLIN, [this, fd](uint32_t ev) { on_client(fd, ev); });
  }
}

// Out of descriptors or memory: the pending connection stays in the backlog and the socket stays
// readable, so watching it would only spin. It is left alone for a while, longer each time.
void ControlServer::back_off(int err) {
  const bool first = backoff_ == Duration::zero();
  backoff_ = first ? limits_.min_backoff : std::min(backoff_ * 2, limits_.max_backoff);
  if (first)
    log::warn(
        "socket {}: accept: {}: not accepting clients for a while (from {} ms, doubling up to "
        "{} ms)",
        path_, std::strerror(err),
        std::chrono::duration_cast<std::chrono::milliseconds>(backoff_).count(),
        std::chrono::duration_cast<std::chrono::milliseconds>(limits_.max_backoff).count());
  loop_.remove_fd(listen_fd_);
  resume_ = loop_.add_timer(backoff_, [this] {
    resume_ = 0;
    loop_.add_fd(listen_fd_, EPOLLIN, [this](uint32_t) { on_accept(); });
    on_accept();
  });
}

void ControlServer::resumed() {
  if (backoff_ == Duration::zero()) return;
  log::info("socket {}: accepting clients again", path_);
  backoff_ = Duration::zero();
}

void ControlServer::arm_idle(Client& c) {
  loop_.cancel_timer(c.idle);
  const int fd = c.fd;
  c.idle = loop_.add_timer(limits_.idle_timeout, [this, fd] {
    auto it = clients_.find(fd);
    if (it == clients_.end()) return;
    it->second->idle = 0;
    log::debug("socket {}: a client was idle for {} s: closed", path_,
               std::chrono::duration_cast<std::chrono::seconds>(limits_.idle_timeout).count());
    drop(fd);
  });
}

void ControlServer::drop(int fd) {
  if (auto it = clients_.find(fd); it != clients_.end()) loop_.cancel_timer(it->second->idle);
  loop_.remove_fd(fd);
  ::close(fd);
  clients_.erase(fd);
}

namespace {

// No exception from a handler ends the daemon: a request that reads a field of the wrong type
// is malformed (CNI code 6), anything else an internal error (999), logged.
template <typename Fn>
nlohmann::json contained(std::string_view where, Fn&& handle) {
  try {
    return handle();
  } catch (const nlohmann::json::exception& e) {
    return {{"ok", false}, {"code", 6}, {"error", std::string("malformed request: ") + e.what()}};
  } catch (const std::exception& e) {
    log::error("control socket {}: a request failed: {}", where, e.what());
    return {{"ok", false}, {"code", 999}, {"error", std::string("internal error: ") + e.what()}};
  }
}

}  // namespace

Expected<std::vector<std::string>> parse_args_request(const std::string& line) {
  auto req = nlohmann::json::parse(line, nullptr, false);
  if (req.is_discarded() || !req.is_object() || !req.contains("args") || !req["args"].is_array())
    return fail("malformed request: expected {\"args\": [...]}");
  std::vector<std::string> args;
  for (auto& a : req["args"])
    if (a.is_string()) args.push_back(a.get<std::string>());
  return args;
}

nlohmann::json respond(const std::string& line, const Handler& handler, std::string_view where) {
  auto args = parse_args_request(line);
  if (!args) return {{"ok", false}, {"error", args.error().message}};
  if (args->size() == 1 && (*args)[0] == "ping") return {{"ok", true}, {"result", "pong"}};
  return contained(where, [&]() -> nlohmann::json {
    auto r = handler(*args);
    if (!r) return {{"ok", false}, {"error", r.error().message}};
    return {{"ok", true}, {"result", std::move(*r)}};
  });
}

nlohmann::json respond_raw(const std::string& line, const RawHandler& handler,
                           std::string_view where) {
  auto req = nlohmann::json::parse(line, nullptr, false);
  if (req.is_discarded() || !req.is_object())
    return {{"ok", false}, {"code", 6}, {"error", "malformed request: not a JSON object"}};
  return contained(where, [&] { return handler(req); });
}

nlohmann::json ControlServer::respond(const std::string& line) {
  return raw_handler_ ? respond_raw(line, raw_handler_, path_)
                      : ctl::respond(line, handler_, path_);
}

void ControlServer::start_async(Client& c, const std::string& line) {
  auto req = nlohmann::json::parse(line, nullptr, false);
  if (req.is_discarded() || !req.is_object()) {
    c.waiting = true;
    return answer(c.fd, c.id,
                  {{"ok", false}, {"code", 6}, {"error", "malformed request: not a JSON object"}});
  }
  c.waiting = true;
  loop_.cancel_timer(c.idle);
  c.idle = 0;
  loop_.modify_fd(c.fd, 0);  // its hanging up (EPOLLHUP) is still reported
  auto once = std::make_shared<bool>(false);
  auto reply = [this, fd = c.fd, id = c.id, once,
                alive = std::weak_ptr<int>(alive_)](nlohmann::json response) {
    if (std::exchange(*once, true) || !alive.lock()) return;
    answer(fd, id, response);
  };
  nlohmann::json failed = contained(path_, [&]() -> nlohmann::json {
    async_handler_(req, reply);
    return nullptr;
  });
  if (!failed.is_null()) reply(std::move(failed));
}

void ControlServer::answer(int fd, uint64_t id, const nlohmann::json& response) {
  auto it = clients_.find(fd);
  if (it == clients_.end() || it->second->id != id || !it->second->waiting) return;  // gone
  Client& c = *it->second;
  c.waiting = false;
  c.out = response.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  c.out.push_back('\n');
  arm_idle(c);
  loop_.modify_fd(fd, EPOLLOUT);
}

void ControlServer::on_client(int fd, uint32_t events) {
  auto& c = *clients_.at(fd);
  if (c.waiting) {
    // Its response is being worked on: only its hanging up matters (it will not get it).
    if (events & (EPOLLHUP | EPOLLERR)) drop(fd);
    return;
  }
  if (c.out.empty() && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (c.in.size() > kMaxRequest) return drop(fd);
        arm_idle(c);
        continue;
      }
      if (n == 0) {
        if (c.in.find('\n') == std::string::npos) return drop(fd);
        break;
      }
      if (errno == EAGAIN) break;
      return drop(fd);
    }
    auto nl = c.in.find('\n');
    if (nl == std::string::npos) return;
    if (async_handler_) return start_async(c, c.in.substr(0, nl));
    nlohmann::json response = respond(c.in.substr(0, nl));
    c.out = response.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    c.out.push_back('\n');
    loop_.modify_fd(fd, EPOLLOUT);
  }
  while (c.out_offset < c.out.size()) {
    ssize_t n = ::write(fd, c.out.data() + c.out_offset, c.out.size() - c.out_offset);
    if (n < 0) {
      if (errno == EAGAIN) return;
      return drop(fd);
    }
    c.out_offset += static_cast<size_t>(n);
    arm_idle(c);
  }
  drop(fd);
}

Expected<nlohmann::json> request(const std::string& socket_path, const nlohmann::json& message) {
  auto addr = unix_address(socket_path);
  if (!addr) return unexpected(addr.error());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) != 0) {
    int err = errno;
    ::close(fd);
    return fail("cannot reach isthmusd at " + socket_path + ": " + std::strerror(err) +
                " (is the daemon running? see --socket)");
  }
  const std::string refused = "isthmusd at " + socket_path +
                              " closed the connection without an answer (it serves a bounded "
                              "number of clients at once: try again)";
  std::string req = message.dump() + "\n";
  size_t off = 0;
  while (off < req.size()) {
    // MSG_NOSIGNAL: a daemon that closed the connection (a refusal) is an error, not SIGPIPE.
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      if (n < 0 && (err == EPIPE || err == ECONNRESET)) return fail(refused);
      return fail("writing to " + socket_path + " failed");
    }
    off += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (resp.empty()) return fail(refused);
  auto j = nlohmann::json::parse(resp, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("malformed response from isthmusd");
  return j;
}

Expected<nlohmann::json> call(const std::string& socket_path,
                              const std::vector<std::string>& args) {
  auto j = ctl::request(socket_path, nlohmann::json{{"args", args}});
  if (!j) return j;
  if (!j->value("ok", false)) return fail(j->value("error", std::string("unknown error")));
  return (*j)["result"];
}

}  // namespace isthmus::ctl
