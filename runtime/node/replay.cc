#include "runtime/node/replay.h"

#include <zlib.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/node/module_files.h"
#include "runtime/turn/dispatcher.h"
#include "spdlog/spdlog.h"

namespace ken {
namespace {

uint32_t Crc(uint32_t crc, std::string_view bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const size_t n = std::min<size_t>(bytes.size() - off, 1u << 30);
    crc = static_cast<uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + off), static_cast<uInt>(n)));
    off += n;
  }
  return crc;
}

std::string KindName(const v1::TurnInput& input) {
  const auto* field = v1::TurnInput::descriptor()->FindFieldByNumber(input.kind_case());
  return field != nullptr ? field->name() : "none";
}

}  // namespace

void OutputDigest::AddSend(const std::string& dst, const std::string& payload) {
  crc_ = Crc(crc_, dst);
  crc_ = Crc(crc_, std::string_view("\0", 1));
  crc_ = Crc(crc_, payload);
}

uint32_t OutputDigest::Finish(const std::string& output) const { return Crc(crc_, output); }

absl::Status Replayer::Send(const std::string& dst, const std::string& payload) {
  digest_.AddSend(dst, payload);
  if (turn_ == nullptr || next_send_ >= turn_->sends_size()) {
    extra_send_ = true;
    return absl::FailedPreconditionError("ken.send: this replayed turn sends more than when it first ran");
  }
  const v1::SendOutcome& outcome = turn_->sends(next_send_++);
  if (!outcome.error().empty()) return absl::InvalidArgumentError(outcome.error());
  return absl::OkStatus();
}

absl::StatusOr<NativeHost::ModuleFile> Replayer::ReadModule(const std::string& path) {
  if (turn_ == nullptr || next_read_ >= turn_->module_reads_size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("require: this replayed turn reads ", path, ", which it did not read when it first ran"));
  }
  const v1::ModuleRead& read = turn_->module_reads(next_read_++);
  if (read.path() != path) {
    return absl::FailedPreconditionError(absl::StrCat("require: this replayed turn reads ", path, " where it read ",
                                                      read.path(), " when it first ran"));
  }
  return RecordedModuleRead(read);
}

absl::Status Replayer::Diverged(const v1::JournalCommit& commit, int index, const std::string& what, bool failed) {
  const v1::JournalTurn& t = commit.turns(index);
  const std::string text = absl::StrCat(
      "determinism violation", options_.node_id.empty() ? "" : absl::StrCat(" on node '", options_.node_id, "'"),
      ": replaying commit ", commit.seq(), ", turn ", index + 1, " of ", commit.turns_size(), " (", Describe(t.input()),
      "; input kind ", KindName(t.input()), t.fallback() ? ", its fallback" : "", "): ", what);
  if (options_.accept_divergence && !failed) {
    ++divergences_;
    spdlog::warn("{} (accepted: --accept-divergence)", text);
    return absl::OkStatus();
  }
  return absl::DataLossError(absl::StrCat(
      text, ". The store is untouched. This turn does not repeat what it did when it ran (README, \"Journal mode\": "
            "what cannot be replayed); start the node with --accept-divergence to go on with the replayed heap"));
}

absl::Status Replayer::Replay(PersistentIsolate& isolate, const v1::JournalCommit& commit) {
  // Console output was written when the turns first ran (at-least-once, not
  // again at every replay).
  struct Mute {
    PersistentIsolate& isolate;
    explicit Mute(PersistentIsolate& i) : isolate(i) { isolate.set_console_muted(true); }
    ~Mute() { isolate.set_console_muted(false); }
  } mute(isolate);
  for (int i = 0; i < commit.turns_size(); ++i) {
    const v1::JournalTurn& t = commit.turns(i);
    TurnInput input = MakeTurn(t.input());
    const PersistentIsolate::TurnBody& body = t.fallback() ? input.on_failure : input.body;
    if (!body) return Diverged(commit, i, "the input has no fallback to replay", true);
    turn_ = &t;
    next_send_ = 0;
    next_read_ = 0;
    extra_send_ = false;
    digest_ = OutputDigest();
    TurnResult r = isolate.RunTurn(body, TurnMode::kKeep, t.input().clock_ms(), options_.timeout_ms);
    turn_ = nullptr;
    ++replayed_;
    if (r.status == TurnStatus::kHostError) {
      return absl::InternalError(absl::StrCat("replaying commit ", commit.seq(), ": ", r.error));
    }
    if (!r.ok()) return Diverged(commit, i, absl::StrCat("it failed now although it finished then: ", r.error), true);
    if (extra_send_ || next_send_ != t.sends_size()) {
      if (absl::Status s = Diverged(commit, i,
                                    absl::StrCat("it called ken.send ", extra_send_ ? "more" : absl::StrCat(next_send_),
                                                 " times, ", t.sends_size(), " when it ran"),
                                    false);
          !s.ok()) {
        return s;
      }
    } else if (const uint32_t d = digest_.Finish(r.output); d != t.digest()) {
      if (absl::Status s = Diverged(commit, i,
                                    absl::StrFormat("its outputs differ from the recorded ones (digest %08x, "
                                                    "recorded %08x)",
                                                    d, t.digest()),
                                    false);
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

void TrimDeadLetters(v1::NodeState* state) {
  size_t kept_bytes = 0, keep = 0;
  for (int k = state->dead_letters_size() - 1; k >= 0; --k) {
    kept_bytes += state->dead_letters(k).ByteSizeLong();
    if (keep >= static_cast<size_t>(kRetainedDeadLetters) || kept_bytes > kDeadLetterBudgetBytes) break;
    ++keep;
  }
  if (static_cast<size_t>(state->dead_letters_size()) > keep) {
    state->mutable_dead_letters()->DeleteSubrange(0, state->dead_letters_size() - static_cast<int>(keep));
  }
}

void ApplyCommitState(v1::NodeState* state, const v1::JournalCommit& commit) {
  v1::NodeState next = commit.state();
  next.mutable_dead_letters()->Swap(state->mutable_dead_letters());
  for (const v1::DeadLetter& d : commit.dead_letters()) *next.add_dead_letters() = d;
  TrimDeadLetters(&next);
  *state = std::move(next);
}

}  // namespace ken
