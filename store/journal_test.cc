#include "store/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace ken {
namespace {

constexpr char kId[] = "0123456789abcdef0123456789abcdef";

std::string TempDir() {
  const char* t = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(t ? t : "/tmp") + "/journalXXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

std::unique_ptr<Journal> OpenOk(const std::string& store, JournalOptions options = {}) {
  auto j = Journal::Open(store, kId, options);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? std::move(*j) : nullptr;
}

std::vector<int64_t> Seqs(const Journal& j, int64_t after = 0) {
  auto r = j.RecordsAfter(after);
  EXPECT_TRUE(r.ok()) << r.status();
  std::vector<int64_t> out;
  if (r.ok()) {
    for (const auto& rec : *r) out.push_back(rec.seq);
  }
  return out;
}

// Writes `bytes` at `offset` of `path`.
void Poke(const std::string& path, off_t offset, const std::string& bytes) {
  int fd = open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), offset), static_cast<ssize_t>(bytes.size()));
  close(fd);
}

TEST(JournalTest, RecordsSurviveReopenInOrder) {
  const std::string store = TempDir() + "/a.ken";
  {
    auto j = OpenOk(store);
    EXPECT_EQ(j->last_seq(), 0);
    for (int64_t s = 5; s <= 9; ++s) ASSERT_TRUE(j->Append(s, "payload-" + std::to_string(s)).ok());
    EXPECT_EQ(j->last_seq(), 9);
  }
  auto j = OpenOk(store);
  EXPECT_EQ(Seqs(*j, 4), (std::vector<int64_t>{5, 6, 7, 8, 9}));
  EXPECT_EQ(Seqs(*j, 7), (std::vector<int64_t>{8, 9}));
  auto r = j->RecordsAfter(6);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].payload, "payload-7");
  EXPECT_EQ(j->last_seq(), 9);
  // Appends go on from there, into a new segment.
  ASSERT_TRUE(j->Append(10, std::string(100000, 'x')).ok());
  EXPECT_EQ(Journal::SegmentFiles(store).size(), 2u);
  EXPECT_FALSE(j->Append(12, "gap").ok());
}

TEST(JournalTest, SegmentsArePreallocated) {
  const std::string store = TempDir() + "/a.ken";
  JournalOptions o;
  o.segment_bytes = 1 << 20;
  auto j = OpenOk(store, o);
  ASSERT_TRUE(j->Append(1, "x").ok());
  EXPECT_EQ(Journal::DiskBytes(store), 1 << 20);
  // A record larger than a segment gets a segment of its own size.
  ASSERT_TRUE(j->Append(2, std::string(3 << 20, 'y')).ok());
  EXPECT_GE(Journal::DiskBytes(store), (1 << 20) + (3 << 20));
  j.reset();
  auto again = OpenOk(store, o);
  auto r = again->RecordsAfter(0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].payload.size(), 3u << 20);
}

