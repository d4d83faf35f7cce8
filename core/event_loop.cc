#include "core/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/clock.h"

namespace vantage {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return Errno("epoll_create1");
  const int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd < 0) {
    close(epoll_fd);
    return Errno("timerfd_create");
  }
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    close(epoll_fd);
    close(timer_fd);
    return Errno("eventfd");
  }
  for (int fd : {timer_fd, wake_fd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      auto st = Errno("epoll_ctl");
      close(epoll_fd);
      close(timer_fd);
      close(wake_fd);
      return st;
    }
  }
  return std::unique_ptr<EventLoop>(new EventLoop(epoll_fd, timer_fd, wake_fd));
}

EventLoop::EventLoop(int epoll_fd, int timer_fd, int wake_fd)
    : epoll_fd_(epoll_fd), timer_fd_(timer_fd), wake_fd_(wake_fd) {}

EventLoop::~EventLoop() {
  close(epoll_fd_);
  close(timer_fd_);
  close(wake_fd_);
}

absl::Status EventLoop::WatchFd(int fd, uint32_t events, FdCallback callback) {
  if (fds_.contains(fd)) return absl::AlreadyExistsError(absl::StrCat("fd ", fd, " is watched"));
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return Errno("epoll_ctl(ADD)");
  fds_[fd] = std::make_shared<FdCallback>(std::move(callback));
  return absl::OkStatus();
}

absl::Status EventLoop::ModifyFd(int fd, uint32_t events) {
  if (!fds_.contains(fd)) return absl::NotFoundError(absl::StrCat("fd ", fd, " is not watched"));
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) return Errno("epoll_ctl(MOD)");
  return absl::OkStatus();
}

void EventLoop::UnwatchFd(int fd) {
  if (fds_.erase(fd) > 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

EventLoop::TimerId EventLoop::AddTimerAt(absl::Time when, Callback callback) {
  const TimerId id = next_timer_id_++;
  timer_heap_.push(Timer{when, id});
  timer_callbacks_[id] = std::move(callback);
  ++live_timers_;
  if (when < armed_for_) ArmTimerFd();
  return id;
}

EventLoop::TimerId EventLoop::AddTimerAfter(absl::Duration delay, Callback callback) {
  return AddTimerAt(RealClock::Get().MonotonicNow() + delay, std::move(callback));
}

bool EventLoop::CancelTimer(TimerId id) {
  // The heap entry stays until it surfaces; without a callback it is skipped.
  if (timer_callbacks_.erase(id) == 0) return false;
  --live_timers_;
  return true;
}

void EventLoop::ArmTimerFd() {
  while (!timer_heap_.empty() && !timer_callbacks_.contains(timer_heap_.top().id)) {
    timer_heap_.pop();
  }
  itimerspec spec{};
  if (timer_heap_.empty()) {
    armed_for_ = absl::InfiniteFuture();
  } else {
    armed_for_ = timer_heap_.top().when;
    spec.it_value = absl::ToTimespec(armed_for_ - absl::UnixEpoch());
    // An all-zero it_value disarms the timer; an expired deadline must fire.
    if (spec.it_value.tv_sec <= 0 && spec.it_value.tv_nsec <= 0) spec.it_value.tv_nsec = 1;
  }
  timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

int EventLoop::RunExpiredTimers() {
  uint64_t expirations = 0;
  [[maybe_unused]] ssize_t n = read(timer_fd_, &expirations, sizeof(expirations));
  const absl::Time now = RealClock::Get().MonotonicNow();
  int ran = 0;
  while (!timer_heap_.empty() && timer_heap_.top().when <= now) {
    const TimerId id = timer_heap_.top().id;
    timer_heap_.pop();
    auto it = timer_callbacks_.find(id);
    if (it == timer_callbacks_.end()) continue;
    Callback cb = std::move(it->second);
    timer_callbacks_.erase(it);
    --live_timers_;
    cb();
    ++ran;
  }
  ArmTimerFd();
  return ran;
}

void EventLoop::Post(Callback callback) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    posted_.push_back(std::move(callback));
  }
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void EventLoop::Stop() {
  Post([this] { stop_ = true; });
}

int EventLoop::RunPosted() {
  uint64_t count = 0;
  [[maybe_unused]] ssize_t n = read(wake_fd_, &count, sizeof(count));
  std::vector<Callback> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& cb : batch) cb();
  return static_cast<int>(batch.size());
}

int EventLoop::RunOnce(absl::Duration timeout) {
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  const int timeout_ms =
      timeout == absl::InfiniteDuration()
          ? -1
          : static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(timeout, absl::Milliseconds(1))));
  const int n = epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
  int ran = 0;
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == timer_fd_) {
      ran += RunExpiredTimers();
    } else if (fd == wake_fd_) {
      ran += RunPosted();
    } else {
      auto it = fds_.find(fd);
      if (it == fds_.end()) continue;  // unwatched by an earlier callback
      // Holding a reference keeps the callback alive if it unwatches itself.
      std::shared_ptr<FdCallback> cb = it->second;
      (*cb)(events[i].events);
      ++ran;
    }
  }
  return ran;
}

void EventLoop::Run() {
  stop_ = false;
  while (!stop_) RunOnce(absl::InfiniteDuration());
}

}  // namespace vantage
