#include "cni/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "cni/json_read.h"
#include "core/ip.h"
#include "core/json_syntax.h"

namespace isthmus::cni {

using nlohmann::json;

namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string in_quotes(std::string_view s) {
  std::string out = "\"";
  out.append(s);
  out += '"';
  return out;
}

CniError invalid_config(std::string msg, std::string details = {}) {
  return cni_error(Code::kInvalidNetworkConfig, std::move(msg), std::move(details));
}

struct CommandName {
  Command command;
  std::string_view name;
};
constexpr CommandName kCommands[] = {{Command::Add, "ADD"},       {Command::Del, "DEL"},
                                     {Command::Check, "CHECK"},   {Command::Gc, "GC"},
                                     {Command::Status, "STATUS"}, {Command::Version, "VERSION"}};

}  // namespace

std::string_view command_name(Command c) {
  for (auto& e : kCommands)
    if (e.command == c) return e.name;
  return "?";
}

bool valid_container_id(std::string_view id) {
  if (id.empty() || !is_alnum(id[0])) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

Expected<void> validate_ifname(std::string_view name) {
  if (name.empty()) return fail("the interface name is empty");
  if (name.size() > 15)
    return fail("interface name " + in_quotes(name) + " is " + std::to_string(name.size()) +
                " bytes long; Linux allows at most 15");
  if (name == "." || name == "..")
    return fail("interface name " + in_quotes(name) + " is reserved");
  for (char c : name)
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) || c == '\0')
      return fail("interface name " + in_quotes(name) + " contains '/', ':' or whitespace");
  return {};
}

Expected<Invocation, CniError> parse_invocation(const Getenv& getenv) {
  auto get = [&](const char* name) { return getenv(name).value_or(""); };
  Invocation inv;
  std::string command = get("CNI_COMMAND");
  if (command.empty())
    return cni_fail(Code::kInvalidEnvironment, "CNI_COMMAND is not set",
                    "isthmus-cni is a CNI plugin: a container runtime runs it with CNI_COMMAND "
                    "(ADD, DEL, CHECK, GC, STATUS or VERSION) and the network configuration on "
                    "stdin");
  auto it = std::find_if(std::begin(kCommands), std::end(kCommands),
                         [&](const CommandName& e) { return e.name == command; });
  if (it == std::end(kCommands))
    return cni_fail(Code::kInvalidEnvironment,
                    "CNI_COMMAND " + in_quotes(command) + " is not a CNI command",
                    "expected ADD, DEL, CHECK, GC, STATUS or VERSION");
  inv.command = it->command;
  inv.container_id = get("CNI_CONTAINERID");
  inv.netns = get("CNI_NETNS");
  inv.ifname = get("CNI_IFNAME");
  inv.args = get("CNI_ARGS");
  inv.path = get("CNI_PATH");

  bool attachment =
      inv.command == Command::Add || inv.command == Command::Del || inv.command == Command::Check;
  if (!attachment) return inv;
  std::vector<std::string_view> missing;
  if (inv.container_id.empty()) missing.push_back("CNI_CONTAINERID");
  if (inv.netns.empty() && inv.command != Command::Del) missing.push_back("CNI_NETNS");
  if (inv.ifname.empty()) missing.push_back("CNI_IFNAME");
  if (!missing.empty()) {
    std::string names;
    for (auto n : missing) {
      if (!names.empty()) names += ", ";
      names.append(n);
    }
    return cni_fail(Code::kInvalidEnvironment, "required environment variables missing for " +
                                                   std::string(command_name(inv.command)) + ": " +
                                                   names);
  }
  if (!valid_container_id(inv.container_id))
    return cni_fail(
        Code::kInvalidEnvironment,
        "CNI_CONTAINERID " + in_quotes(inv.container_id) + " is not a valid container id",
        "it must start with a letter or digit, followed by letters, digits, '_', '.' "
        "or '-'");
  if (auto v = validate_ifname(inv.ifname); !v)
    return cni_fail(Code::kInvalidEnvironment, "CNI_IFNAME: " + v.error().message);
  return inv;
}

