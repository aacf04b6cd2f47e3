#include "agent/store/migrations.hpp"

#include <gtest/gtest.h>

#include <map>

#include "ferry/store/state_store.hpp"
#include "support/temp_dir.hpp"

namespace ferry::store {
namespace {

// Sample rows valid at each schema version, written before migrating on.
const std::map<int, std::string_view> kSampleData = {
    {1,
     "INSERT INTO trusted_metadata VALUES ('root', 1, 2000000000, x'7b7d', 1);"
     "INSERT INTO trust_state VALUES ('time_floor', 1700000000);"},
    {2,
     "INSERT INTO layers VALUES ('sha256:aa', 'complete', 10, 1);"
     "INSERT INTO downloads VALUES ('sha256:bb', 'http://x/b', 5, 10, 'e', 1);"},
    {3,
     "INSERT INTO apps VALUES ('web', 'web-1', NULL, 1);"
     "INSERT INTO revisions(id, app, version, manifest_digest, state, bad, reason, created_at, "
     "updated_at) VALUES ('web-1', 'web', '1.0.0', 'sha256:cc', 'committed', 0, '', 1, 1);"
     "INSERT INTO revision_layers VALUES ('web-1', 0, 'sha256:aa');"
     "INSERT INTO outbox(kind, app, payload, created_at) VALUES ('committed', 'web', '{}', 1);"},
    {4, "UPDATE revisions SET start_attempts = 1, interruptions = 2 WHERE id = 'web-1';"},
    {5, "UPDATE revisions SET probation_until = 1700000300000 WHERE id = 'web-1';"},
    {6, "UPDATE revisions SET retried = 'technician' WHERE id = 'web-1';"},
    {7, "INSERT INTO release_backoff VALUES ('web@2.0.0#d-1', 2, 1700000000000, 'no space');"},
    {8, "UPDATE revisions SET probation_exits = 2 WHERE id = 'web-1';"},
};

std::string Schema(Database& db) {
  auto stmt = db.Prepare(
      "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master "
      "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name");
  EXPECT_TRUE(stmt);
  std::string out;
  while (*stmt->Step()) {
    out += stmt->Text(0) + "\n";
  }
  return out;
}

TEST(Migrations, AreNumberedFromOneWithoutGaps) {
  int expected = 1;
  for (const Migration& m : Migrations()) {
    EXPECT_EQ(m.version, expected++) << m.name;
  }
  EXPECT_EQ(LatestSchemaVersion(), static_cast<int>(Migrations().size()));
}

TEST(Migrations, EveryEarlierVersionMigratesToTheLatestAndKeepsItsData) {
  testing::TempDir dir;
  std::string fresh_schema;
  {
    auto db = OpenDatabase(dir / "fresh.db");
    ASSERT_TRUE(db);
    ASSERT_TRUE(Migrate(*db, LatestSchemaVersion()));
    fresh_schema = Schema(*db);
  }
  for (int start = 0; start <= LatestSchemaVersion(); ++start) {
    SCOPED_TRACE("from schema version " + std::to_string(start));
    const auto path = dir / ("v" + std::to_string(start) + ".db");
    {
      auto db = OpenDatabase(path);
      ASSERT_TRUE(db);
      ASSERT_TRUE(Migrate(*db, start));
      for (int v = 1; v <= start; ++v) {
        ASSERT_TRUE(db->Exec(kSampleData.at(v))) << "sample data for version " << v;
      }
    }
    const SystemClock clock;
    auto store = OpenStateStore(path, clock);
    ASSERT_TRUE(store) << store.error().message();
    store->reset();
    auto db = OpenDatabase(path);
    ASSERT_TRUE(db);
    EXPECT_EQ(*db->QueryInt("PRAGMA user_version"), LatestSchemaVersion());
    EXPECT_EQ(Schema(*db), fresh_schema);
    // Data written at older versions is still there.
    if (start >= 1) {
      EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM trusted_metadata"), 1);
    }
    if (start >= 2) {
      EXPECT_EQ(*db->QueryInt("SELECT bytes_done FROM downloads"), 5);
    }
    if (start >= 3) {
      EXPECT_EQ(*db->QueryText("SELECT current_revision FROM apps"), "web-1");
      EXPECT_EQ(*db->QueryInt("SELECT start_attempts FROM revisions"), start >= 4 ? 1 : 0);
      EXPECT_EQ(*db->QueryInt("SELECT coalesce(probation_until, 0) FROM revisions"),
                start >= 5 ? 1700000300000 : 0);
      EXPECT_EQ(*db->QueryText("SELECT retried FROM revisions"), start >= 6 ? "technician" : "");
      EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM release_backoff"), start >= 7 ? 1 : 0);
      EXPECT_EQ(*db->QueryInt("SELECT probation_exits FROM revisions"), start >= 8 ? 2 : 0);
    }
  }
}

TEST(Migrations, FailedMigrationLeavesTheDatabaseUnchanged) {
  testing::TempDir dir;
  auto db = OpenDatabase(dir / "state.db");
  ASSERT_TRUE(db);
  ASSERT_TRUE(Migrate(*db, 1));
  // A table in the way makes migration 2 fail half-way.
  ASSERT_TRUE(db->Exec("CREATE TABLE downloads (x INTEGER)"));
  auto st = Migrate(*db, LatestSchemaVersion());
  ASSERT_FALSE(st);
  EXPECT_TRUE(st.error().Is(StoreErrc::kMigrationFailed));
  EXPECT_NE(st.error().message().find("migration 2"), std::string::npos) << st.error().message();
  EXPECT_EQ(*db->QueryInt("PRAGMA user_version"), 1);
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM sqlite_master WHERE name = 'layers'"), 0);
}

TEST(Migrations, NewerDatabaseIsRefused) {
  testing::TempDir dir;
  {
    auto db = OpenDatabase(dir / "state.db");
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->Exec("PRAGMA user_version = 999"));
  }
  const SystemClock clock;
  auto store = OpenStateStore(dir / "state.db", clock);
  ASSERT_FALSE(store);
  EXPECT_TRUE(store.error().Is(StoreErrc::kTooNew));
  EXPECT_NE(store.error().message().find("999"), std::string::npos);
}

}  // namespace
}  // namespace ferry::store
