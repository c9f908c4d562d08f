#include "cni/plugin.h"

namespace isthmus::cni {

using nlohmann::json;

namespace {

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Output error_output(const CniError& e, std::string_view version) {
  return Output{.exit_code = 1, .out = dump(error_json(e, version)), .err = {}};
}

Output version_output(std::string_view stdin_text) {
  json versions = json::array();
  for (auto v : supported_versions()) versions.push_back(v);
  // CNI spec 1.1.0 §5 "Version": cniVersion is the one given on input.
  return Output{.exit_code = 0,
                .out = dump({{"cniVersion", error_version_of(stdin_text)},
                             {"supportedVersions", std::move(versions)}}),
                .err = {}};
}

std::string in_quotes(std::string_view s) {
  std::string out = "\"";
  out.append(s);
  out += '"';
  return out;
}

// What the runtime passed as the attachment: the key of every agent request.
json attachment_request(std::string_view op, const NetConf& conf, const Invocation& inv) {
  return {{"op", op},
          {"network", conf.name},
          {"container_id", inv.container_id},
          {"ifname", inv.ifname},
          {"netns", inv.netns}};
}

class Session {
 public:
  Session(const Invocation& inv, const NetConf& conf, AgentClient& agent)
      : inv_(inv), conf_(conf), agent_(agent) {}

  Output add() {
    auto args = parse_cni_args(inv_.args);
    if (!args) return failed(args.error());
    std::optional<Result> prev;
    if (conf_.prev_result) {
      auto p = parse_result(*conf_.prev_result, conf_.cni_version, "prevResult");
      if (!p) return failed(p.error());
      // CNI spec 1.1.0 §2 ADD: an interface of the requested name must not exist already.
      for (auto& i : p->interfaces)
        if (i.name == inv_.ifname && i.sandbox == inv_.netns)
          return failed(cni_error(
              Code::kInvalidEnvironment,
              "CNI_IFNAME " + in_quotes(inv_.ifname) + " exists in the container already",
              "an earlier plugin of the chain created it (prevResult); give isthmus-cni an "
              "interface of its own or put it first in the chain"));
      prev = std::move(*p);
    }
    json req = attachment_request("add", conf_, inv_);
    if (conf_.kind == Kind::Tap) {
      req.erase("netns");
      req["kind"] = "tap";
    } else {
      req["kind"] = "veth";
    }
    // runtimeConfig / args.cni first, CNI_ARGS only for what they leave out (CONVENTIONS.md).
    const auto& ips = conf_.ips ? *conf_.ips : args->ips;
    const auto& mac = conf_.mac ? *conf_.mac : args->mac;
    if (!ips.empty()) req["ips"] = ips;
    if (!mac.empty()) req["mac"] = mac;

    auto answer = agent_.call(req);
    if (!answer) return failed(agent_error_to_cni(answer.error(), Command::Add, conf_.name));
    // The agent's result is 1.0.0-shaped with the 1.1.0 interface MTU: read it as 1.1.0.
    auto ours = parse_result(*answer, "1.1.0", "the agent's result");
    if (!ours)
      return failed(cni_error(Code::kIoFailure,
                              "the Isthmus agent sent a malformed result: " + ours.error().msg));
    Result result = prev ? merge_results(*prev, *ours) : std::move(*ours);
    auto rendered = render_result(result, conf_.cni_version);
    if (!rendered) return failed(rendered.error());
    return Output{.exit_code = 0, .out = dump(*rendered), .err = {}};
  }

  Output del() {
    // Best effort (CNI spec 1.1.0 §2 DEL): CNI_ARGS and prevResult are not needed and not read,
    // so a DEL never fails on them.
    auto answer = agent_.call(attachment_request("del", conf_, inv_));
    if (!answer) {
      // "Container unknown": nothing is attached, which is what DEL wants.
      if (answer.error().kind == AgentError::Kind::Agent &&
          answer.error().code == static_cast<int>(Code::kUnknownContainer))
        return {};
      return failed(agent_error_to_cni(answer.error(), Command::Del, conf_.name));
    }
    return {};
  }

