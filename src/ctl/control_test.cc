#include "ctl/control.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

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

TEST(Control, UnreachableDaemonIsAClearError) {
  auto r = call("/nonexistent/isthmusd.sock", {"show"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot reach isthmusd"), std::string::npos);
}

}  // namespace
}  // namespace isthmus::ctl
