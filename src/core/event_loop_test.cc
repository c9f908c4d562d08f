// Unit tests for EventLoop: timer order and cancellation, cross-thread posts, fd readiness and
// removal from inside callbacks. Timers use delays of a few milliseconds at most; the tests
// check ordering, never durations.
#include "core/event_loop.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

namespace isthmus {
namespace {

using std::chrono::milliseconds;

// A pipe closed at the end of the test.
struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    if (r >= 0) close(r);
    if (w >= 0) close(w);
  }
  void write_byte() const {
    char c = 'x';
    EXPECT_EQ(::write(w, &c, 1), 1);
  }
  void read_byte() const {
    char c;
    EXPECT_EQ(::read(r, &c, 1), 1);
  }
};

// Runs the loop until `done` or a generous bound on iterations (so a bug fails, not hangs).
template <class Pred>
void run_until(EventLoop& loop, Pred done) {
  for (int i = 0; i < 1000 && !done(); ++i) loop.run_once(milliseconds(50));
}

TEST(EventLoop, TimersFireInDueOrder) {
  EventLoop loop;
  std::vector<int> fired;
  loop.add_timer(milliseconds(3), [&] { fired.push_back(3); });
  loop.add_timer(milliseconds(1), [&] { fired.push_back(1); });
  loop.add_timer(milliseconds(2), [&] { fired.push_back(2); });
  run_until(loop, [&] { return fired.size() == 3; });
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
}

TEST(EventLoop, TimersDueTogetherFireInInsertionOrder) {
  EventLoop loop;
  std::vector<int> fired;
  for (int i = 0; i < 5; ++i) loop.add_timer(Duration::zero(), [&, i] { fired.push_back(i); });
  loop.run_once(Duration::zero());
  EXPECT_EQ(fired, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(EventLoop, CancelledTimerNeverFires) {
  EventLoop loop;
  std::vector<int> fired;
  auto a = loop.add_timer(milliseconds(1), [&] { fired.push_back(1); });
  loop.add_timer(milliseconds(2), [&] { fired.push_back(2); });
  loop.cancel_timer(a);
  loop.cancel_timer(a);       // twice: no-op
  loop.cancel_timer(999999);  // unknown: no-op
  run_until(loop, [&] { return !fired.empty(); });
  EXPECT_EQ(fired, (std::vector<int>{2}));
}

TEST(EventLoop, TimerCancelsALaterTimerDueInTheSameBatch) {
  EventLoop loop;
  std::vector<int> fired;
  EventLoop::TimerId second = 0;
  auto first = loop.add_timer(Duration::zero(), [&] {
    fired.push_back(1);
    loop.cancel_timer(second);
  });
  second = loop.add_timer(Duration::zero(), [&] { fired.push_back(2); });
  loop.add_timer(Duration::zero(), [&] { fired.push_back(3); });
  loop.run_once(Duration::zero());
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
  loop.cancel_timer(first);  // already fired: no-op
}

TEST(EventLoop, TimerMayRearmItself) {
  EventLoop loop;
  int count = 0;
  std::function<void()> tick = [&] {
    if (++count < 3) loop.add_timer(Duration::zero(), tick);
  };
  loop.add_timer(Duration::zero(), tick);
  run_until(loop, [&] { return count == 3; });
  EXPECT_EQ(count, 3);
}

TEST(EventLoop, PostFromAnotherThreadRunsOnTheLoopThread) {
  EventLoop loop;
  std::thread::id ran_on;
  std::atomic<int> ran{0};
  std::thread t([&] {
    loop.post([&] {
      ran_on = std::this_thread::get_id();
      ran.fetch_add(1);
    });
  });
  t.join();
  run_until(loop, [&] { return ran.load() == 1; });
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(EventLoop, PostsRunInOrderAndWakeABlockedLoop) {
  EventLoop loop;
  std::vector<int> seen;
  std::thread t([&] {
    for (int i = 0; i < 100; ++i) loop.post([&, i] { seen.push_back(i); });
    loop.post([&] { loop.stop(); });
  });
  loop.run();  // returns only because the posts woke it and the last one stopped it
  t.join();
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], i);
}

TEST(EventLoop, StopFromAnotherThread) {
  EventLoop loop;
  std::thread t([&] { loop.stop(); });
  loop.run();
  t.join();
  SUCCEED();
}

TEST(EventLoop, StopBeforeRunMakesRunReturn) {
  EventLoop loop;
  loop.stop();
  loop.run();  // must not block
  // The stop was consumed: the loop can run again.
  int ran = 0;
  loop.post([&] {
    ++ran;
    loop.stop();
  });
  loop.run();
  EXPECT_EQ(ran, 1);
}

TEST(EventLoop, FdReadiness) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  uint32_t got = 0;
  loop.add_fd(p.r, EPOLLIN, [&](uint32_t events) {
    ++calls;
    got = events;
    p.read_byte();
  });
  loop.run_once(Duration::zero());
  EXPECT_EQ(calls, 0);  // nothing to read yet
  p.write_byte();
  run_until(loop, [&] { return calls == 1; });
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(got & EPOLLIN);
  loop.run_once(Duration::zero());
  EXPECT_EQ(calls, 1);  // drained: level-triggered readiness is gone
  loop.remove_fd(p.r);
}