Expected<std::string> normalize_static_ip(std::string_view text) {
  auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) return fail("static IP " + in_quotes(text) + ": " + addr.error().message);
  if (slash != std::string_view::npos) {
    auto len_text = text.substr(slash + 1);
    unsigned len = 0;
    auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    unsigned max = addr->is_v4() ? 32 : 128;
    if (len_text.empty() || ec != std::errc() || end != len_text.data() + len_text.size() ||
        len > max)
      return fail("static IP " + in_quotes(text) + " has an invalid prefix length (0.." +
                  std::to_string(max) + ")");
  }
  if (addr->is_unspecified()) return fail("static IP " + in_quotes(text) + " is unspecified");
  return addr->to_string();
}

Expected<std::string> normalize_static_mac(std::string_view text) {
  auto mac = MacAddress::parse(text);
  if (!mac) return fail("static MAC: " + mac.error().message);
  if (mac->bytes[0] & 1)
    return fail("static MAC " + in_quotes(text) +
                " is a multicast address (the first octet is odd)");
  if (*mac == MacAddress{}) return fail("static MAC " + in_quotes(text) + " is all zero");
  return mac->to_string();
}

Expected<CniArgs, CniError> parse_cni_args(std::string_view args) {
  CniArgs out;
  size_t pos = 0;
  while (pos <= args.size()) {
    size_t end = args.find(';', pos);
    if (end == std::string_view::npos) end = args.size();
    std::string_view pair = args.substr(pos, end - pos);
    pos = end + 1;
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return cni_fail(Code::kInvalidEnvironment,
                      "CNI_ARGS: " + in_quotes(pair) + " is not KEY=VALUE",
                      "CNI_ARGS is a list of KEY=VALUE pairs separated by ';'");
    auto key = pair.substr(0, eq);
    auto value = pair.substr(eq + 1);
    if (key == "IP") {
      out.ips.clear();
      size_t p = 0;
      while (p <= value.size()) {
        size_t comma = value.find(',', p);
        if (comma == std::string_view::npos) comma = value.size();
        auto one = value.substr(p, comma - p);
        p = comma + 1;
        if (one.empty()) continue;
        auto ip = normalize_static_ip(one);
        if (!ip) return cni_fail(Code::kInvalidEnvironment, "CNI_ARGS IP: " + ip.error().message);
        out.ips.push_back(std::move(*ip));
      }
    } else if (key == "MAC") {
      auto mac = normalize_static_mac(value);
      if (!mac) return cni_fail(Code::kInvalidEnvironment, "CNI_ARGS MAC: " + mac.error().message);
      out.mac = std::move(*mac);
    }
  }
  return out;
}

std::string error_version_of(std::string_view stdin_text) {
  auto j = json::parse(stdin_text, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    auto it = j.find("cniVersion");
    if (it != j.end() && it->is_string() && version_index(it->get<std::string>()))
      return it->get<std::string>();
  }
  return std::string(latest_version());
}

namespace {

// ips and mac of one source of static requests (runtimeConfig or args.cni), validated.
Expected<void, CniError> read_static(const json& obj, std::string_view where, NetConf& c) {
  auto ips = opt_strings(obj, "ips", where);
  if (!ips) return unexpected(ips.error());
  if (*ips && !c.ips) {
    std::vector<std::string> out;
    for (auto& text : **ips) {
      auto ip = normalize_static_ip(text);
      if (!ip)
        return unexpected(invalid_config(json_path(where, "ips") + ": " + ip.error().message));
      if (std::find(out.begin(), out.end(), *ip) != out.end())
        return unexpected(
            invalid_config(json_path(where, "ips") + ": " + *ip + " is listed twice"));
      out.push_back(std::move(*ip));
    }
    c.ips = std::move(out);
  }
  auto mac = opt_string(obj, "mac", where);
  if (!mac) return unexpected(mac.error());
  if (*mac && !c.mac) {
    auto m = normalize_static_mac(**mac);
    if (!m) return unexpected(invalid_config(json_path(where, "mac") + ": " + m.error().message));
    c.mac = std::move(*m);
  }
  return {};
}

}  // namespace

