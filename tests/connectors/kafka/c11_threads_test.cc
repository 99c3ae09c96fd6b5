// ThreadSanitizer and librdkafka's threads.
//
// Debian's librdkafka is built with C11 threads (its builtin.features list
// C11THREADS): it starts every thread with thrd_create() and joins it with
// thrd_join(). glibc (2.34 and later) implements both without going through
// pthread_create() and pthread_join(), so GCC 12's TSan never registers those
// threads: the first malloc() on one of them crashes inside TSan's allocator
// (SEGV in SizeClassAllocator64LocalCache::Allocate, first seen on the
// embedded broker's "rdk:mock" thread), and a join would not order the
// thread's writes before the joiner's reads.
//
// In a TSan build this file defines thrd_create() and thrd_join() in the test
// binary. The dynamic linker binds librdkafka's calls to these definitions
// (an executable's global symbols come first, and an unversioned definition
// satisfies librdkafka's thrd_create@GLIBC_2.34), and they go through the
// pthread functions TSan intercepts. Outside TSan nothing is replaced; the
// test below checks the C11 contract either way.
#include <cerrno>
#include <cstdint>
#include <new>

#include "gtest/gtest.h"
#include <pthread.h>
#include <threads.h>

#if defined(__SANITIZE_THREAD__)

namespace {

struct C11Start {
  thrd_start_t start;
  void* arg;
};

// glibc's convention for a C11 thread's result: the int, carried in the
// pointer pthread_join() returns (thrd_join() converts it back).
void* RunC11Thread(void* opaque) {
  const C11Start call = *static_cast<C11Start*>(opaque);
  delete static_cast<C11Start*>(opaque);
  return reinterpret_cast<void*>(static_cast<intptr_t>(call.start(call.arg)));
}

}  // namespace

extern "C" int thrd_create(thrd_t* thread, thrd_start_t start, void* arg) {
  auto* call = new (std::nothrow) C11Start{start, arg};
  if (call == nullptr) return thrd_nomem;
  const int err = pthread_create(thread, nullptr, &RunC11Thread, call);
  if (err != 0) {
    delete call;
    return err == EAGAIN ? thrd_nomem : thrd_error;
  }
  return thrd_success;
}

extern "C" int thrd_join(thrd_t thread, int* result) {
  void* value = nullptr;
  if (pthread_join(thread, &value) != 0) return thrd_error;
  if (result != nullptr) *result = static_cast<int>(reinterpret_cast<intptr_t>(value));
  return thrd_success;
}

#endif  // __SANITIZE_THREAD__

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

}  // namespace