TEST(EventLoop, ModifyFdChangesInterest) {
  EventLoop loop;
  Pipe p;
  std::vector<uint32_t> events;
  loop.add_fd(p.w, 0, [&](uint32_t e) { events.push_back(e); });
  loop.run_once(Duration::zero());
  EXPECT_TRUE(events.empty());
  loop.modify_fd(p.w, EPOLLOUT);
  loop.run_once(Duration::zero());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0] & EPOLLOUT);
  loop.remove_fd(p.w);
}

TEST(EventLoop, RemoveFdInsideItsOwnCallback) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  loop.add_fd(p.r, EPOLLIN, [&](uint32_t) {
    ++calls;
    loop.remove_fd(p.r);  // destroys the registration while its callback runs
    loop.remove_fd(p.r);  // twice: no-op
  });
  p.write_byte();
  run_until(loop, [&] { return calls > 0; });
  loop.run_once(Duration::zero());  // byte still unread; no more calls after removal
  EXPECT_EQ(calls, 1);
}

TEST(EventLoop, RemovingAnotherReadyFdInTheSameBatchSuppressesItsEvent) {
  EventLoop loop;
  Pipe a, b;
  int calls = 0;
  auto cb = [&](uint32_t) {
    ++calls;
    loop.remove_fd(a.r);
    loop.remove_fd(b.r);
  };
  loop.add_fd(a.r, EPOLLIN, cb);
  loop.add_fd(b.r, EPOLLIN, cb);
  a.write_byte();
  b.write_byte();
  loop.run_once(milliseconds(50));
  EXPECT_EQ(calls, 1);
}

TEST(EventLoop, StaleEventForAReusedFdNumberIsDropped) {
  // Callback A removes and closes fd X, then registers a new pipe that reuses X. The event
  // already reported for X in this batch belonged to the old registration and must not reach
  // the new callback.
  EventLoop loop;
  Pipe a, b;
  a.write_byte();
  b.write_byte();
  int new_calls = 0, old_calls = 0;
  int fds[2] = {-1, -1};
  // Each callback closes the other pipe's read end (the one whose event is still pending).
  auto make = [&](Pipe& other) {
    return [&](uint32_t) {
      ++old_calls;
      int victim = other.r;
      loop.remove_fd(victim);
      close(victim);
      other.r = -1;
      ASSERT_EQ(pipe(fds), 0);
      if (fds[0] != victim) {  // make the new pipe take the old number
        ASSERT_EQ(dup2(fds[0], victim), victim);
        close(fds[0]);
        fds[0] = victim;
      }
      loop.add_fd(fds[0], EPOLLIN, [&](uint32_t) { ++new_calls; });
    };
  };
  loop.add_fd(a.r, EPOLLIN, make(b));
  loop.add_fd(b.r, EPOLLIN, make(a));
  loop.run_once(milliseconds(50));
  EXPECT_EQ(old_calls, 1);
  EXPECT_EQ(new_calls, 0);  // the new pipe is empty
  loop.remove_fd(fds[0]);
  close(fds[0]);
  close(fds[1]);
  loop.remove_fd(a.r);  // the survivor; -1 for the victim is a no-op
  loop.remove_fd(b.r);
}

TEST(EventLoop, WorkOrderWithinOneIteration) {
  // fd callbacks, then posted work, then due timers.
  EventLoop loop;
  Pipe p;
  std::vector<std::string> order;
  loop.add_timer(Duration::zero(), [&] { order.push_back("timer"); });
  loop.post([&] { order.push_back("post"); });
  loop.add_fd(p.r, EPOLLIN, [&](uint32_t) {
    p.read_byte();
    order.push_back("fd");
  });
  p.write_byte();
  loop.run_once(Duration::zero());
  EXPECT_EQ(order, (std::vector<std::string>{"fd", "post", "timer"}));
  loop.remove_fd(p.r);
}

}  // namespace
}  // namespace isthmus
