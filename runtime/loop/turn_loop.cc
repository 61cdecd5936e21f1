#include "runtime/loop/turn_loop.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "runtime/isolate/turn_clock.h"
#include "runtime/turn/dispatcher.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

std::vector<std::pair<int64_t, int64_t>> TimersOf(const v1::BatchObservation& o) {
  std::vector<std::pair<int64_t, int64_t>> timers;
  for (const auto& t : o.upcoming()) timers.emplace_back(t.id(), t.due_ms());
  return timers;
}

TurnResult NotRun(const std::string& why) {
  TurnResult r;
  r.status = TurnStatus::kCommitFailed;
  r.error = why;
  return r;
}

}  // namespace

TurnLoop::TurnLoop(Node& node, TurnLoopOptions options)
    : node_(node), options_(std::move(options)), observe_(MakeTurn(ObserveRecord(options_.upcoming_timers))) {
  ReadTimersFromHeap();
  // Replies pending in the heap from before a restart: forgotten in the
  // first batch (nobody waits for them any more).
  TurnResult pending = node_.Peek(PendingRepliesBody());
  forget_old_replies_ = pending.ok() && pending.output != "0";
}

void TurnLoop::ReadTimersFromHeap() {
  // Read-only: settled replies are left in the heap's table.
  TurnResult r = node_.Peek(ObserveBody(options_.upcoming_timers, /*take_settled=*/false));
  v1::BatchObservation o;
  if (r.ok() && o.ParseFromString(r.output)) upcoming_ = TimersOf(o);
}

bool TurnLoop::Submit(std::shared_ptr<LoopInput> input) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return false;
    queue_.push_back(std::move(input));
  }
  wake_.Notify();
  return true;
}

void TurnLoop::Abandon(uint64_t reply_id) {
  {
    std::lock_guard<std::mutex> l(mu_);
    abandoned_.insert(reply_id);
  }
  wake_.Notify();
}

std::vector<std::shared_ptr<LoopInput>> TurnLoop::TakeQueued(size_t max) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::shared_ptr<LoopInput>> out;
  while (!queue_.empty() && out.size() < max) {
    std::shared_ptr<LoopInput> input = std::move(queue_.front());
    queue_.pop_front();
    // The caller answered it "not run" already: it never runs.
    if (input->claim.Take()) out.push_back(std::move(input));
  }
  return out;
}

int64_t TurnLoop::MsUntilNextTimer() const {
  const int64_t now = SystemClockMs();
  int64_t wait = -1;
  for (const auto& timer : upcoming_) {
    if (firing_.count(timer)) continue;
    wait = std::max<int64_t>(0, timer.second - now);
    break;
  }
  return wait;
}

bool TurnLoop::Step(int64_t max_wait_ms) {
  if (absl::StatusOr<bool> re = node_.ReincarnateIfWentBack(); !re.ok()) {
    spdlog::error("{}", std::string(re.status().message()));
  } else if (*re && options_.on_commit) {
    options_.on_commit();
  }
  Channels* channels = node_.channels();
  // Group commit under load (see TurnLoopOptions::linger_ms).
  if (options_.linger_ms > 0 && last_batch_ >= 8) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.linger_ms);
    while (std::chrono::steady_clock::now() < until) {
      size_t ready;
      {
        std::lock_guard<std::mutex> l(mu_);
        ready = queue_.size();
      }
      if (channels != nullptr) ready += channels->DeliverableCount();
      if (ready >= last_batch_ * 3 / 4) break;
      wake_.Wait(1);
    }
  }
  std::vector<TurnInput> turns;
  std::vector<std::shared_ptr<LoopInput>> owners;  // nullptr: no caller waits (timers, messages, internal)
  // Replies nobody waits for: forgotten in the heap, in this batch.
  std::vector<uint64_t> forget;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (uint64_t id : abandoned_) {
      forget.push_back(id);
      waiting_.erase(id);
    }
    abandoned_.clear();
  }
  if (forget_old_replies_ || !forget.empty()) {
    turns.push_back(ForgetRepliesTurn(forget_old_replies_ ? std::vector<uint64_t>{} : forget));
    owners.push_back(nullptr);
    forget_old_replies_ = false;
  }
  for (auto& input : TakeQueued(options_.max_batch)) {
    turns.push_back(MakeTurn(input->record));
    owners.push_back(std::move(input));
  }
  const int64_t now = SystemClockMs();
  std::vector<std::pair<int64_t, int64_t>> timers;
  for (const auto& timer : upcoming_) {
    if (timer.second > now || firing_.count(timer)) continue;
    turns.push_back(MakeTurn(TimerRecord(timer.first, timer.second)));
    owners.push_back(nullptr);
    timers.push_back(timer);
    firing_.insert(timer);
  }
  if (channels != nullptr) {
    for (const v1::Envelope& e : channels->TakeDeliverable(options_.max_batch)) {
      turns.push_back(MakeTurn(DeliveryRecord(e)));
      owners.push_back(nullptr);
    }
  }
  last_batch_ = turns.size();
  if (turns.empty()) {
    // Idle: finish the write in flight (its answers go out), then wait.
    node_.Maintain();
    if (node_.writing()) {
      node_.Flush();
      return false;
    }
    int64_t wait = max_wait_ms;
    const int64_t timer = MsUntilNextTimer();
    if (timer >= 0) wait = std::min(wait, std::max<int64_t>(timer, 1));
    if (wait > 0) wake_.Wait(wait);
    return false;
  }
  std::vector<std::string> descriptions;
  for (const TurnInput& t : turns) descriptions.push_back(t.description);
  node_.RunBatchAsync(turns, &observe_, [this, owners, timers, descriptions](BatchResult result) {
    Release(owners, timers, descriptions, std::move(result));
  });
  return true;
}

