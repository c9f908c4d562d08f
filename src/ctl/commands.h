// The control socket's commands: one table of every command isthmusd accepts, with its words, its
// arguments and one line of help. isthmusctl --help prints it; isthmusd dispatches by it
// (daemon/commands.cc, daemon/agent_setup.cc: a handler per CommandId) and names its entries when
// it is sent words no command begins with.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace isthmus::ctl {

enum class CommandId : uint8_t {
  ShowBgpSummary,
  ShowBgpNeighbor,
  ShowBgpUnicast,
  ShowBgpUnicastShort,
  ShowBgpEvpn,
  ShowBgpRtc,
  ShowBgpVrf,
  ClearBgpNeighbor,
  ShowEvpnVni,
  ShowEvpnMac,
  EvpnMac,
  ClearEvpnDupAddr,
  ShowEvpnIpVrf,
  ShowEvpnPrefix,
  EvpnPrefix,
  ShowNetwork,
  ShowEndpoint,
  ShowKernelFdb,
  EndpointAdd,
  EndpointDel,
};

struct Command {
  CommandId id;
  // The words that name the command, one space apart; "a|b" is either word. A request whose
  // first words these are is this command's (the command with the most words when several
  // match), whatever follows them.
  std::string_view words;
  // What follows the words (empty: nothing): UPPERCASE for a value, [optional], a|b.
  std::string_view arguments;
  std::string_view help;
  // The command as an operator types it, one space apart (the tests send it to the daemon).
  std::string_view example;
  // Only a daemon running the node agent role (agent: in its configuration) has it.
  bool needs_agent = false;
};

// Every command, in the order isthmusctl --help lists them.
std::span<const Command> commands();
const Command& command(CommandId id);

// The command whose words begin `args`; nullptr when none does.
const Command* find_command(const std::vector<std::string>& args);

// "show evpn mac vni VNI": the words, then the arguments.
std::string synopsis(const Command& c);
// The example, a word each.
std::vector<std::string> example_args(const Command& c);
// "expected: " and the synopsis: the answer to a command given arguments it does not take.
std::string expected(CommandId id);

// The daemon's answer to words no command begins with: them, and the commands that share the
// most first words with them (every command when none shares even the first).
std::string unknown_command(const std::vector<std::string>& args);
// The daemon's answer to an agent command when it does not run the agent role.
std::string needs_agent_role(const Command& c);

// The commands section of isthmusctl --help: each synopsis with its help, the agent's apart.
std::string commands_help();

}  // namespace isthmus::ctl
