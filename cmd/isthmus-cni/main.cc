// isthmus-cni: the CNI plugin of Isthmus networks. Reads the CNI_* environment and the network
// configuration on stdin, asks the local agent (docs/agent-api.md) and prints the result; all of
// the logic is in src/cni.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cni/plugin.h"

namespace {

constexpr size_t kMaxStdin = 4 << 20;

// All of stdin, or nothing if stdin is a terminal (VERSION typed by hand).
bool read_stdin(std::string& out) {
  if (::isatty(STDIN_FILENO)) return true;
  char buf[65536];
  for (;;) {
    size_t n = std::fread(buf, 1, sizeof buf, stdin);
    out.append(buf, n);
    if (out.size() > kMaxStdin) return false;
    if (n < sizeof buf) return !std::ferror(stdin);
  }
}

void write_all(FILE* to, const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), to);
  std::fflush(to);
}

}  // namespace

int main() {
  using namespace isthmus::cni;
  std::string input;
  Output o;
  if (!read_stdin(input)) {
    o = Output{.exit_code = 1,
               .out = error_json(cni_error(Code::kIoFailure,
                                           "cannot read the network configuration from stdin "
                                           "(or it is larger than 4 MiB)"),
                                 latest_version())
                          .dump() +
                      "\n",
               .err = {}};
  } else {
    auto getenv = [](const char* name) -> std::optional<std::string> {
      const char* v = std::getenv(name);
      if (!v) return std::nullopt;
      return std::string(v);
    };
    auto agent_for = [](const std::string& path) -> std::unique_ptr<AgentClient> {
      return std::make_unique<UnixAgentClient>(path);
    };
    o = run(getenv, input, agent_for);
  }
  write_all(stdout, o.out);
  write_all(stderr, o.err);
  return o.exit_code;
}
