// What a CNI runtime hands the plugin (CNI spec 1.1.0 §2 "Parameters", §3 "Deriving request
// configuration"): the CNI_* environment and the network configuration on stdin, parsed and
// validated. Pure: the environment comes in as a lookup function.
//
// Static requests (CONVENTIONS.md): `runtimeConfig.ips`/`mac` (capabilities), `args.cni.ips`/`mac`,
// CNI_ARGS `IP=`/`MAC=`; the first of these that is given wins, per field, as the conventions
// ask ("if a runtime passes an equivalent key via args ... the plugin must ignore CNI_ARGS").
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cni/types.h"

namespace isthmus::cni {

inline constexpr std::string_view kDefaultAgentSocket = "/run/isthmus/agent.sock";

enum class Command : uint8_t { Add, Del, Check, Gc, Status, Version };
std::string_view command_name(Command c);

// The CNI_* variables; empty and unset are the same (as in libcni).
struct Invocation {
  Command command = Command::Version;
  std::string container_id = {};
  std::string netns = {};
  std::string ifname = {};
  std::string args = {};  // CNI_ARGS, raw
  std::string path = {};  // CNI_PATH: unused (nothing is delegated), accepted
};

using Getenv = std::function<std::optional<std::string>(const char* name)>;

// CNI spec 1.1.0 §2: CNI_COMMAND always; CNI_CONTAINERID and CNI_IFNAME for ADD, DEL and CHECK;
// CNI_NETNS for ADD and CHECK (DEL may come without it). All missing variables are named in one
// error (code 4); an invalid container id or interface name is code 4 too.
Expected<Invocation, CniError> parse_invocation(const Getenv& getenv);

// Container ids: alphanumeric first, then alphanumerics, '_', '.', '-'. Network names follow the
// same rule.
bool valid_container_id(std::string_view id);
// Linux interface names as CNI restricts them: 1..15 bytes, not "." or "..", no '/', ':' or
// whitespace.
Expected<void> validate_ifname(std::string_view name);

// A static IP request, "<ip>[/<prefix>]". The agent takes the bare address (docs/agent-api.md):
// the prefix length, if given, is checked for range and then left to the network's subnet.
Expected<std::string> normalize_static_ip(std::string_view text);
// A static MAC: aa:bb:cc:dd:ee:ff, unicast and not all zero; returned in lower case.
Expected<std::string> normalize_static_mac(std::string_view text);

// CNI_ARGS: "K=V;K2=V2". IP= (comma-separated list) and MAC= are ours; other keys (IgnoreUnknown,
// K8S_POD_NAME, ...) are ignored. A pair without '=' or a bad IP/MAC is code 4.
struct CniArgs {
  std::vector<std::string> ips = {};
  std::string mac = {};
};
Expected<CniArgs, CniError> parse_cni_args(std::string_view args);

struct ValidAttachment {
  std::string container_id = {};
  std::string ifname = {};
  bool operator==(const ValidAttachment&) const = default;
};

enum class Kind : uint8_t { Veth, Tap };

struct NetConf {
  std::string cni_version = {};  // a supported version
  std::string name = {};         // the Isthmus network
  std::string type = {};
  std::string agent_socket = std::string(kDefaultAgentSocket);
  Kind kind = Kind::Veth;
  std::optional<nlohmann::json> prev_result = {};  // raw, in cni_version's format
  // Static requests from the config: runtimeConfig first, then args.cni.
  std::optional<std::vector<std::string>> ips = {};
  std::optional<std::string> mac = {};
  // GC: cni.dev/valid-attachments (or the draft's cni.dev/attachments). Absent or null means none
  // is valid: libcni sends null, or nothing, for an empty list.
  std::vector<ValidAttachment> valid_attachments = {};
};

// The cniVersion of a config, for the error result before the config is validated: the given
// version when it is supported, else the latest.
std::string error_version_of(std::string_view stdin_text);

// Parses stdin. Not JSON / not an object / a field of the wrong type: 6. A missing cniVersion
// means 0.1.0 (as libcni reads it); an unsupported one: 1, listing the supported versions. No or
// a bad name, a bad agent_socket, kind, static IP or MAC: 7.
Expected<NetConf, CniError> parse_netconf(std::string_view stdin_text);

}  // namespace isthmus::cni
