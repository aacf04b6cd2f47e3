// Giving memory back when the agent goes idle. A device with a few hundred megabytes of RAM runs
// ferryd for months between updates: what an update needed (decompression buffers, the code of
// TLS, zstd and libarchive) should not stay resident while it waits for the next one.
#pragma once

#include <cstdint>

namespace ferry {

struct ReleasedMemory {
  std::uint64_t mappings = 0;  // file-backed mappings advised
  bool paged_out = false;      // whether the kernel took the advice (MADV_PAGEOUT, Linux >= 5.4)
};

// Returns free heap to the kernel (malloc_trim) and asks the kernel to reclaim this process's
// clean file-backed pages (program and library code and read-only data) with MADV_PAGEOUT. Pages
// other processes also map are left alone by the kernel; the rest are dropped from this process
// only (they stay in the page cache) and fault back in when used again. Anonymous and writable
// memory is never touched. Best effort: errors are ignored.
ReleasedMemory ReleaseIdleMemory();

// Gives the kernel back the pages of the calling thread's stack below the frame it runs in
// (MADV_DONTNEED: they read as zeros when the stack grows there again), as glibc does for a thread
// that ends. For a thread about to wait for long after deep work. Best effort.
void ReleaseUnusedStack();

}  // namespace ferry