void TurnLoop::Release(const std::vector<std::shared_ptr<LoopInput>>& owners,
                       const std::vector<std::pair<int64_t, int64_t>>& timers,
                       const std::vector<std::string>& descriptions, BatchResult result) {
  for (const auto& timer : timers) firing_.erase(timer);
  std::set<uint64_t> abandoned;
  {
    std::lock_guard<std::mutex> l(mu_);
    abandoned = abandoned_;
  }
  for (size_t i = 0; i < owners.size(); ++i) {
    const std::shared_ptr<LoopInput>& owner = owners[i];
    if (owner == nullptr) continue;
    const TurnResult& r = result.results[i];
    const uint64_t id = owner->record.reply_id();
    if (r.ok() && id != 0 && DecodeOutput(r).pending()) {
      // Completed by a later turn: held until then (unless given up on).
      if (!abandoned.count(id)) waiting_[id] = owner;
      continue;
    }
    if (owner->done) owner->done(r);
  }
  for (const std::string& text : result.observed) {
    v1::BatchObservation observation;
    if (!observation.ParseFromString(text)) continue;
    upcoming_ = TimersOf(observation);
    for (const v1::SettledReply& settled : observation.settled()) {
      auto it = waiting_.find(settled.reply_id());
      if (it == waiting_.end()) {
        ++late_replies_;  // its caller stopped waiting
        continue;
      }
      std::shared_ptr<LoopInput> owner = std::move(it->second);
      waiting_.erase(it);
      TurnResult r;
      if (settled.ok()) {
        r.output = settled.output().SerializeAsString();
      } else {
        r.status = TurnStatus::kThrew;
        r.error = settled.error();
      }
      if (owner->done) owner->done(r);
    }
  }
  if (result.commit.ok() && options_.on_unhandled_rejection) {
    for (size_t i = 0; i < result.results.size() && i < descriptions.size(); ++i) {
      if (!result.results[i].ok()) continue;
      for (const std::string& text : result.results[i].unhandled_rejections) {
        options_.on_unhandled_rejection(descriptions[i], text);
      }
    }
  }
  if (!result.commit.ok() && result.observed.empty()) {
    // Nothing of it took effect: the heap's timers are as before it.
    ReadTimersFromHeap();
  }
  if (options_.on_commit) options_.on_commit();
}

void TurnLoop::Drain() { node_.Flush(); }

void TurnLoop::Close(const std::string& why) {
  std::deque<std::shared_ptr<LoopInput>> queued;
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    queued.swap(queue_);
  }
  node_.Flush();
  for (auto& input : queued) {
    if (input->claim.Take() && input->done) input->done(NotRun(why));
  }
  // Replies still pending in the heap: their turns committed, but no later
  // turn will settle them in this process.
  for (auto& [id, input] : waiting_) {
    TurnResult r;
    r.status = TurnStatus::kCommitFailed;
    r.error = "the node is stopping; the reply was still pending: its outcome is unknown";
    if (input->done) input->done(r);
  }
  waiting_.clear();
}

}  // namespace ken
