/* The C library's heap tuned for training loops: large freed blocks are
 * kept for reuse instead of being handed back to the kernel.
 *
 * A training or inference step frees and allocates the same activation
 * buffers, megabytes each, every step. glibc serves blocks that large with
 * fresh mmaps (and trims freed memory off the heap top), so every step
 * page-faults its whole working set in again, the kernel zeroing each page.
 * Raising glibc's mmap and trim thresholds to 1 GiB (mallopt) keeps those
 * blocks on the heap, and the next step reuses the same pages: a BERT-base
 * P-Tuning v2 step takes ~100k fewer page faults. Peak RSS is unchanged (it
 * is the high-water mark either way).
 *
 * Why a host program may not want it: the change is process-wide (every
 * malloc of the program, not only ptune's), and memory freed after a peak
 * stays with the process instead of going back to the system, so a
 * long-lived server that trains once and then idles keeps its peak
 * footprint. The library therefore never does it by itself; the `ptune`
 * command calls it first thing, and a program of your own decides. */
#ifndef PT_HEAP_H
#define PT_HEAP_H

#include <stdbool.h>

/* Applies the thresholds above. Returns false (and changes nothing) where
 * the C library is not glibc. Call it before the first large allocation
 * (blocks mapped earlier stay mapped). */
bool pt_heap_tune_for_reuse(void);

/* Makes every thread allocate from one heap (glibc's M_ARENA_MAX 1; false
 * and nothing changed elsewhere). glibc gives threads heaps (arenas) of
 * their own, up to 8 per core, and what one arena frees no other reuses: a
 * server whose many connection threads allocate then grows each arena to
 * its own high-water mark. `ptune serve` calls it (bundled model, 64
 * connections, 60 s: RSS 259 -> 292 MB with glibc's arenas, 179 -> 217 MB
 * with one, the same throughput). Call it before other threads start. */
bool pt_heap_one_arena(void);

/* Gives the free pages the heap keeps back to the system (glibc
 * malloc_trim; a no-op elsewhere), for after a one-time shrink such as
 * frozen weights converted to bf16 (pt_params_store_frozen calls it): with
 * the tuning above their freed f32 half would otherwise stay resident until
 * activations happen to reuse it. */
void pt_heap_release_free(void);

#endif
