// A test fixture around one python3 program in a container of its own (PythonInContainer),
// started for each test and waited for until it writes "ready".
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "tests/kmod/TestContainer.h"

namespace deja::kmod::test {

class PythonProgramTest : public ::testing::Test {
 protected:
  PythonProgramTest(const std::string& name, const char* program) : program_(name, program) {}
  void SetUp() override { ASSERT_TRUE(program_.wait_for("ready")) << "the program never started"; }

  PythonInContainer program_;
};

}  // namespace deja::kmod::test
