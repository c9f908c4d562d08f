// isthmusctl: the operator's CLI. Sends a command to isthmusd's control socket and prints the
// answer as router-style text, or as JSON with -o json.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ctl/control.h"
#include "ctl/format.h"

namespace {

constexpr const char* kDefaultSocket = "/run/isthmus/isthmusd.sock";

void usage(FILE* to) {
  std::fprintf(to,
               "usage: isthmusctl [--socket PATH] [-o text|json] COMMAND\n"
               "\n"
               "commands:\n"
               "  show bgp summary\n"
               "  show bgp neighbor [ADDRESS]\n"
               "  show bgp ipv4 unicast [PREFIX|ADDRESS]\n"
               "  show bgp ipv6 unicast [PREFIX|ADDRESS]\n"
               "  show bgp l2vpn evpn [route-type N] [vni V]\n"
               "  show bgp ipv4 rtc\n"
               "  show evpn vni\n"
               "  show evpn mac vni VNI\n"
               "  show evpn ip-vrf\n"
               "  show evpn prefix vni L3VNI\n"
               "  evpn mac add|del VNI MAC [IP] [sticky]\n"
               "  evpn prefix add|del L3VNI PREFIX\n"
               "  clear evpn dup-addr vni VNI [mac MAC]\n"
               "  show network\n"
               "  show endpoint\n"
               "  show kernel fdb vni VNI\n"
               "  clear bgp neighbor ADDRESS [hard | graceful | soft [in|out]]\n"
               "\n"
               "options:\n"
               "  --socket PATH  control socket of isthmusd (default %s, or $ISTHMUS_SOCKET)\n"
               "  -o json        print the daemon's JSON answer\n",
               kDefaultSocket);
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
