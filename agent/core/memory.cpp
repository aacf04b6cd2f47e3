#include "ferry/core/memory.hpp"

#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace ferry {

ReleasedMemory ReleaseIdleMemory() {
  ReleasedMemory released;
  malloc_trim(0);
#ifdef MADV_PAGEOUT
  std::FILE* maps = std::fopen("/proc/self/maps", "re");
  if (maps == nullptr) {
    return released;
  }
  char line[4096];
  bool any_ok = false;
  while (std::fgets(line, sizeof line, maps) != nullptr) {
    unsigned long start = 0;
    unsigned long end = 0;
    char perms[8] = {};
    unsigned long offset = 0;
    char dev[16] = {};
    unsigned long inode = 0;
    int path_at = 0;
    if (std::sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &start, &end, perms, &offset, dev, &inode,
                    &path_at) < 6) {
      continue;
    }
    // Only clean file pages: a path, an inode, and not writable (code, read-only data).
    if (inode == 0 || line[path_at] != '/' || perms[1] == 'w') {
      continue;
    }
    ++released.mappings;
    if (::madvise(reinterpret_cast<void*>(start), end - start, MADV_PAGEOUT) == 0) {
      any_ok = true;
    }
  }
  std::fclose(maps);
  released.paged_out = any_ok;
#endif
  return released;
}

void ReleaseUnusedStack() {
  pthread_attr_t attr;
  if (::pthread_getattr_np(::pthread_self(), &attr) != 0) {
    return;
  }
  void* lowest = nullptr;
  std::size_t size = 0;
  const bool known = ::pthread_attr_getstack(&attr, &lowest, &size) == 0;
  ::pthread_attr_destroy(&attr);
  if (!known) {
    return;
  }
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  // The stack grows down: nothing below this frame is in use. One page is left for madvise's own
  // call.
  volatile char here = 0;
  const auto low = reinterpret_cast<std::uintptr_t>(lowest);
  const auto high = (reinterpret_cast<std::uintptr_t>(&here) - page) & ~(page - 1);
  if (high > low) {
    // The main thread's stack may not be mapped that far down: the mapped part is released.
    (void)::madvise(lowest, high - low, MADV_DONTNEED);
  }
}

}  // namespace ferry
