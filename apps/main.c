/* `ptune`: the program is its command line (apps/pt_cli.h), started with
 * OpenBLAS's kernels chosen for the CPU and OpenMP threads that spin for a
 * bounded time before they sleep. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apps/pt_cli.h"
#include "tensor/pt_blas_core.h"

/* Two settings the libraries read once, in their constructors, before main:
 *
 * OPENBLAS_CORETYPE: OpenBLAS picks its kernels by CPU model, and a model
 * newer than its release can fall back to SSE3 kernels at a quarter of the
 * speed (tensor/pt_blas_core.h); the CPU's features name the right ones.
 *
 * GOMP_SPINCOUNT: libgomp's idle threads spin, by default for about 300,000
 * pause instructions (milliseconds), before they sleep. When another process
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
 * An executable's DT_PREINIT_ARRAY functions run before any shared
 * library's constructor (System V gABI; glibc's _dl_init), but before libc's
 * too: libc then points `environ` at the process's initial array, so setenv
 * there would be undone. The preinit function therefore lends the libraries
 * slots of that array: it puts each setting in the place of a shell
 * variable no library reads as it starts (`_`, OLDPWD, SHLVL, ...), and the
 * executable's constructor, which runs after every library's, puts the
 * variables back and sets the settings the ordinary way. A setting the
 * environment makes itself (OPENBLAS_CORETYPE; OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT) is left alone, and with no such shell variable to lend
 * (`env -i`) the libraries keep their defaults. tests/early_env.sh checks
 * what they read (OPENBLAS_VERBOSE=2, OMP_DISPLAY_ENV=VERBOSE). */
enum { EARLY_CORE, EARLY_SPIN, EARLY_N };
static char core_setting[64];                     /* "OPENBLAS_CORETYPE=<core>" */
static char spin_setting[] = "GOMP_SPINCOUNT=1000";
static char **lent_slot[EARLY_N]; /* the slots of the initial environment lent */
static char *lent_value[EARLY_N]; /* what they held */

static bool names(const char *entry, const char *name) {
  size_t n = strlen(name);
  return !strncmp(entry, name, n) && entry[n] == '=';
}

static bool is_spare(const char *entry) {
  static const char *const spare[] = {"_", "OLDPWD", "SHLVL", "PWD", "TERM", "LS_COLORS", NULL};
  for (int k = 0; spare[k]; k++)
    if (names(entry, spare[k])) return true;
  return false;
}

/* Before libc has started: no stdio, no allocation. */
static void early_env_lend(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  char *setting[EARLY_N] = {NULL, spin_setting};
  const char *core = pt_blas_core_for_cpu();
  if (core && strlen(core) < sizeof core_setting - sizeof "OPENBLAS_CORETYPE=") {
    memcpy(core_setting, "OPENBLAS_CORETYPE=", sizeof "OPENBLAS_CORETYPE=");
    strcat(core_setting, core);
    setting[EARLY_CORE] = core_setting;
  }
  for (char **e = envp; e && *e; e++) {
    if (names(*e, "OPENBLAS_CORETYPE")) setting[EARLY_CORE] = NULL;
    if (names(*e, "OMP_WAIT_POLICY") || names(*e, "GOMP_SPINCOUNT")) setting[EARLY_SPIN] = NULL;
  }
  int next = 0;
  for (char **e = envp; e && *e; e++) {
    while (next < EARLY_N && !setting[next]) next++;
    if (next == EARLY_N) break;
    if (!is_spare(*e)) continue;
    lent_slot[next] = e;
    lent_value[next] = *e;
    *e = setting[next++];
  }
}

__attribute__((used, section(".preinit_array"))) static void (*const preinit_early_env)(
    int, char **, char **) = early_env_lend;

__attribute__((constructor)) static void early_env_return(void) {
  for (int i = 0; i < EARLY_N; i++) {
    if (!lent_slot[i]) continue;
    char *setting = *lent_slot[i], *eq = strchr(setting, '=');
    *lent_slot[i] = lent_value[i];
    *eq = 0; /* as the libraries read it */
    setenv(setting, eq + 1, 1);
    *eq = '=';
  }
}

int main(int argc, char **argv) { return pt_cli_main(argc, argv); }
