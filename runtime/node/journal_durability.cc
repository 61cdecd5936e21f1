// Journal mode (durability.h): a commit is one JournalCommit record appended
// to the journal (store/journal.h) with one fdatasync; recovery is the
// store's newest checkpoint (a snapshot the snapshotter wrote) plus the
// journal's commits after it.
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/node/durability.h"

namespace ken {
namespace {

class JournalDurability final : public Durability {
 public:
  JournalDurability(CheckpointStore* store, std::unique_ptr<Journal> journal)
      : store_(store), journal_(std::move(journal)) {}

  std::string Name() const override { return "journal"; }
  bool journaled() const override { return true; }
  Journal* journal() override { return journal_.get(); }

  absl::StatusOr<Recovered> Recover() override {
    absl::StatusOr<Checkpoint> newest = store_->LoadNewest();
    if (!newest.ok()) return newest.status();
    Recovered r;
    r.checkpoint = std::move(*newest);
    absl::StatusOr<std::vector<JournalRecord>> records = journal_->RecordsAfter(r.checkpoint.seq);
    if (!records.ok()) return records.status();
    for (const JournalRecord& record : *records) {
      auto commit = std::make_shared<v1::JournalCommit>();
      if (!commit->ParseFromString(record.payload) || commit->seq() != record.seq) {
        return absl::DataLossError(absl::StrCat("journal of ", store_->path(), ": commit ", record.seq,
                                                " is not a readable journal record"));
      }
      r.commits.push_back(std::move(commit));
    }
    return r;
  }

  absl::StatusOr<PersistentIsolate::Blob> Capture(PersistentIsolate&) override {
    return absl::UnimplementedError("journal mode takes no snapshot at commit");
  }

  absl::Status Write(Checkpoint& checkpoint, const PersistentIsolate::Blob&, const OutboxChanges&,
                     const v1::JournalCommit* commit) override {
    if (commit == nullptr) return absl::InternalError("a journal-mode commit without its record");
    checkpoint.seq = commit->seq();
    return journal_->Append(commit->seq(), commit->SerializeAsString());
  }

 private:
  CheckpointStore* store_;
  std::unique_ptr<Journal> journal_;
};

}  // namespace

std::unique_ptr<Durability> NewJournalDurability(CheckpointStore* store, std::unique_ptr<Journal> journal) {
  return std::make_unique<JournalDurability>(store, std::move(journal));
}

}  // namespace ken
