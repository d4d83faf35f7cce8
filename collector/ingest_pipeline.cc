#include "collector/ingest_pipeline.h"

#include <algorithm>
#include <future>
#include <vector>

namespace vantage::collector {

IngestPipeline::IngestPipeline(std::unique_ptr<ReportStore> store, CollectorState* state,
                               const Clock* clock, size_t max_batch, size_t max_queued)
    : store_(std::move(store)),
      state_(state),
      clock_(clock),
      max_batch_(max_batch),
      max_queued_(max_queued),
      writer_([this] { Run(); }),
      completer_([this] { RunCompleter(); }) {}

IngestPipeline::~IngestPipeline() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  space_cv_.notify_all();
  writer_.join();
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    done_stop_ = true;
  }
  done_cv_.notify_all();
  completer_.join();
}

void IngestPipeline::Submit(std::shared_ptr<const v1::ProbeReport> report, Completion done) {
  // Serialized here, on the caller's (gRPC) thread, not on the writer's.
  std::string body = report->SerializeAsString();
  std::unique_lock<std::mutex> lock(mu_);
  space_cv_.wait(lock, [&] { return stop_ || queue_.size() < max_queued_; });
  if (stop_) {
    lock.unlock();
    done(absl::UnavailableError("collector is shutting down"));
    return;
  }
  queue_.push_back(Item{std::move(report), std::move(done), clock_->Now(), std::move(body)});
  lock.unlock();
  work_cv_.notify_one();
}

void IngestPipeline::WithStore(const std::function<void(ReportStore&)>& fn) {
  std::promise<void> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back([&] {
      fn(*store_);
      finished.set_value();
    });
  }
  work_cv_.notify_one();
  finished.get_future().wait();
}

IngestPipeline::Timing IngestPipeline::timing() const {
  std::lock_guard<std::mutex> lock(timing_mu_);
  return timing_;
}

size_t IngestPipeline::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void IngestPipeline::Run() {
  std::vector<Item> batch;
  std::vector<const v1::ProbeReport*> pointers;
  std::vector<const std::string*> bodies;
  for (;;) {
    std::deque<std::function<void()>> tasks;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty() || !tasks_.empty(); });
      if (stop_ && queue_.empty() && tasks_.empty()) return;
      tasks.swap(tasks_);
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    space_cv_.notify_all();
    for (auto& task : tasks) task();
    if (batch.empty()) continue;
    pointers.clear();
    bodies.clear();
    for (const Item& item : batch) {
      pointers.push_back(item.report.get());
      bodies.push_back(&item.body);
    }
    const absl::Time batch_start = clock_->Now();
    auto outcomes = store_->StoreBatch(pointers, batch_start, bodies);
    const absl::Time stored_at = clock_->Now();
    {
      std::lock_guard<std::mutex> lock(timing_mu_);
      for (const Item& item : batch) {
        timing_.queue_wait_s.Add(
            std::max(1e-6, absl::ToDoubleSeconds(batch_start - item.queued_at)));
      }
      timing_.store_s.Add(std::max(1e-6, absl::ToDoubleSeconds(stored_at - batch_start)));
      timing_.batch_reports.Add(static_cast<double>(batch.size()));
    }
    // Acks and the in-memory state are the completer's work, so that the
    // writer can start on the next batch (and its fsync) at once.
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      done_queue_.push_back(Done{std::move(batch), std::move(outcomes), stored_at});
    }
    done_cv_.notify_one();
    batch.clear();
  }
}

void IngestPipeline::RunCompleter() {
  for (;;) {
    Done done;
    {
      std::unique_lock<std::mutex> lock(done_mu_);
      done_cv_.wait(lock, [&] { return done_stop_ || !done_queue_.empty(); });
      if (done_queue_.empty()) return;  // stopping, and everything was completed
      done = std::move(done_queue_.front());
      done_queue_.pop_front();
    }
    for (size_t i = 0; i < done.batch.size(); ++i) {
      Item& item = done.batch[i];
      if (!done.outcomes.ok()) {
        item.done(done.outcomes.status());
        continue;
      }
      const ReportStore::Outcome outcome = (*done.outcomes)[i];
      if (outcome == ReportStore::Outcome::kStored) {
        state_->RecordStored(*item.report, done.stored_at);
      } else {
        state_->RecordDuplicate();
      }
      item.done(outcome);
    }
  }
}

}  // namespace vantage::collector
