// IngestPipeline: the single writer. Validated reports from every stream are
// queued here (serialized on the submitting thread); one thread takes
// whatever has accumulated (group commit) and stores it in one SQLite
// transaction; a second thread then updates the in-memory state and calls
// each report's completion with its outcome — only after the batch is
// durable, while the writer already stores the next batch. A report is therefore
// acknowledged to its probe only once a crash can no longer lose it.
//
// Backpressure: Submit blocks while `max_queued` reports wait, so a flood of
// probes slows their streams instead of growing memory.
//
// Thread model: Submit is thread-safe (gRPC callback threads); completions
// run on the completer thread, in batch order, and must not block.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "collector/collector_state.h"
#include "collector/report_store.h"
#include "core/clock.h"
#include "core/quantile_sketch.h"

namespace vantage::collector {

class IngestPipeline {
 public:
  // The outcome, or an error status when storage failed (the report was
  // not stored; the probe will resend it).
  using Completion = std::function<void(absl::StatusOr<ReportStore::Outcome>)>;

  IngestPipeline(std::unique_ptr<ReportStore> store, CollectorState* state, const Clock* clock,
                 size_t max_batch = 1024, size_t max_queued = 8192);
  ~IngestPipeline();  // drains the queue, then stops the writer
  IngestPipeline(const IngestPipeline&) = delete;
  IngestPipeline& operator=(const IngestPipeline&) = delete;

  void Submit(std::shared_ptr<const v1::ProbeReport> report, Completion done);

  // Runs `fn` on the writer thread with the store (retention, status
  // queries), between batches, and waits for it.
  void WithStore(const std::function<void(ReportStore&)>& fn);

  size_t queued() const;

  // Where the time goes, over every batch so far: seconds a report waited
  // in the queue, seconds per StoreBatch (inserts + the commit's fsync),
  // reports per batch.
  struct Timing {
    QuantileSketch queue_wait_s;
    QuantileSketch store_s;
    QuantileSketch batch_reports;
  };
  Timing timing() const;

 private:
  struct Item {
    std::shared_ptr<const v1::ProbeReport> report;
    Completion done;
    absl::Time queued_at;
    std::string body;  // the report serialized (stored as is)
  };
  // A stored batch waiting for its completions.
  struct Done {
    std::vector<Item> batch;
    absl::StatusOr<std::vector<ReportStore::Outcome>> outcomes;
    absl::Time stored_at;
  };
  void Run();
  void RunCompleter();

  std::unique_ptr<ReportStore> store_;
  CollectorState* state_;
  const Clock* clock_;
  const size_t max_batch_;
  const size_t max_queued_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable space_cv_;
  std::deque<Item> queue_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  mutable std::mutex timing_mu_;
  Timing timing_;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::deque<Done> done_queue_;
  bool done_stop_ = false;

  std::thread writer_;
  std::thread completer_;
};

}  // namespace vantage::collector
