#include "core/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "core/bug.h"

namespace isthmus {

EventLoop::EventLoop() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epfd_ < 0 || wakefd_ < 0) PANIC("cannot create epoll or eventfd descriptors");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // generation 0 is the wake-up eventfd; fds get 1, 2, ...
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
}

EventLoop::~EventLoop() {
  close(wakefd_);
  close(epfd_);
}

// epoll reports the registration's generation, not the fd number: when a callback removes and
// closes an fd and a new fd gets the same number within one batch, the old registration's
// pending event must not reach the new callback.
void EventLoop::add_fd(int fd, uint32_t events, FdCallback cb) {
  uint64_t generation = next_generation_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = generation;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    BUG(true);
    return;
  }
  fds_[fd] = FdEntry{generation, std::make_shared<FdCallback>(std::move(cb))};
  by_generation_[generation] = fd;
}

void EventLoop::modify_fd(int fd, uint32_t events) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;  // not registered (any more): nothing to modify
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = it->second.generation;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::remove_fd(int fd) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  by_generation_.erase(it->second.generation);
  fds_.erase(it);
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

EventLoop::TimerId EventLoop::add_timer(Duration after, Callback cb) {
  TimerId id = next_timer_++;
  TimePoint due = now() + after;
  timers_.emplace(std::make_pair(due, id), std::move(cb));
  timer_due_.emplace(id, due);
  return id;
}

void EventLoop::cancel_timer(TimerId id) {
  auto it = timer_due_.find(id);
  if (it == timer_due_.end()) return;
  timers_.erase({it->second, id});
  timer_due_.erase(it);
}

void EventLoop::post(Callback cb) {
  {
    std::lock_guard lock(posted_mu_);
    posted_.push_back(std::move(cb));
  }
  wake();
}

void EventLoop::wake() {
  uint64_t one = 1;
  [[maybe_unused]] auto n = write(wakefd_, &one, sizeof one);
}

void EventLoop::stop() {
  stopping_.store(true);
  wake();
}

int EventLoop::timeout_ms(Duration max_wait) const {
  Duration wait = max_wait;
  if (!timers_.empty()) {
    Duration until = timers_.begin()->first.first - now();
    if (until < wait) wait = until;
  }
  if (wait <= Duration::zero()) return 0;
  // Round up so that a timer is never woken for early.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  return ms > 3600000 ? 3600000 : static_cast<int>(ms);
}

void EventLoop::run_timers() {
  TimePoint t = now();
  while (!timers_.empty() && timers_.begin()->first.first <= t) {
    auto node = timers_.extract(timers_.begin());
    timer_due_.erase(node.key().second);
    node.mapped()();
  }
}

void EventLoop::run_posted() {
  std::vector<Callback> work;
  {
    std::lock_guard lock(posted_mu_);
    work.swap(posted_);
  }
  for (auto& cb : work) cb();
}

void EventLoop::run_once(Duration max_wait) {
  epoll_event events[64];
  int n = epoll_wait(epfd_, events, 64, timeout_ms(max_wait));
  if (n < 0 && errno != EINTR) PANIC("epoll_wait failed");
  for (int i = 0; i < n; ++i) {
    uint64_t generation = events[i].data.u64;
    if (generation == 0) {
      uint64_t v;
      [[maybe_unused]] auto r = read(wakefd_, &v, sizeof v);
      continue;
    }
    auto g = by_generation_.find(generation);
    if (g == by_generation_.end()) continue;  // removed by an earlier callback in this batch
    auto cb = fds_.at(g->second).cb;          // keeps the callback alive if it removes itself
    (*cb)(events[i].events);
  }
  run_posted();
  run_timers();
}

void EventLoop::run() {
  // exchange() consumes the stop request, so that a later run() runs again.
  while (!stopping_.exchange(false)) run_once(std::chrono::hours(1));
}

}  // namespace isthmus
