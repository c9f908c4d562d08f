#include "ctl/control.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include "ctl/commands.h"

namespace isthmus::ctl {
namespace {

std::string temp_socket() {
  auto dir =
      std::filesystem::temp_directory_path() / ("isthmus-ctl-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / "ctl.sock").string();
}

TEST(Control, RequestResponseAndErrors) {
  EventLoop loop;
  ControlServer server(loop, [](const std::vector<std::string>& args) -> Expected<nlohmann::json> {
    if (args.size() == 2 && args[0] == "echo") return nlohmann::json{{"said", args[1]}};
    return fail("unknown command");
  });
  auto path = temp_socket();
  ASSERT_TRUE(server.listen(path));
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  Expected<nlohmann::json> ok, bad;
  std::thread client([&] {
    ok = call(path, {"echo", "hello"});
    bad = call(path, {"nope"});
    loop.post([&] { loop.stop(); });
  });
  loop.run();
  client.join();
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)["said"], "hello");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "unknown command");
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

// A handler that throws (a field of the wrong type, or anything else) answers an error and the
// server goes on serving.
TEST(Control, AnExceptionInAHandlerIsAnErrorResponse) {
  EventLoop loop;
  ControlServer server(loop, RawHandler([](const nlohmann::json& req) -> nlohmann::json {
                         if (req.value("op", "") == "json")
                           return req.at("name").get<std::string>();
                         if (req.value("op", "") == "other") throw std::runtime_error("boom");
                         return {{"ok", true}};
                       }));
  auto path = temp_socket();
  ASSERT_TRUE(server.listen(path));
  Expected<nlohmann::json> typed, other, after;
  std::thread client([&] {
    typed = request(path, {{"op", "json"}, {"name", 5}});
    other = request(path, {{"op", "other"}});
    after = request(path, {{"op", "fine"}});
    loop.post([&] { loop.stop(); });
  });
  loop.run();
  client.join();
  ASSERT_TRUE(typed);
  EXPECT_EQ((*typed)["ok"], false);
  EXPECT_EQ((*typed)["code"], 6);
  EXPECT_NE((*typed)["error"].get<std::string>().find("malformed request: "), std::string::npos);
  ASSERT_TRUE(other);
  EXPECT_EQ((*other)["code"], 999);
  EXPECT_EQ((*other)["error"], "internal error: boom");
  ASSERT_TRUE(after);
  EXPECT_EQ((*after)["ok"], true);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(Control, UnreachableDaemonIsAClearError) {
  auto r = call("/nonexistent/isthmusd.sock", {"show"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot reach isthmusd"), std::string::npos);
}

// The command table: every id once, in order; no two commands claim the same words; a request is
// the command with the most matching words, whatever follows them.
TEST(Commands, TableIsConsistent) {
  std::set<std::string> synopses;
  size_t i = 0;
  for (const Command& c : commands()) {
    EXPECT_EQ(static_cast<size_t>(c.id), i++);
    EXPECT_EQ(&command(c.id), &c);
    EXPECT_FALSE(c.words.empty());
    EXPECT_FALSE(c.help.empty()) << c.words;
    EXPECT_TRUE(synopses.insert(synopsis(c)).second) << synopsis(c);
    // Its own words (the first of each a|b), and more after them, find it.
    std::vector<std::string> words;
    std::istringstream in{std::string(c.words)};
    for (std::string w; in >> w;) words.push_back(w.substr(0, w.find('|')));
    EXPECT_EQ(find_command(words), &c) << c.words;
    words.push_back("x");
    EXPECT_EQ(find_command(words), &c) << c.words;
    // Fewer words are not it.
    words.resize(words.size() - 2);
    EXPECT_NE(find_command(words), &c) << c.words;
    // Its example is it.
    EXPECT_EQ(find_command(example_args(c)), &c) << c.example;
  }
}

TEST(Commands, FindsTheCommandWithTheMostWords) {
  auto id = [](std::vector<std::string> args) {
    const Command* c = find_command(args);
    return c ? static_cast<int>(c->id) : -1;
  };
  EXPECT_EQ(id({"show", "bgp", "ipv4", "rtc"}), static_cast<int>(CommandId::ShowBgpRtc));
  EXPECT_EQ(id({"show", "bgp", "ipv6", "unicast", "::/0"}),
            static_cast<int>(CommandId::ShowBgpUnicast));
  EXPECT_EQ(id({"show", "bgp", "ipv6", "2001:db8::1"}),
            static_cast<int>(CommandId::ShowBgpUnicastShort));
  EXPECT_EQ(id({"show", "bgp", "neighbors"}), static_cast<int>(CommandId::ShowBgpNeighbor));
  EXPECT_EQ(id({"endpoint", "del", "--network", "blue"}), static_cast<int>(CommandId::EndpointDel));
  EXPECT_EQ(id({"show", "bgp"}), -1);
  EXPECT_EQ(id({"endpoint"}), -1);
  EXPECT_EQ(id({"show", "bgp", "ipv5"}), -1);
  EXPECT_EQ(id({}), -1);
}

TEST(Commands, UnknownCommandNamesTheNearestCommands) {
  EXPECT_EQ(unknown_command({"show", "kernel", "routes"}),
            "unknown command \"show kernel routes\"; try: show kernel fdb vni VNI");
  EXPECT_EQ(unknown_command({"endpoint", "list"}),
            "unknown command \"endpoint list\"; try: endpoint add --network NAME --tap NAME "
            "[--mac MAC] [--ip ADDRESS]..., endpoint del --network NAME --tap NAME");
  // Words no command begins with: every command.
  const std::string all = unknown_command({"frobnicate"});
  EXPECT_EQ(all.rfind("unknown command \"frobnicate\"; try: show bgp summary, ", 0), 0u) << all;
  for (const Command& c : commands())
    EXPECT_NE(all.find(synopsis(c)), std::string::npos) << synopsis(c);
  const std::string bgp = unknown_command({"show", "bgp", "frobnicate"});
  EXPECT_NE(bgp.find("show bgp ipv4 rtc"), std::string::npos) << bgp;
  EXPECT_EQ(bgp.find("show evpn"), std::string::npos) << bgp;
}

TEST(Commands, ExpectedAndRole) {
  EXPECT_EQ(expected(CommandId::ShowEvpnMac), "expected: show evpn mac vni VNI");
  EXPECT_EQ(expected(CommandId::ClearBgpNeighbor),
            "expected: clear bgp neighbor ADDRESS [hard | graceful | soft [in|out]]");
  EXPECT_EQ(needs_agent_role(command(CommandId::ShowNetwork)),
            "show network: a command of the node agent role, which this isthmusd does not run "
            "(its configuration has no agent: section)");
}

// isthmusctl --help: every command, the agent's under their own heading, each help in one column
// (on a line of its own after a long synopsis), no line over 100 characters.
TEST(Commands, HelpListsEveryCommand) {
  const std::string help = commands_help();
  std::vector<std::string> lines;
  std::istringstream in(help);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  for (const auto& line : lines) EXPECT_LE(line.size(), 100u) << line;
  ASSERT_GE(lines.size(), 2u);
  const size_t column = lines[1].find("every neighbor");
  ASSERT_NE(column, std::string::npos) << help;
  const auto agent = std::find_if(lines.begin(), lines.end(),
                                  [](const auto& l) { return l.starts_with("agent commands"); });
  ASSERT_NE(agent, lines.end()) << help;
  for (const Command& c : commands()) {
    const std::string start = "  " + synopsis(c);
    auto at = std::find_if(lines.begin(), lines.end(), [&](const auto& l) {
      return l == start ||
             (l.starts_with(start + " ") && l.find_first_not_of(' ', start.size()) == column);
    });
    ASSERT_NE(at, lines.end()) << start << "\n" << help;
    EXPECT_EQ(at > agent, c.needs_agent) << start;
    const std::string& with_help = *at == start ? *(at + 1) : *at;
    EXPECT_EQ(with_help.substr(std::min(column, with_help.size())), c.help) << with_help;
    if (*at == start) {
      EXPECT_EQ(with_help.find_first_not_of(' '), column) << with_help;
    }
  }
}

}  // namespace
}  // namespace isthmus::ctl
