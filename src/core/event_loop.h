// A single-threaded epoll event loop: file descriptors, timers and cross-thread posts.
// One loop owns a protocol instance; other threads only post() work to it (docs/architecture.md,
// "Threads, queues and owners").
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace isthmus {

using Clock = std::chrono::steady_clock;
using Duration = Clock::duration;
using TimePoint = Clock::time_point;

class EventLoop {
 public:
  using Callback = std::function<void()>;
  using FdCallback = std::function<void(uint32_t events)>;  // EPOLLIN | EPOLLOUT | ...
  using TimerId = uint64_t;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Everything but post() and stop() must be called on the loop's thread.
  void add_fd(int fd, uint32_t events, FdCallback cb);
  // A no-op for an fd that is not registered.
  void modify_fd(int fd, uint32_t events);
  // Safe to call from inside the fd's own callback.
  void remove_fd(int fd);

  TimerId add_timer(Duration after, Callback cb);
  // Cancelling a timer that already fired or was cancelled is a no-op.
  void cancel_timer(TimerId id);

  // Thread-safe: runs cb on the loop's thread.
  void post(Callback cb);

  // Runs until stop(). A stop() that comes before run() makes the next run() return at once.
  void run();
  // Runs ready work once, waiting at most `max_wait`. For tests.
  void run_once(Duration max_wait);
  // Thread-safe.
  void stop();
  TimePoint now() const { return Clock::now(); }

 private:
  void run_timers();
  void run_posted();
  int timeout_ms(Duration max_wait) const;
  void wake();

  struct FdEntry {
    uint64_t generation;  // tells a stale event for a reused fd number from a current one
    std::shared_ptr<FdCallback> cb;
  };

  int epfd_ = -1;
  int wakefd_ = -1;
  std::atomic<bool> stopping_{false};
  std::unordered_map<int, FdEntry> fds_;
  std::unordered_map<uint64_t, int> by_generation_;
  uint64_t next_generation_ = 1;
  std::map<std::pair<TimePoint, TimerId>, Callback> timers_;
  std::unordered_map<TimerId, TimePoint> timer_due_;
  TimerId next_timer_ = 1;
  std::mutex posted_mu_;
  std::vector<Callback> posted_;
};

}  // namespace isthmus
