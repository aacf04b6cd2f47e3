#include "ferry/core/memory.hpp"

#include <malloc.h>
#include <sys/mman.h>

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

}  // namespace ferry
