// ThreadSanitizer and librdkafka's threads: the contract of the replacement.
//
// Debian's librdkafka starts its threads with C11 thrd_create(), which GCC 12's
// TSan does not intercept (tools/tsan/c11_threads.cc says what goes wrong). In a
// TSan build every executable that runs librdkafka (the `sluice` CLI, the test
// binaries) links replacements of thrd_create()/thrd_join() that go through
// pthread_create()/pthread_join(). These tests check the C11 contract either
// way, and under TSan that the replacement is the definition the dynamic
// linker hands out, i.e. the one librdkafka's calls bind to.
#include <string>

#include "gtest/gtest.h"
#include <dlfcn.h>
#include <threads.h>

namespace {

TEST(C11ThreadsTest, AThreadRunsAndItsResultComesBackThroughThrdJoin) {
  int seen = 0;
  thrd_t thread;
  ASSERT_EQ(thrd_create(
                &thread,
                [](void* arg) -> int {
                  *static_cast<int*>(arg) = 7;
                  return 42;
                },
                &seen),
            thrd_success);
  int result = 0;
  ASSERT_EQ(thrd_join(thread, &result), thrd_success);
  EXPECT_EQ(result, 42);
  EXPECT_EQ(seen, 7);  // ordered by the join: under TSan, no report
}

// Something defined in this executable, to tell its mapping from libc's.
void InThisExecutable() {}

TEST(C11ThreadsTest, UnderTsanLibrdkafkaBindsToTheExecutablesThrdCreateAndThrdJoin) {
  Dl_info self{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&InThisExecutable), &self), 0);
  // The global lookup order (RTLD_DEFAULT) is the one librdkafka's own references follow.
  for (const char* name : {"thrd_create", "thrd_join"}) {
    void* found = dlsym(RTLD_DEFAULT, name);
    ASSERT_NE(found, nullptr) << name;
    Dl_info info{};
    ASSERT_NE(dladdr(found, &info), 0) << name;
    const std::string from = info.dli_fname != nullptr ? info.dli_fname : "";
#if defined(__SANITIZE_THREAD__)
    EXPECT_EQ(info.dli_fbase, self.dli_fbase) << name << " is bound to " << from;
#else
    EXPECT_NE(info.dli_fbase, self.dli_fbase) << name << " is bound to " << from;
    EXPECT_NE(from.find("libc.so"), std::string::npos) << name << " is bound to " << from;
#endif
  }
}

}  // namespace
