/* Adaptive thread count behind pt_threads.h. */
#define _GNU_SOURCE
#include "tensor/pt_threads.h"

#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Seconds between samples: long enough for /proc/stat's 10 ms ticks to
 * average out, short next to a training step. */
#define SAMPLE_S 0.25

static atomic_bool enabled;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  bool started;
  int ceiling, current; /* threads: at most, and last set */
  double t_last, self_last, busy_last; /* seconds */
  double other_load;
  int changes;
  cpu_set_t cpus; /* the cores this process may run on */
} st = {.other_load = -1};

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Busy seconds (everything but idle and iowait, steal included: time the
 * hypervisor gave elsewhere is not ours either) summed over `cpus`; -1 when
 * /proc/stat cannot be read. */
static double busy_seconds(const cpu_set_t *cpus) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return -1;
  static double tick;
  if (tick == 0) {
    long hz = sysconf(_SC_CLK_TCK);
    tick = hz > 0 ? 1.0 / (double)hz : 0.01;
  }
  char line[512];
  double busy = 0;
  bool any = false;
  while (fgets(line, sizeof line, f)) {
    int cpu;
    unsigned long long v[8] = {0};
    if (strncmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9') continue;
    if (sscanf(line + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2],
               &v[3], &v[4], &v[5], &v[6], &v[7]) < 5)
      continue;
    if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, cpus)) continue;
    /* user nice system idle iowait irq softirq steal */
    busy += (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * tick;
    any = true;
  }
  fclose(f);
  return any ? busy : -1;
}

void pt_set_adaptive_threads(bool on) {
  pthread_mutex_lock(&lock);
  if (on && !atomic_load(&enabled)) {
    st.started = false; /* the next call takes a first sample */
  } else if (!on && atomic_load(&enabled) && st.started && omp_get_max_threads() == st.current) {
    omp_set_num_threads(st.ceiling); /* back to the count we found */
  }
  atomic_store(&enabled, on);
  pthread_mutex_unlock(&lock);
}

bool pt_adaptive_threads(void) { return atomic_load(&enabled); }

int pt_threads_changes(void) { return st.changes; }
double pt_threads_other_load(void) { return st.other_load; }

static void first_sample(double now) {
  st.ceiling = st.current = omp_get_max_threads();
  if (sched_getaffinity(0, sizeof st.cpus, &st.cpus) != 0) {
    CPU_ZERO(&st.cpus);
    for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN) && c < CPU_SETSIZE; c++) CPU_SET(c, &st.cpus);
  }
  st.t_last = now;
  st.self_last = clock_s(CLOCK_PROCESS_CPUTIME_ID);
  st.busy_last = busy_seconds(&st.cpus);
  st.started = true;
}

void pt_threads_adapt(void) {
  if (!atomic_load(&enabled)) return;
  double now = clock_s(CLOCK_MONOTONIC);
  if (st.started && now - st.t_last < SAMPLE_S) return; /* racy read: only a hint */
  if (pthread_mutex_trylock(&lock) != 0) return; /* another thread is sampling */
  if (!st.started) {
    first_sample(now);
  } else if (now - st.t_last >= SAMPLE_S) {
    int have = omp_get_max_threads();
    if (have != st.current) st.ceiling = st.current = have; /* the program set a count */
    double self = clock_s(CLOCK_PROCESS_CPUTIME_ID), busy = busy_seconds(&st.cpus);
    if (busy >= 0 && st.busy_last >= 0) {
      double others = ((busy - st.busy_last) - (self - st.self_last)) / (now - st.t_last);
      st.other_load = others < 0 ? 0 : others;
      /* One thread per free core, with a band of ±0.1 core around each
       * boundary so that a load near half a core does not flip the count. */
      int cores = CPU_COUNT(&st.cpus);
      int down = (int)(cores - st.other_load + 0.6), up = (int)(cores - st.other_load + 0.4);
      int want = st.current > down ? down : st.current < up ? up : st.current;
      if (want > st.ceiling) want = st.ceiling;
      if (want < 1) want = 1;
      if (want != st.current) {
        omp_set_num_threads(want);
        st.current = want;
        st.changes++;
      }
    }
    st.t_last = now;
    st.self_last = self;
    st.busy_last = busy;
  }
  pthread_mutex_unlock(&lock);
}
