#include "ctl/control.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
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

// A raw client of the socket, driven from the loop's thread: connecting needs no accept (the
// connection waits in the backlog).
int connect_to(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ADD_FAILURE() << "connect " << path << ": " << std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

void send_text(int fd, const std::string& text) {
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
}

// Runs the loop until `done` or `limit` has passed; whether `done`.
template <class F>
bool run_until(EventLoop& loop, F done, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() >= end) return false;
    loop.run_once(std::chrono::milliseconds(10));
  }
  return true;
}

// What the server has sent on `fd`, once it has closed it; "(open)" while it has not.
std::string read_to_end(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return out;
    return "(open)";
  }
}

// One client more than max_clients is closed at once; those connected are served, and once one
// has gone a new one is served again.
TEST(Control, ClientsOverTheCapAreRefusedAndTheOthersServed) {
  EventLoop loop;
  ControlServer server(
      loop, [](const std::vector<std::string>&) -> Expected<nlohmann::json> { return "hi"; },
      ServerLimits{.max_clients = 2, .idle_timeout = std::chrono::seconds(60)});
  auto path = temp_socket();
  ASSERT_TRUE(server.listen(path));
  const int a = connect_to(path);
  const int b = connect_to(path);
  ASSERT_TRUE(run_until(
      loop, [&] { return server.clients() == 2; }, std::chrono::seconds(2)));
  const int c = connect_to(path);
  const int d = connect_to(path);
  ASSERT_TRUE(run_until(
      loop, [&] { return server.refused() == 2; }, std::chrono::seconds(2)));
  EXPECT_EQ(read_to_end(c), "");  // closed without a word
  EXPECT_EQ(read_to_end(d), "");
  EXPECT_EQ(server.clients(), 2u);
  // isthmusctl's side of a refusal.
  Expected<nlohmann::json> refused;
  std::thread client([&] { refused = call(path, {"x"}); });
  EXPECT_TRUE(run_until(
      loop, [&] { return server.refused() == 3; }, std::chrono::seconds(2)));
  client.join();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message,
            "isthmusd at " + path +
                " closed the connection without an answer (it serves a bounded number of "
                "clients at once: try again)");
  // The connected ones are served.
  send_text(a, "{\"args\": [\"ping\"]}\n");
  ASSERT_TRUE(run_until(
      loop, [&] { return server.clients() == 1; }, std::chrono::seconds(2)));
  EXPECT_EQ(read_to_end(a), "{\"ok\":true,\"result\":\"pong\"}\n");
  // Below the cap again: a new client is served.
  const int e = connect_to(path);
  send_text(e, "{\"args\": [\"x\"]}\n");
  ASSERT_TRUE(run_until(
      loop, [&] { return read_to_end(e) != "(open)"; }, std::chrono::seconds(2)));
  EXPECT_EQ(server.refused(), 3u);
  for (int fd : {a, b, c, d, e}) ::close(fd);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

