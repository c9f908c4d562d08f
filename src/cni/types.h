// CNI data types (CNI spec 1.1.0, section 5, and the earlier result formats): spec versions, the
// error result, and the ADD success result with its conversion between versions. Pure: JSON in,
// JSON out, no I/O.
//
// The internal model is the 1.1.0 result; 1.0.0 is the same without the 1.1.0 fields (interface
// `mtu`, `socketPath`, `pciID`; route `mtu`, `advmss`, `priority`, `table`, `scope`), 0.3.x and
// 0.4.0 add `version` ("4"/"6") to every IP, and 0.1.0/0.2.0 have `ip4`/`ip6` (the first address
// of each family, routes split by family) and no interfaces.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/expected.h"

namespace isthmus::cni {

// CNI spec 1.1.0 §5 "Error": well-known codes; 100+ are the plugin's (docs/agent-api.md).
enum class Code : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodingFailure = 6,
  kInvalidNetworkConfig = 7,
  kTryAgainLater = 11,
  kNotAvailable = 50,
  kNotAvailableLimited = 51,
  kPoolExhausted = 100,
  kAddressInUse = 101,
  kCheckFailed = 102,
};

// The error result: `msg` says what was wrong, `details` (optional) what to do about it.
struct CniError {
  int code = 0;
  std::string msg = {};
  std::string details = {};
};

inline CniError cni_error(Code code, std::string msg, std::string details = {}) {
  return CniError{static_cast<int>(code), std::move(msg), std::move(details)};
}
inline Unexpected<CniError> cni_fail(Code code, std::string msg, std::string details = {}) {
  return {cni_error(code, std::move(msg), std::move(details))};
}

// {"cniVersion", "code", "msg", "details"}; `details` only when there are some.
nlohmann::json error_json(const CniError& e, std::string_view cni_version);

// Every spec version this plugin speaks, oldest first (the VERSION answer).
std::span<const std::string_view> supported_versions();
// The newest supported version.
std::string_view latest_version();
// Position of `v` in supported_versions(), or nothing if it is not supported. Versions are
// compared by this position.
std::optional<size_t> version_index(std::string_view v);
bool version_at_least(std::string_view v, std::string_view min);  // both supported
// "0.1.0, 0.2.0, ..." for messages.
std::string supported_versions_text();

struct Interface {
  std::string name = {};
  std::string mac = {};
  std::string sandbox = {};
  std::optional<uint32_t> mtu = {};  // 1.1.0
  std::string socket_path = {};      // 1.1.0
  std::string pci_id = {};           // 1.1.0
  bool operator==(const Interface&) const = default;
};

struct IpConfig {
  std::string address = {};  // CIDR: "100.64.1.40/24"
  std::string gateway = {};
  std::optional<uint32_t> interface = {};  // index into Result::interfaces
  bool operator==(const IpConfig&) const = default;
};

struct Route {
  std::string dst = {};  // CIDR
  std::string gw = {};
  std::optional<uint32_t> mtu = {};       // 1.1.0
  std::optional<uint32_t> advmss = {};    // 1.1.0
  std::optional<uint32_t> priority = {};  // 1.1.0
  std::optional<uint32_t> table = {};     // 1.1.0
  std::optional<uint32_t> scope = {};     // 1.1.0
  bool operator==(const Route&) const = default;
};

struct Dns {
  std::vector<std::string> nameservers = {};
  std::string domain = {};
  std::vector<std::string> search = {};
  std::vector<std::string> options = {};
  bool empty() const {
    return nameservers.empty() && domain.empty() && search.empty() && options.empty();
  }
  bool operator==(const Dns&) const = default;
};

struct Result {
  std::vector<Interface> interfaces = {};
  std::vector<IpConfig> ips = {};
  std::vector<Route> routes = {};
  Dns dns = {};
  bool operator==(const Result&) const = default;
};

// Reads a result written in `version`'s format (a prevResult, or the agent's 1.0.0-shaped
// result). Checks types, CIDR addresses, gateway addresses and interface indices; `what` names
// the document in messages ("prevResult"). Errors are code 6 (wrong type) or 7 (bad value).
Expected<Result, CniError> parse_result(const nlohmann::json& j, std::string_view version,
                                        std::string_view what);

// Writes `r` in `version`'s format, with "cniVersion". A 0.1.0/0.2.0 result needs an address
// (code 7 otherwise).
Expected<nlohmann::json, CniError> render_result(const Result& r, std::string_view version);

// The ADD result of a plugin chained after others: `prev` with `ours` appended (our IPs' interface
// indices shifted past prev's interfaces; our DNS servers, domain and search appended where
// prev lacks them).
Result merge_results(const Result& prev, const Result& ours);

}  // namespace isthmus::cni
