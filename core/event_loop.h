// EventLoop: the probe's single measurement loop (epoll + one timerfd).
//
// Everything that measures — the pcap selectable fd, raw sockets, c-ares'
// sockets — registers its file descriptors here, and timers are kept in a
// heap behind one CLOCK_MONOTONIC timerfd, so wake-ups are precise to tens of
// microseconds without sleep loops.
//
// Thread model: every method except Post() and Stop() must be called on the
// loop's thread (the one calling Run/RunOnce), and every callback runs there.
// Post() and Stop() are safe from any thread (they wake the loop through an
// eventfd). Callbacks may add or remove fds and timers, including their own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vantage {

class EventLoop {
 public:
  // Receives the epoll events (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP) that fired.
  using FdCallback = std::function<void(uint32_t events)>;
  using Callback = std::function<void()>;
  using TimerId = uint64_t;

  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Watches `fd` for `events` (EPOLLIN / EPOLLOUT). The loop never closes it.
  [[nodiscard]] absl::Status WatchFd(int fd, uint32_t events, FdCallback callback);
  [[nodiscard]] absl::Status ModifyFd(int fd, uint32_t events);
  // Safe to call for an fd that is not watched (no-op).
  void UnwatchFd(int fd);

  // Runs `callback` once at CLOCK_MONOTONIC time `when` (absl::Time on the
  // monotonic epoch, as RealClock::MonotonicNow()). Past deadlines fire on
  // the next iteration.
  TimerId AddTimerAt(absl::Time when, Callback callback);
  TimerId AddTimerAfter(absl::Duration delay, Callback callback);
  // Returns false when the timer already fired or was cancelled.
  bool CancelTimer(TimerId id);

  // Thread-safe: runs `callback` on the loop thread soon.
  void Post(Callback callback);
  // Thread-safe: makes Run() return after the current iteration.
  void Stop();

  // Runs until Stop().
  void Run();
  // One iteration: waits up to `timeout` for events or timers, dispatches
  // them, and returns the number of callbacks run.
  int RunOnce(absl::Duration timeout);

  size_t watched_fds() const { return fds_.size(); }
  size_t pending_timers() const { return live_timers_; }

 private:
  EventLoop(int epoll_fd, int timer_fd, int wake_fd);
  void ArmTimerFd();
  int RunExpiredTimers();
  int RunPosted();

  struct Timer {
    absl::Time when;
    TimerId id;
    bool operator>(const Timer& o) const { return when > o.when || (when == o.when && id > o.id); }
  };

  int epoll_fd_;
  int timer_fd_;
  int wake_fd_;
  bool stop_ = false;
  absl::flat_hash_map<int, std::shared_ptr<FdCallback>> fds_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timer_heap_;
  absl::flat_hash_map<TimerId, Callback> timer_callbacks_;
  size_t live_timers_ = 0;
  TimerId next_timer_id_ = 1;
  absl::Time armed_for_ = absl::InfiniteFuture();

  std::mutex posted_mutex_;
  std::vector<Callback> posted_;
};

}  // namespace vantage