// A client that sends nothing, or stops half-way through its request, is closed after the idle
// timeout; one that keeps sending is not closed meanwhile.
TEST(Control, IdleClientsAreClosed) {
  EventLoop loop;
  ControlServer server(
      loop, [](const std::vector<std::string>&) -> Expected<nlohmann::json> { return "hi"; },
      ServerLimits{.max_clients = 8, .idle_timeout = std::chrono::milliseconds(300)});
  auto path = temp_socket();
  ASSERT_TRUE(server.listen(path));
  const int silent = connect_to(path);
  const int halfway = connect_to(path);
  const int slow = connect_to(path);
  send_text(halfway, "{\"args\": [");
  ASSERT_TRUE(run_until(
      loop, [&] { return server.clients() == 3; }, std::chrono::seconds(2)));
  const auto start = Clock::now();
  // `slow` sends a byte every 100 ms: never idle for 300 ms.
  const std::string request = "{\"args\": [\"ping\"]}\n";
  size_t sent = 0;
  while (server.clients() > 1 && Clock::now() - start < std::chrono::seconds(3)) {
    send_text(slow, request.substr(sent++ % (request.size() - 1), 1));
    run_until(
        loop, [] { return false; }, std::chrono::milliseconds(100));
  }
  const auto took = Clock::now() - start;
  EXPECT_EQ(server.clients(), 1u);
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_EQ(read_to_end(silent), "");
  EXPECT_EQ(read_to_end(halfway), "");
  EXPECT_EQ(read_to_end(slow), "(open)");
  for (int fd : {silent, halfway, slow}) ::close(fd);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

// An asynchronous handler: requests wait for their replies without holding up the others (the
// second answered first), are not closed as idle meanwhile, and one whose client went away is
// dropped at once; its late reply goes nowhere. A reply given before the handler returns works
// too, and a request that is not a JSON object never reaches the handler.
TEST(Control, AsyncRepliesComeInAnyOrderAndWaitingIsNotIdle) {
  EventLoop loop;
  std::map<std::string, std::function<void(nlohmann::json)>> waiting;
  size_t calls = 0;
  ControlServer server(
      loop,
      AsyncRawHandler([&](const nlohmann::json& req, std::function<void(nlohmann::json)> reply) {
        ++calls;
        const std::string name = req.value("name", "");
        if (name == "now") return reply({{"ok", true}, {"result", "at once"}});
        waiting[name] = std::move(reply);
      }),
      ServerLimits{.max_clients = 8, .idle_timeout = std::chrono::milliseconds(200)});
  auto path = temp_socket();
  ASSERT_TRUE(server.listen(path));
  const int first = connect_to(path);
  const int second = connect_to(path);
  const int gone = connect_to(path);
  const int now = connect_to(path);
  const int junk = connect_to(path);
  send_text(first, "{\"name\": \"first\"}\n");
  send_text(second, "{\"name\": \"second\"}\n");
  send_text(gone, "{\"name\": \"gone\"}\n");
  send_text(now, "{\"name\": \"now\"}\n");
  send_text(junk, "[1, 2]\n");
  ASSERT_TRUE(run_until(
      loop, [&] { return waiting.size() == 3; }, std::chrono::seconds(2)));
  // What the server sent on `fd` and closed: read once, as it is consumed.
  auto answer = [&](int fd) {
    std::string got = "(open)";
    run_until(
        loop, [&] { return (got = read_to_end(fd)) != "(open)"; }, std::chrono::seconds(2));
    return got;
  };
  EXPECT_EQ(answer(now), "{\"ok\":true,\"result\":\"at once\"}\n");
  EXPECT_EQ(answer(junk),
            "{\"code\":6,\"error\":\"malformed request: not a JSON object\",\"ok\":false}\n");
  EXPECT_EQ(calls, 4u);
  // The client of "gone" hangs up: dropped, while the others wait on past the idle timeout.
  ::close(gone);
  ASSERT_TRUE(run_until(
      loop, [&] { return server.clients() == 2; }, std::chrono::seconds(2)));
  run_until(
      loop, [] { return false; }, std::chrono::milliseconds(500));
  EXPECT_EQ(server.clients(), 2u);
  EXPECT_EQ(read_to_end(first), "(open)");
  waiting["second"]({{"ok", true}, {"result", 2}});
  waiting["gone"]({{"ok", true}, {"result", "nobody"}});
  EXPECT_EQ(answer(second), "{\"ok\":true,\"result\":2}\n");
  EXPECT_EQ(read_to_end(first), "(open)");
  waiting["first"]({{"ok", true}, {"result", 1}});
  waiting["first"]({{"ok", true}, {"result", "twice"}});  // a second reply is ignored
  EXPECT_EQ(answer(first), "{\"ok\":true,\"result\":1}\n");
  EXPECT_TRUE(run_until(
      loop, [&] { return server.clients() == 0; }, std::chrono::seconds(2)));
  for (int fd : {first, second, now, junk}) ::close(fd);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

// accept() out of descriptors: the socket is left alone for a growing while, not tried again on
// every turn of the loop; once descriptors are free the waiting client is served.
TEST(Control, AcceptOutOfDescriptorsBacksOffAndRecovers) {
  EventLoop loop;
  ControlServer server(
      loop, [](const std::vector<std::string>&) -> Expected<nlohmann::json> { return "hi"; },
      ServerLimits{.min_backoff = std::chrono::milliseconds(20),
                   .max_backoff = std::chrono::milliseconds(80)});
  auto path = temp_socket();
  ASSERT_TRUE(server.listen(path));
  // First a client served from end to end while descriptors are to spare. Besides showing that
  // the server works, it lets the sanitizer build check, once, every dynamic type the loop meets
  // below: UBSan's vptr check of a type it has not seen probes memory through a pipe, which
  // cannot be made once the descriptors are gone.
  const int warm = connect_to(path);
  send_text(warm, "{\"args\": [\"ping\"]}\n");
  ASSERT_TRUE(run_until(
      loop, [&] { return read_to_end(warm) != "(open)"; }, std::chrono::seconds(2)));
  ::close(warm);
  const uint64_t before = server.accept_calls();
  const int c = connect_to(path);
  send_text(c, "{\"args\": [\"ping\"]}\n");
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> filler;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) filler.push_back(fd);
  const int err = errno;
  int turns = 0;
  const auto end = Clock::now() + std::chrono::milliseconds(500);
  while (Clock::now() < end) {
    loop.run_once(std::chrono::milliseconds(50));
    ++turns;
  }
  const uint64_t calls = server.accept_calls() - before;
  const size_t clients = server.clients();
  for (int fd : filler) ::close(fd);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  EXPECT_EQ(err, EMFILE);
  EXPECT_EQ(clients, 0u);
  // 20, 40, 80, 80, ... ms: about 8 tries in 500 ms; spinning makes thousands.
  EXPECT_GE(calls, 3u);
  EXPECT_LE(calls, 15u);
  EXPECT_LE(turns, 40);
  ASSERT_TRUE(run_until(
      loop, [&] { return read_to_end(c) != "(open)"; }, std::chrono::seconds(2)));
  EXPECT_GT(server.accept_calls() - before, calls);
  ::close(c);
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
  EXPECT_EQ(id({"show", "bgp", "ipv6", "fd00:64:1::1"}),
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
