// The catalog refuses files that are not its own or newer than the code, migrates new ones,
// and keeps CRIDs strictly increasing.
#include "db/Catalog.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "base/Error.h"

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

}  // namespace
}  // namespace deja::db