Expected<NetConf, CniError> parse_netconf(std::string_view stdin_text) {
  json j = json::parse(stdin_text, nullptr, false);
  if (j.is_discarded())
    return cni_fail(
        Code::kDecodingFailure,
        "the network configuration on stdin is not valid JSON: " + json_syntax_error(stdin_text));
  if (!j.is_object())
    return unexpected(wrong_type("the network configuration on stdin", "a JSON object", j));
  NetConf c;

  // cniVersion first: the rest is read the way that version defines it.
  auto version = opt_string(j, "cniVersion", "");
  if (!version) return unexpected(version.error());
  c.cni_version = version->value_or("0.1.0");
  if (!version_index(c.cni_version))
    return cni_fail(Code::kIncompatibleVersion,
                    "cniVersion " + in_quotes(c.cni_version) + " is not supported by isthmus-cni",
                    "supported versions: " + supported_versions_text());

  auto name = opt_string(j, "name", "");
  if (!name) return unexpected(name.error());
  if (!*name || (*name)->empty())
    return unexpected(invalid_config("the network configuration has no \"name\"",
                                     "\"name\" is the Isthmus network to attach to"));
  if (!valid_container_id(**name))
    return unexpected(invalid_config(
        "network name " + in_quotes(**name) + " is not valid",
        "a name starts with a letter or digit, followed by letters, digits, '_', '.' or '-'"));
  c.name = std::move(**name);

  auto type = opt_string(j, "type", "");
  if (!type) return unexpected(type.error());
  c.type = type->value_or("");

  auto socket = opt_string(j, "agent_socket", "");
  if (!socket) return unexpected(socket.error());
  if (*socket) {
    if ((*socket)->empty() || (**socket)[0] != '/')
      return unexpected(
          invalid_config("agent_socket " + in_quotes(**socket) + " is not an absolute path"));
    // sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
    if ((*socket)->size() > 107 || (*socket)->find('\0') != std::string::npos)
      return unexpected(invalid_config("agent_socket " + in_quotes(**socket) +
                                       " is too long for a unix socket (at most 107 bytes)"));
    c.agent_socket = std::move(**socket);
  }

  auto kind = opt_string(j, "kind", "");
  if (!kind) return unexpected(kind.error());
  if (*kind) {
    if (**kind == "veth") {
      c.kind = Kind::Veth;
    } else if (**kind == "tap") {
      c.kind = Kind::Tap;
    } else {
      return unexpected(invalid_config("kind " + in_quotes(**kind) + " is not known",
                                       "\"veth\" (containers, the default) or \"tap\" (VMs)"));
    }
  }

  auto prev = opt_object(j, "prevResult", "");
  if (!prev) return unexpected(prev.error());
  if (*prev) c.prev_result = **prev;

  auto runtime = opt_object(j, "runtimeConfig", "");
  if (!runtime) return unexpected(runtime.error());
  if (*runtime) {
    if (auto r = read_static(**runtime, "runtimeConfig", c); !r) return unexpected(r.error());
  }
  auto args = opt_object(j, "args", "");
  if (!args) return unexpected(args.error());
  if (*args) {
    auto cni = opt_object(**args, "cni", "args");
    if (!cni) return unexpected(cni.error());
    if (*cni) {
      if (auto r = read_static(**cni, "args.cni", c); !r) return unexpected(r.error());
    }
  }

  // CNI spec 1.1.0 §2 GC; libcni also sends the list as "cni.dev/attachments", the name of an
  // earlier draft, which is read when the other is absent.
  std::string where = "cni.dev/valid-attachments";
  auto valid = opt_array(j, where, "");
  if (!valid) return unexpected(valid.error());
  if (!*valid) {
    where = "cni.dev/attachments";
    valid = opt_array(j, where, "");
    if (!valid) return unexpected(valid.error());
  }
  if (*valid) {
    for (size_t i = 0; i < (*valid)->size(); ++i) {
      const json& o = (**valid)[i];
      auto p = json_path(where, i);
      if (!o.is_object()) return unexpected(wrong_type(p, "an object", o));
      auto id = opt_string(o, "containerID", p);
      if (!id) return unexpected(id.error());
      auto ifname = opt_string(o, "ifname", p);
      if (!ifname) return unexpected(ifname.error());
      if (!*id || !*ifname)
        return unexpected(invalid_config(p + " needs \"containerID\" and \"ifname\""));
      c.valid_attachments.push_back(ValidAttachment{std::move(**id), std::move(**ifname)});
    }
  }
  return c;
}

}  // namespace isthmus::cni
