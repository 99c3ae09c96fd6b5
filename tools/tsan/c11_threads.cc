// ThreadSanitizer and librdkafka's threads: thrd_create()/thrd_join() that TSan sees.
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
// This file is compiled only in a TSan build (tools/CMakeLists.txt, the
// sluice_tsan_c11_threads object library), and linked into every executable
// that runs librdkafka: the `sluice` CLI and the test binaries. The dynamic
// linker binds librdkafka's calls to these definitions (an executable's
// exported symbols come first, and an unversioned definition satisfies
// librdkafka's thrd_create@GLIBC_2.34); they go through the pthread functions
// TSan intercepts. tests/connectors/kafka/c11_threads_test.cc checks the C11
// contract, and that the definitions here are the ones in use.
#include <cerrno>
#include <cstdint>
#include <new>

#include <pthread.h>
#include <threads.h>

#if !defined(__SANITIZE_THREAD__)
#error \
    "tools/tsan/c11_threads.cc replaces glibc's C11 threads: build it only with -fsanitize=thread"
#endif

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

// Visibility default: the executable must export these (in .dynsym) for the
// dynamic linker to bind librdkafka's references to them.
extern "C" __attribute__((visibility("default"))) int thrd_create(thrd_t* thread,
                                                                  thrd_start_t start, void* arg) {
  auto* call = new (std::nothrow) C11Start{start, arg};
  if (call == nullptr) return thrd_nomem;
  const int err = pthread_create(thread, nullptr, &RunC11Thread, call);
  if (err != 0) {
    delete call;
    return err == EAGAIN ? thrd_nomem : thrd_error;
  }
  return thrd_success;
}

extern "C" __attribute__((visibility("default"))) int thrd_join(thrd_t thread, int* result) {
  void* value = nullptr;
  if (pthread_join(thread, &value) != 0) return thrd_error;
  if (result != nullptr) *result = static_cast<int>(reinterpret_cast<intptr_t>(value));
  return thrd_success;
}