  Output check() {
    // CNI spec 1.1.0 §2 CHECK: the runtime must pass the prevResult of the ADD.
    if (!conf_.prev_result)
      return failed(cni_error(Code::kInvalidNetworkConfig, "CHECK needs a prevResult",
                              "the runtime passes the result of the ADD as prevResult"));
    auto prev = parse_result(*conf_.prev_result, conf_.cni_version, "prevResult");
    if (!prev) return failed(prev.error());
    auto shaped = render_result(*prev, "1.1.0");
    if (!shaped) return failed(shaped.error());
    shaped->erase("cniVersion");
    json req = attachment_request("check", conf_, inv_);
    req["prev_result"] = std::move(*shaped);
    auto answer = agent_.call(req);
    if (!answer) return failed(agent_error_to_cni(answer.error(), Command::Check, conf_.name));
    return {};
  }

  Output gc() {
    json valid = json::array();
    for (auto& a : conf_.valid_attachments)
      valid.push_back({{"container_id", a.container_id}, {"ifname", a.ifname}});
    auto answer = agent_.call({{"op", "gc"}, {"network", conf_.name}, {"valid", valid}});
    if (!answer) return failed(agent_error_to_cni(answer.error(), Command::Gc, conf_.name));
    Output o;
    if (answer->is_object() && answer->contains("removed") && (*answer)["removed"].is_array() &&
        !(*answer)["removed"].empty())
      o.err = "isthmus-cni: GC removed " + std::to_string((*answer)["removed"].size()) +
              " stale attachment(s) of network " + in_quotes(conf_.name) + "\n";
    return o;
  }

  Output status() {
    auto answer = agent_.call({{"op", "status"}, {"network", conf_.name}});
    if (!answer) return failed(agent_error_to_cni(answer.error(), Command::Status, conf_.name));
    return {};
  }

 private:
  Output failed(const CniError& e) { return error_output(e, conf_.cni_version); }

  const Invocation& inv_;
  const NetConf& conf_;
  AgentClient& agent_;
};

}  // namespace

CniError agent_error_to_cni(const AgentError& e, Command command, std::string_view network) {
  if (command == Command::Status) {
    // CNI spec 1.1.0 §2 STATUS: 50 (or 51) whenever ADD cannot be served.
    int code = e.kind == AgentError::Kind::Agent && (e.code == 50 || e.code == 51) ? e.code : 50;
    std::string msg = e.kind == AgentError::Kind::Agent
                          ? "network " + in_quotes(network) + " is not ready: " + e.message
                          : e.message;
    return CniError{code, std::move(msg),
                    e.kind == AgentError::Kind::NotRunning ? "is isthmusd running with an "
                                                             "agent: section?"
                                                           : ""};
  }
  switch (e.kind) {
    case AgentError::Kind::NotRunning:
      return cni_error(Code::kTryAgainLater, "no Isthmus agent is running: " + e.message,
                       "start isthmusd with an agent: section (or set agent_socket in the "
                       "network configuration to the agent's api_socket)");
    case AgentError::Kind::Transport:
      return cni_error(Code::kIoFailure, e.message);
    case AgentError::Kind::Agent:
      break;
  }
  return CniError{e.code, e.message, {}};
}

Output run(const Getenv& getenv, std::string_view stdin_text, const AgentFactory& agent_for) {
  auto inv = parse_invocation(getenv);
  if (!inv) return error_output(inv.error(), error_version_of(stdin_text));
  if (inv->command == Command::Version) return version_output(stdin_text);

  auto conf = parse_netconf(stdin_text);
  if (!conf) return error_output(conf.error(), error_version_of(stdin_text));
  auto command = inv->command;
  // CNI spec 1.1.0: CHECK exists from 0.4.0, GC and STATUS from 1.1.0.
  std::string_view since = command == Command::Check                              ? "0.4.0"
                           : command == Command::Gc || command == Command::Status ? "1.1.0"
                                                                                  : "0.1.0";
  if (!version_at_least(conf->cni_version, since))
    return error_output(
        cni_error(Code::kIncompatibleVersion,
                  std::string(command_name(command)) + " needs cniVersion " + std::string(since) +
                      " or later; the configuration says " + conf->cni_version),
        conf->cni_version);

  auto agent = agent_for(conf->agent_socket);
  Session s(*inv, *conf, *agent);
  switch (command) {
    case Command::Add:
      return s.add();
    case Command::Del:
      return s.del();
    case Command::Check:
      return s.check();
    case Command::Gc:
      return s.gc();
    case Command::Status:
      return s.status();
    case Command::Version:
      break;
  }
  return version_output(stdin_text);
}

}  // namespace isthmus::cni