TEST(JournalTest, TornTailIsTheEnd) {
  const std::string store = TempDir() + "/a.ken";
  {
    auto j = OpenOk(store);
    for (int64_t s = 1; s <= 3; ++s) ASSERT_TRUE(j->Append(s, std::string(40, 'a' + s)).ok());
  }
  // Half of a fourth record: a header whose payload never made it.
  const std::string seg = Journal::SegmentFiles(store)[0];
  const off_t end = 64 + 3 * (16 + 40);
  std::string header(16, '\0');
  header[0] = 40;       // length
  header[4] = 0x55;     // a crc that cannot match
  header[8] = 4;        // seq
  Poke(seg, end, header + "partial");
  auto j = OpenOk(store);
  EXPECT_EQ(Seqs(*j), (std::vector<int64_t>{1, 2, 3}));
  // The next append goes to a new segment and the journal reads on.
  ASSERT_TRUE(j->Append(4, "four").ok());
  j.reset();
  EXPECT_EQ(Seqs(*OpenOk(store)), (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(JournalTest, DamageBeforeValidRecordsIsDataLoss) {
  const std::string store = TempDir() + "/a.ken";
  {
    auto j = OpenOk(store);
    for (int64_t s = 1; s <= 4; ++s) ASSERT_TRUE(j->Append(s, std::string(40, 'a')).ok());
  }
  const std::string seg = Journal::SegmentFiles(store)[0];
  Poke(seg, 64 + (16 + 40) + 20, "Z");  // inside record 2's payload
  auto j = Journal::Open(store, kId);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(j.status().message().find("committed records follow it"), std::string::npos) << j.status();
}

TEST(JournalTest, DamagedLastRecordBeforeANewerSegmentIsDataLoss) {
  const std::string store = TempDir() + "/a.ken";
  {
    auto j = OpenOk(store);
    for (int64_t s = 1; s <= 3; ++s) ASSERT_TRUE(j->Append(s, std::string(40, 'a')).ok());
    j->Rotate();
    ASSERT_TRUE(j->Append(4, "four").ok());
  }
  // Record 3 was durable (segment 2 starts at 4): losing it is a gap.
  Poke(Journal::SegmentFiles(store)[0], 64 + 2 * (16 + 40) + 20, "Z");
  auto j = Journal::Open(store, kId);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kDataLoss) << j.status();
}

TEST(JournalTest, SegmentOfAnotherStoreIsRefused) {
  const std::string store = TempDir() + "/a.ken";
  ASSERT_TRUE(OpenOk(store)->Append(1, "x").ok());
  auto other = Journal::Open(store, "ffffffffffffffffffffffffffffffff");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("belongs to another store"), std::string::npos) << other.status();
}

TEST(JournalTest, ContinuityWithTheSnapshotIsChecked) {
  const std::string store = TempDir() + "/a.ken";
  auto j = OpenOk(store);
  for (int64_t s = 10; s <= 12; ++s) ASSERT_TRUE(j->Append(s, "r").ok());
  j.reset();
  j = OpenOk(store);
  EXPECT_EQ(Seqs(*j, 9), (std::vector<int64_t>{10, 11, 12}));
  EXPECT_EQ(Seqs(*j, 12), std::vector<int64_t>{});
  auto missing = j->RecordsAfter(7);  // the snapshot is at 7, the journal starts at 10
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(missing.status().message().find("8..9 are missing"), std::string::npos) << missing.status();
}

TEST(JournalTest, DropThroughDeletesCoveredSegmentsOnly) {
  const std::string store = TempDir() + "/a.ken";
  JournalOptions o;
  o.segment_bytes = 4096;
  auto j = OpenOk(store, o);
  for (int64_t s = 1; s <= 3; ++s) ASSERT_TRUE(j->Append(s, "a").ok());
  j->Rotate();
  for (int64_t s = 4; s <= 6; ++s) ASSERT_TRUE(j->Append(s, "b").ok());
  j->Rotate();
  ASSERT_TRUE(j->Append(7, "c").ok());
  ASSERT_EQ(Journal::SegmentFiles(store).size(), 3u);
  EXPECT_GT(j->bytes_after(3), j->bytes_after(6));
  ASSERT_TRUE(j->DropThrough(5).ok());  // the second segment still holds 6
  EXPECT_EQ(Journal::SegmentFiles(store).size(), 2u);
  ASSERT_TRUE(j->DropThrough(7).ok());  // the current segment is kept
  EXPECT_EQ(Journal::SegmentFiles(store).size(), 1u);
  j.reset();
  EXPECT_EQ(Seqs(*OpenOk(store, o), 6), std::vector<int64_t>{7});
  ASSERT_TRUE(Journal::RemoveAll(store).ok());
  EXPECT_TRUE(Journal::SegmentFiles(store).empty());
}

TEST(JournalTest, ANewerSegmentSupersedesWhatItRewrites) {
  const std::string store = TempDir() + "/a.ken";
  auto j = OpenOk(store);
  for (int64_t s = 1; s <= 3; ++s) ASSERT_TRUE(j->Append(s, "old").ok());
  j.reset();
  // As after an append of 3 whose fdatasync failed: the writer rotates and
  // writes 3 again, in a segment whose header says it starts at 3. (Made
  // here in another folder and moved beside the store.)
  {
    const std::string other = TempDir() + "/b.ken";
    auto k = OpenOk(other);
    ASSERT_TRUE(k->Append(3, "new").ok());
    k.reset();
    const std::string seg = Journal::SegmentFiles(other)[0];
    ASSERT_EQ(rename(seg.c_str(), (store + ".journal.00000000000000000003").c_str()), 0);
  }
  auto r = OpenOk(store)->RecordsAfter(0);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[2].payload, "new");
}

TEST(JournalTest, ReadOnlyNeverWrites) {
  const std::string store = TempDir() + "/a.ken";
  ASSERT_TRUE(OpenOk(store)->Append(1, "x").ok());
  JournalOptions o;
  o.read_only = true;
  auto j = OpenOk(store, o);
  EXPECT_FALSE(j->Append(2, "y").ok());
  EXPECT_TRUE(j->DropThrough(5).ok());
  EXPECT_EQ(Journal::SegmentFiles(store).size(), 1u);
}

}  // namespace
}  // namespace ken
