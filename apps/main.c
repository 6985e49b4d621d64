/* `ptune`: the program is its command line (apps/pt_cli.h), started with
 * OpenMP threads that spin for a bounded time before they sleep. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apps/pt_cli.h"

/* libgomp's idle threads spin, by default for about 300,000 pause
 * instructions (milliseconds), before they sleep. When another process
 * keeps a core busy, the thread sharing that core is preempted and its
 * partner spins through the time it could give away, and the scheduler
 * never sees a free core to move the late thread to: a BERT-base P-Tuning v2
 * step ran at 0.68-0.95x of PyTorch (which waits passively) on a 2-core
 * machine with one core taken, and `ptune serve`'s batches ran 10x slower
 * while its connection threads waited for a core. 1,000 pauses (tens of
 * microseconds; libgomp's own count when it knows it has more threads than
 * cores) still catch a region that follows right after the last one. On the
 * shared 2-core machine (load ~18), a small P-Tuning v2 step (2 x 128, batch
 * 4 x 32) took 570-960 ms with the default, 47-67 ms with 10,000 pauses,
 * 7-36 ms with 1,000 and 8-30 ms passive (three rounds, interleaved).
 *
 * libgomp reads GOMP_SPINCOUNT once, in its constructor, before main. An
 * executable's DT_PREINIT_ARRAY functions run before any shared library's
 * constructor (System V gABI; glibc's _dl_init), but before libc's too: libc
 * then points `environ` at the process's initial array, so setenv there
 * would be undone. The preinit function therefore lends libgomp one slot of
 * that array: it puts GOMP_SPINCOUNT in the place of a shell variable no
 * library reads as it starts (`_`, OLDPWD, SHLVL, ...), and the executable's
 * constructor, which runs after every library's, puts the variable back and
 * sets GOMP_SPINCOUNT the ordinary way. Nothing is changed when the
 * environment sets OMP_WAIT_POLICY or GOMP_SPINCOUNT itself, or holds none
 * of those shell variables (`env -i`). tests/omp_wait.sh checks what libgomp
 * read (OMP_DISPLAY_ENV=VERBOSE). */
#define SPIN_SETTING "GOMP_SPINCOUNT=1000"

static char **lent_slot;  /* the slot of the initial environment lent to libgomp */
static char *lent_value;  /* what it held */

static bool names(const char *entry, const char *name) {
  size_t n = strlen(name);
  return !strncmp(entry, name, n) && entry[n] == '=';
}

static void omp_spin_lend(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  static const char *const spare[] = {"_", "OLDPWD", "SHLVL", "PWD", "TERM", "LS_COLORS", NULL};
  char **slot = NULL;
  for (char **e = envp; e && *e; e++) {
    if (names(*e, "OMP_WAIT_POLICY") || names(*e, "GOMP_SPINCOUNT")) return;
    for (int k = 0; spare[k] && !slot; k++)
      if (names(*e, spare[k])) slot = e;
  }
  if (!slot) return;
  lent_slot = slot;
  lent_value = *slot;
  *slot = (char *)SPIN_SETTING;
}

__attribute__((used, section(".preinit_array"))) static void (*const preinit_omp_spin)(
    int, char **, char **) = omp_spin_lend;

__attribute__((constructor)) static void omp_spin_return(void) {
  if (!lent_slot) return;
  *lent_slot = lent_value;
  setenv("GOMP_SPINCOUNT", SPIN_SETTING + sizeof "GOMP_SPINCOUNT", 1); /* as libgomp read it */
}

int main(int argc, char **argv) { return pt_cli_main(argc, argv); }
