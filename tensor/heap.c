/* pt_heap.h: glibc's thresholds for handing large blocks to mmap and for
 * trimming the heap, raised so a training loop's buffers are reused; one
 * arena for a server's threads. */
#include "tensor/pt_heap.h"

#include <stdlib.h> /* defines __GLIBC__ on glibc (pt_heap.h includes no libc header) */
#ifdef __GLIBC__
#include <malloc.h>
#endif

bool pt_heap_tune_for_reuse(void) {
#ifdef __GLIBC__
  bool mmap_ok = mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1;
  bool trim_ok = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  return mmap_ok && trim_ok;
#else
  return false;
#endif
}

bool pt_heap_one_arena(void) {
#ifdef __GLIBC__
  return mallopt(M_ARENA_MAX, 1) == 1;
#else
  return false;
#endif
}

void pt_heap_release_free(void) {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}
