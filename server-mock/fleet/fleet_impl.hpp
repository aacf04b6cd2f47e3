// Private to the fleet module: the state behind ferry::fleet::Fleet, shared by fleet.cpp
// (devices, events, inventory, assignment) and deployments.cpp (deployments and their phases).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/core/clock.hpp"
#include "ferry/fleet/error.hpp"
#include "ferry/fleet/fleet.hpp"
#include "migrations.hpp"

namespace ferry::fleet {

// A write transaction (BEGIN IMMEDIATE); rolled back unless committed.
class Transaction {
 public:
  static Result<Transaction> Begin(Database& db);
  Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();
  Status Commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_;
};

struct Fleet::Impl {
  Impl(Database database, Clock& c) : db(std::move(database)), clock(c) {}

  Database db;
  Clock& clock;
  FleetOptions options;
  std::mutex mu;
  Clock::TimePoint next_reconcile{};
  ReleaseCheck release_check;

  std::int64_t Now() const;

  // Everything below expects `mu` held.
  // Compacts the device's oldest events while its kept events pass a FleetOptions bound.
  Status CompactEvents(std::string_view device_id);
  Result<Device> LoadDevice(std::string_view id);
  Result<Deployment> LoadDeployment(std::string_view id);
  Status ReconcileLocked();
  // Creates a deployment inside the caller's transaction.
  Result<std::string> CreateLocked(const DeploymentSpec& spec, std::string_view reverts);
  Result<Deployment> Transition(std::string_view id, std::string_view action,
                                std::string_view reason);
};

// A fresh device token: "fdt_" and 64 hex digits (32 random bytes).
Result<std::string> NewToken();
std::string Sha256Hex(std::string_view data);

// "no such device x" style errors for values from outside: the value is quoted and cut short.
std::string Quote(std::string_view value);

}  // namespace ferry::fleet
