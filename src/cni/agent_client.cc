#include "cni/agent_client.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace isthmus::cni {

using nlohmann::json;

namespace {

constexpr size_t kMaxResponse = 1 << 20;

AgentError transport(std::string message) {
  return AgentError{.kind = AgentError::Kind::Transport, .code = 0, .message = std::move(message)};
}

// Closes the descriptor on every path out of call().
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Expected<json, AgentError> parse_agent_response(std::string_view line) {
  auto j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean())
    return unexpected(transport("the agent's answer is not {\"ok\": ...} JSON"));
  if (j["ok"].get<bool>()) {
    auto it = j.find("result");
    return it == j.end() ? json::object() : *it;
  }
  AgentError e{.kind = AgentError::Kind::Agent, .code = 5, .message = {}};
  if (auto c = j.find("code");
      c != j.end() && c->is_number_integer() && c->get<int64_t>() > 0 && c->get<int64_t>() < 1000)
    e.code = static_cast<int>(c->get<int64_t>());
  if (auto m = j.find("error"); m != j.end() && m->is_string()) e.message = m->get<std::string>();
  if (e.message.empty()) e.message = "the agent failed without saying why";
  return unexpected(std::move(e));
}

Expected<json, AgentError> UnixAgentClient::call(const json& request) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path)
    return unexpected(transport("agent socket path " + path_ + " is too long"));
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);

  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return unexpected(transport(std::string("socket: ") + std::strerror(errno)));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>(timeout_.count() % 1000 * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    std::string why = "cannot connect to the Isthmus agent at " + path_ + ": " + std::strerror(err);
    if (err == ENOENT || err == ECONNREFUSED)
      return unexpected(
          AgentError{.kind = AgentError::Kind::NotRunning, .code = 0, .message = std::move(why)});
    if (err == EACCES || err == EPERM) why += " (the agent's socket is root-only: run as root)";
    return unexpected(transport(std::move(why)));
  }

  std::string out = request.dump(-1, ' ', false, json::error_handler_t::replace);
  out += '\n';
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::send(fd.get(), out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return unexpected(transport("sending to the Isthmus agent at " + path_ +
                                  " failed: " + std::strerror(errno)));
    off += static_cast<size_t>(n);
  }

  std::string in;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return unexpected(transport("the Isthmus agent at " + path_ + " did not answer within " +
                                    std::to_string(timeout_.count() / 1000) + " s"));
      return unexpected(
          transport("reading from the Isthmus agent failed: " + std::string(std::strerror(errno))));
    }
    if (n == 0) break;
    in.append(buf, static_cast<size_t>(n));
    if (in.find('\n') != std::string::npos) break;
    if (in.size() > kMaxResponse)
      return unexpected(transport("the Isthmus agent's answer is larger than 1 MiB"));
  }
  if (in.empty())
    return unexpected(
        transport("the Isthmus agent at " + path_ + " closed the connection without answering"));
  return parse_agent_response(std::string_view(in).substr(0, in.find('\n')));
}

}  // namespace isthmus::cni
