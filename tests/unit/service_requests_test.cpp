// What the service runs for a user's request: only the commands and options it offers,
// always for that user (--owner, in a user namespace), and only on the user's own sessions.
#include <gtest/gtest.h>

#include "base/Error.h"
#include "service/UserRequests.h"

namespace deja::service {
namespace {

using Words = std::vector<std::string>;

// Session "mine" belongs to uid 1000, "theirs" to 1001, "roots" to the store's owner.
std::optional<std::optional<int64_t>> owner_of(const std::string& id) {
  if (id == "mine") return std::optional<int64_t>(1000);
  if (id == "theirs") return std::optional<int64_t>(1001);
  if (id == "roots") return std::optional<int64_t>();
  return std::nullopt;
}

Words run(const Words& w, uid_t uid = 1000) {
  return service_command(w, uid, owner_of);
}

std::string refusal(const Words& w, uid_t uid = 1000) {
  try {
    run(w, uid);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ServiceCommand, RecordRunsDetachedInAUserNamespaceForTheUser) {
  EXPECT_EQ(run({"record", "--name", "--owner", "--exclude-app", "x*", "--", "xterm", "--owner"}),
            (Words{"record", "--detach", "--userns", "--owner", "1000", "--name", "--owner",
                   "--exclude-app", "x*", "--", "xterm", "--owner"}));
  EXPECT_EQ(run({"record", "--detach", "--desktop"}),
            (Words{"record", "--detach", "--userns", "--owner", "1000", "--desktop"}));
}

TEST(ServiceCommand, OptionsNotOfferedAreRefused) {
  EXPECT_NE(refusal({"record", "--owner", "0", "--", "sh"}).find("not offered"),
            std::string::npos);
  EXPECT_NE(refusal({"record", "--owner=0", "--", "sh"}).find("not offered"), std::string::npos);
  EXPECT_NE(refusal({"record", "--pids-max", "9", "--", "sh"}).find("not offered"),
            std::string::npos);
  EXPECT_NE(refusal({"gc"}).find("'gc' is not offered"), std::string::npos);
  EXPECT_NE(refusal({"exec", "mine", "--", "sh"}).find("not offered"), std::string::npos);
  EXPECT_NE(refusal({"record", "--name"}).find("needs a value"), std::string::npos);
  EXPECT_NE(refusal({}).find("no command"), std::string::npos);
}

TEST(ServiceCommand, SessionsListsTheUsersOwn) {
  EXPECT_EQ(run({"sessions", "--json"}), (Words{"sessions", "--json", "--owner", "1000"}));
  EXPECT_NE(refusal({"sessions", "--owner", "1001"}).find("not offered"), std::string::npos);
}

TEST(ServiceCommand, OnlyTheUsersOwnSessionsAreReached) {
  EXPECT_EQ(run({"stop", "mine"}), (Words{"stop", "mine"}));
  EXPECT_EQ(run({"gaps", "mine", "--json"}), (Words{"gaps", "--json", "mine"}));
  const std::string none = "you have no session";
  EXPECT_NE(refusal({"stop", "theirs"}).find(none), std::string::npos);
  EXPECT_NE(refusal({"pause", "roots"}).find(none), std::string::npos);
  EXPECT_NE(refusal({"resume", "nosuch"}).find(none), std::string::npos);
  EXPECT_NE(refusal({"checkpoint"}).find("needs one SESSION"), std::string::npos);
  EXPECT_NE(refusal({"stop", "mine", "--", "x"}).find("takes no command"), std::string::npos);
  // Root, asking through the service, reaches any.
  EXPECT_EQ(run({"stop", "theirs"}, 0), (Words{"stop", "theirs"}));
}

}  // namespace
}  // namespace deja::service
