// isthmusctl: the operator's CLI. Sends a command to isthmusd's control socket and prints the
// answer as router-style text, or as JSON with -o json.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ctl/commands.h"
#include "ctl/control.h"
#include "ctl/format.h"

namespace {

constexpr const char* kDefaultSocket = "/run/isthmus/isthmusd.sock";

void usage(FILE* to) {
  std::fprintf(to,
               "usage: isthmusctl [--socket PATH] [-o text|json] COMMAND\n"
               "\n"
               "%s"
               "\n"
               "options:\n"
               "  --socket PATH  control socket of isthmusd (default %s, or $ISTHMUS_SOCKET)\n"
               "  -o json        print the daemon's JSON answer\n",
               isthmus::ctl::commands_help().c_str(), kDefaultSocket);
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket =
      std::getenv("ISTHMUS_SOCKET") ? std::getenv("ISTHMUS_SOCKET") : kDefaultSocket;
  bool json = false;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    }
    if (a == "--socket" || a == "-s") {
      if (++i == argc) {
        std::fprintf(stderr, "isthmusctl: %s needs a path\n", a.c_str());
        return 2;
      }
      socket = argv[i];
    } else if (a.rfind("--socket=", 0) == 0) {
      socket = a.substr(9);
    } else if (a == "-o" || a == "--output") {
      if (++i == argc) {
        std::fprintf(stderr, "isthmusctl: %s needs text or json\n", a.c_str());
        return 2;
      }
      std::string f = argv[i];
      if (f != "json" && f != "text") {
        std::fprintf(stderr, "isthmusctl: output format \"%s\" is not known (text or json)\n",
                     f.c_str());
        return 2;
      }
      json = f == "json";
    } else if (a == "-j" || a == "--json") {
      json = true;
    } else {
      args.push_back(a);
    }
  }
  if (args.empty()) {
    usage(stderr);
    return 2;
  }
  auto r = isthmus::ctl::call(socket, args);
  if (!r) {
    std::fprintf(stderr, "isthmusctl: %s\n", r.error().message.c_str());
    return 1;
  }
  std::string out = json ? r->dump(2) + "\n" : isthmus::ctl::format_text(args, *r);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
