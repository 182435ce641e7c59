#include "base/Json.h"

#include <gtest/gtest.h>

namespace deja {
namespace {

TEST(JsonWriter, NestsAndSeparates) {
  JsonWriter w;
  w.begin_object().field("a", 1).key("b").begin_array().value("x").value(2.5).null().end_array();
  w.field("c", true).end_object();
  EXPECT_EQ(w.str(), R"({"a":1,"b":["x",2.5,null],"c":true})");
}

TEST(JsonWriter, EscapesControlAndQuotes) {
  EXPECT_EQ(json_quote("a\"b\\c\n\x01"), R"("a\"b\\c\n\u0001")");
}

TEST(JsonWriter, KeepsTimePrecision) {
  JsonWriter w;
  w.value(1795000000.125);
  EXPECT_EQ(w.str(), "1795000000.125");
}

}  // namespace
}  // namespace deja
