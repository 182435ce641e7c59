// A test fixture around one python3 program in a container of its own (PythonInContainer),
// started for each test and waited for until it writes "ready".
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "kmod/ProcessChanges.h"
#include "tests/kmod/TestContainer.h"

namespace deja::kmod::test {

class PythonProgramTest : public ::testing::Test {
 protected:
  PythonProgramTest(const std::string& name, const char* program) : program_(name, program) {}
  void SetUp() override { ASSERT_TRUE(program_.wait_for("ready")) << "the program never started"; }
  /// `hits` does not name the program while it sleeps in pause(), and names it once `act`
  /// (`what`, for the message) has made it hit the tracepoint.
  void expect_named_only_after(TracepointHits& hits, const char* what,
                               const std::function<void()>& act) {
    hits.mark();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto quiet = hits.since_mark();
    ASSERT_TRUE(quiet.has_value());
    EXPECT_FALSE(quiet->count(program_.pid())) << "a process asleep in pause() was named";
    hits.mark();
    act();
    auto named = hits.since_mark();
    ASSERT_TRUE(named.has_value());
    EXPECT_TRUE(named->count(program_.pid())) << what << " went unseen";
  }

  PythonInContainer program_;
};

}  // namespace deja::kmod::test
