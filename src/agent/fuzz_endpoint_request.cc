// Fuzzes the requests of the endpoint API socket (docs/agent-api.md), what isthmus-cni and
// isthmusctl send: the line is parsed as the server parses it, then its fields are checked by
// parse_api_request. Any bytes give a request or an error with a code of the API's table and a
// message, never a crash; the kernel and IPAM are not touched.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "agent/endpoints.h"

using namespace isthmus::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto json = nlohmann::json::parse(line, nullptr, false);
  if (json.is_discarded()) return 0;
  auto r = parse_api_request(json);
  if (!r) {
    const ApiError& e = r.error();
    if ((e.code != 4 && e.code != 6 && e.code != 7) || e.message.empty()) std::abort();
    // The message goes back in a JSON response: it must serialize, whatever bytes it quotes.
    (void)nlohmann::json{{"error", e.message}}.dump(-1, ' ', false,
                                                    nlohmann::json::error_handler_t::replace);
    return 0;
  }
  const std::string& op = r->op;
  if (op != "version" && op != "list" && op != "status" && op != "gc" && op != "del" &&
      op != "check" && op != "add")
    std::abort();
  // Every op but version and list names a network; del, check and add a whole attachment.
  if (op != "version" && op != "list" && !json.contains("network")) std::abort();
  if (op == "add" || op == "del" || op == "check") {
    if (!json["container_id"].is_string() || !json["ifname"].is_string()) std::abort();
    (void)Endpoints::host_ifname(r->endpoint.key);
  }
  if (r->endpoint.mac && (r->endpoint.mac->bytes[0] & 1)) std::abort();
  return 0;
}
