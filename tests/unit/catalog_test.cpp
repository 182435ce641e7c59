// The catalog refuses files that are not its own or newer than the code, migrates new ones,
// and keeps CRIDs strictly increasing.
#include "db/Catalog.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "base/Error.h"
#include "db/Migrations.h"

namespace deja::db {
namespace {

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/deja-catalog-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/catalog.db";
  }
  void TearDown() override {
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((path_ + suffix).c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_, path_;
};

TEST_F(CatalogTest, NewCatalogHasCurrentVersionAndId) {
  Catalog c(path_);
  EXPECT_EQ(c.database().pragma_int("user_version"), Catalog::schema_version());
  EXPECT_EQ(c.database().pragma_int("application_id"), kApplicationId);
}

TEST_F(CatalogTest, RefusesNewerSchemaAndLeavesItAlone) {
  {
    Catalog c(path_);
    c.database().exec("PRAGMA user_version = 999");
  }
  try {
    Catalog again(path_);
    FAIL() << "opened a catalog from the future";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this deja"), std::string::npos) << e.what();
  }
  Database raw(path_);
  EXPECT_EQ(raw.pragma_int("user_version"), 999);
}

TEST_F(CatalogTest, RefusesAnotherProgramsDatabase) {
  {
    Database other(path_);
    other.exec("CREATE TABLE songs (title TEXT)");
  }
  EXPECT_THROW(Catalog c(path_), Error);
  Database raw(path_);
  EXPECT_EQ(raw.pragma_int("application_id"), 0);
}

TEST_F(CatalogTest, CridsIncreaseAndCheckpointsListInOrder) {
  Catalog c(path_);
  SessionRow s;
  s.id = "abc";
  s.name = "test";
  s.state = "recording";
  s.started = 100;
  s.command = "[\"sleep\"]";
  s.home = "/home/root";
  c.add_session(s);
  Crid a = c.reserve_crid(), b = c.reserve_crid();
  EXPECT_LT(a, b);
  for (Crid crid : {b, a}) {
    CheckpointRow row;
    row.crid = crid;
    row.session = "abc";
    row.time = 100 + static_cast<double>(crid.value);
    row.fsid = 256 + crid.value;
    row.snapshot = "snapshots/abc/" + std::to_string(crid.value);
    row.downtime_ms = 1.5;
    c.add_checkpoint(row);
  }
  auto rows = c.checkpoints("abc");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].crid, a);
  EXPECT_EQ(rows[1].crid, b);
  EXPECT_EQ(rows[1].fsid, 256 + b.value);
  EXPECT_EQ(c.checkpoint_count("abc"), 2);
  EXPECT_FALSE(c.find_checkpoint("abc", Crid{b.value + 100}));
  // At or before a time: exact, between, after all, before all.
  EXPECT_EQ(c.checkpoint_at("abc", 100 + static_cast<double>(a.value))->crid, a);
  EXPECT_EQ(c.checkpoint_at("abc", 100.5 + static_cast<double>(a.value))->crid, a);
  EXPECT_EQ(c.checkpoint_at("abc", 1e12)->crid, b);
  EXPECT_FALSE(c.checkpoint_at("abc", 50));
}

TEST_F(CatalogTest, CheckpointOfUnknownSessionIsRejected) {
  Catalog c(path_);
  CheckpointRow row;
  row.crid = c.reserve_crid();
  row.session = "missing";
  EXPECT_THROW(c.add_checkpoint(row), Error);
  EXPECT_EQ(c.checkpoint_count("missing"), 0);
}

TEST_F(CatalogTest, TransactionRollsBackUnlessCommitted) {
  Catalog c(path_);
  {
    Transaction tx(c.database());
    Statement(c.database(), "UPDATE counters SET value = 41 WHERE name = 'crid'").run();
  }
  EXPECT_EQ(c.reserve_crid().value, 1u);
}

// A catalog as an older deja left it: the schema up to `version`, one session and one
// checkpoint of it, and (from version 2 on) one line of on-screen text.
void write_old_catalog(const std::string& path, int version) {
  Database old(path);
  for (int v = 0; v < version; ++v) old.exec(migrations()[static_cast<size_t>(v)]);
  old.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
  old.exec("PRAGMA user_version = " + std::to_string(version));
  old.exec(
      "INSERT INTO sessions (id, name, state, started, stopped, command, home, exit_status) "
      "VALUES ('old1', 'old', 'stopped', 100, 160, '[\"sleep\"]', '/home/root', 0)");
  old.exec(
      "INSERT INTO checkpoints (crid, session, time, image, fsid, snapshot, downtime_ms) "
      "VALUES (7, 'old1', 130, '7.img', 300, 'snapshots/old1/7', 2.5)");
  old.exec("UPDATE counters SET value = 7 WHERE name = 'crid'");
  if (version >= 2) {
    old.exec(
        "INSERT INTO display_text (id, session, first_ms, x, y, w, h, confidence) "
        "VALUES (1, 'old1', 100000, 1, 2, 3, 4, 90)");
    old.exec("INSERT INTO display_text_fts (rowid, text, joined) VALUES (1, 'hello old', '')");
  }
}

class OldCatalogTest : public CatalogTest, public ::testing::WithParamInterface<int> {};

TEST_P(OldCatalogTest, IsMigratedWithItsRowsKept) {
  write_old_catalog(path_, GetParam());
  Catalog c(path_);
  EXPECT_EQ(c.database().pragma_int("user_version"), Catalog::schema_version());
  auto s = c.find_session("old1");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, "stopped");
  EXPECT_EQ(s->exit_status, 0);
  auto rows = c.checkpoints("old1");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].crid.value, 7u);
  EXPECT_EQ(rows[0].fsid, 300u);
  EXPECT_EQ(rows[0].image, "7.img");
  EXPECT_FALSE(rows[0].parent_crid);  // an old image is a full one
  // New rows go on from the old counter, with what the new schema added.
  Crid next = c.reserve_crid();
  EXPECT_EQ(next.value, 8u);
  CheckpointRow row = rows[0];
  row.crid = next;
  row.parent_crid = 7;
  row.references = {Crid{7}};
  c.add_checkpoint(row);
  EXPECT_EQ(c.find_checkpoint("old1", next)->parent_crid, 7u);
  EXPECT_EQ(c.image_references()[8], std::vector<uint64_t>{7});
  if (GetParam() >= 2) {
    Statement text(c.database(),
                   "SELECT rowid FROM display_text_fts WHERE display_text_fts MATCH 'hello'");
    ASSERT_TRUE(text.step());
    EXPECT_EQ(text.int64(0), 1);
  }
  // Opening it again finds nothing left to migrate.
  Catalog again(path_);
  EXPECT_EQ(again.checkpoints("old1").size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Versions, OldCatalogTest, ::testing::Values(1, 2));

}  // namespace
}  // namespace deja::db
