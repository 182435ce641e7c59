// Thin RAII layer over SQLite: a connection, prepared statements bound with typed calls,
// and transactions that roll back unless committed. No SQL is ever built from user data.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace deja::db {

class Database;

/// A prepared statement. Bind with 1-based indexes, step() until it returns false.
class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  Statement(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind(int i, int64_t v);
  Statement& bind(int i, uint64_t v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, double v);
  Statement& bind(int i, std::string_view v);
  Statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Statement& bind_null(int i);
  template <typename T>
  Statement& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind_null(i);
  }

  /// Runs one step: true when a row is ready to read, false when done.
  bool step();
  /// Runs to completion, for statements that return no rows.
  void run();
  void reset();

  bool is_null(int col) const;
  int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  std::optional<int64_t> opt_int64(int col) const;
  std::optional<std::string> opt_text(int col) const;

 private:
  Database* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

/// One connection to a catalog file.
class Database {
 public:
  explicit Database(const std::string& path);
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  /// Runs SQL with no parameters (schema, pragmas).
  void exec(std::string_view sql);
  int64_t pragma_int(std::string_view name);
  int64_t last_insert_rowid() const;
  int changes() const;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  /// Throws an Error naming the operation and SQLite's message.
  [[noreturn]] void fail(std::string_view what) const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

/// BEGIN IMMEDIATE on construction; rolls back in the destructor unless commit() ran.
class Transaction {
 public:
  explicit Transaction(Database& db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace deja::db
