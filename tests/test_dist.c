/* dist/: ranks, the ordered sum, gradient buckets, agreement. Runs as one
 * process and, from meson, under `mpirun -np 2` and `-np 3`: every check
 * compares with a result each rank computes alone (the data of every rank
 * is a function of the rank number), so the same assertions hold for any
 * number of ranks. Tests run in the same order on every rank (collectives)
 * and without forking (MPI). */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptune.h"

static int rank, size;

/* Element i of rank r's buffer: magnitudes from 1e-6 to 1e6, so the order
 * of additions changes the rounded sum. Not inlined: the product must be
 * rounded before the caller adds it (gnu11 lets gcc fuse a multiply and an
 * add into one FMA, which would round differently). */
__attribute__((noinline)) static double value(int r, int64_t i) {
  uint64_t b = pt_rng_bits(0xd157 + (uint64_t)r, (uint64_t)i);
  double m = pt_rng_u01(b) - 0.5, e = (double)((b >> 8) % 13) - 6.0;
  return m * pow(10.0, e);
}

START_TEST(sum_adds_in_rank_order) {
  /* sizes: fewer elements than ranks, uneven slices, several 1 MiB pieces */
  const int64_t sizes[] = {1, 2, 7, 1000, 600001};
  for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
    int64_t n = sizes[t];
    float *x = malloc(sizeof(float) * (size_t)n);
    double *d = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)value(rank, i), d[i] = value(rank, i);
    ck_assert_int_eq(pt_dist_sum_f32(x, n), PT_OK);
    ck_assert_int_eq(pt_dist_sum_f64(d, n), PT_OK);
    /* compare everything, assert once (an assertion per element is slow
     * under the sanitizers) */
    int64_t order_matters = 0, bad = -1;
    for (int64_t i = 0; i < n; i++) {
      float want = (float)value(0, i), back = (float)value(size - 1, i);
      double wantd = value(0, i);
      for (int r = 1; r < size; r++) want = want + (float)value(r, i), wantd = wantd + value(r, i);
      for (int r = size - 2; r >= 0; r--) back = back + (float)value(r, i);
      if (bad < 0 && (memcmp(&x[i], &want, sizeof want) || memcmp(&d[i], &wantd, sizeof wantd)))
        bad = i;
      order_matters += back != want;
    }
    ck_assert_msg(bad < 0, "n %lld: element %lld differs from the rank-order sum", (long long)n,
                  (long long)bad);
    /* the data make the check bite: with 3 ranks another order gives other bits */
    if (size >= 3 && n > 1000) ck_assert_int_gt(order_matters, 0);
    free(x);
    free(d);
  }
}
END_TEST

START_TEST(agree_gives_everyone_the_first_failure) {
  ck_assert_int_eq(pt_dist_agree(PT_OK), PT_OK);
  /* the last rank fails */
  pt_status mine = rank == size - 1 ? pt_error(PT_ERR_IO, "out/x: disk full") : PT_OK;
  ck_assert_int_eq(pt_dist_agree(mine), size == 1 ? PT_ERR_IO : PT_ERR_IO);
  char want[64];
  snprintf(want, sizeof want, size == 1 ? "out/x: disk full" : "rank %d: out/x: disk full", size - 1);
  ck_assert_str_eq(pt_error_message(), want);
}
END_TEST

START_TEST(gather_and_bcast) {
  /* rank r sends r + 1 bytes of value r */
  char mine[8];
  memset(mine, 'a' + rank, sizeof mine);
  void *all = NULL;
  size_t *counts = calloc((size_t)size, sizeof *counts);
  ck_assert_int_eq(pt_dist_gather(mine, (size_t)rank + 1, &all, counts), PT_OK);
  if (rank == 0) {
    const char *p = all;
    for (int r = 0; r < size; r++) {
      ck_assert_uint_eq(counts[r], (size_t)r + 1);
      for (int k = 0; k <= r; k++) ck_assert_int_eq(*p++, 'a' + r);
    }
  } else {
    ck_assert_ptr_null(all);
  }
  free(all);
  free(counts);
  int64_t v[3] = {rank == 0 ? 42 : -1, rank == 0 ? 7 : -1, rank};
  ck_assert_int_eq(pt_dist_bcast(v, 2 * sizeof v[0], 0), PT_OK);
  ck_assert_int_eq(v[0], 42);
  ck_assert_int_eq(v[1], 7);
  ck_assert_int_eq(v[2], rank); /* only the bytes asked for */
}
END_TEST

START_TEST(check_same_names_the_differing_rank_and_item) {
  char dir[64];
  snprintf(dir, sizeof dir, "/tmp/ptune-dist-%d-%d", (int)getppid(), rank);
  char file[96], cmd[160];
  snprintf(file, sizeof file, "%s/data.txt", dir);
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
  ck_assert_int_eq(system(cmd), 0);
  FILE *f = fopen(file, "w");
  fputs("the same words on every rank\n", f);
  fclose(f);
  const char *opts = "--lr 1e-3";
  pt_dist_item same[] = {{"options", NULL, opts, strlen(opts)}, {"--train", file, NULL, 0},
                         {"--model", dir, NULL, 0}};
  ck_assert_int_eq(pt_dist_check_same(same, 3), PT_OK);
  /* the last rank was given other options */
  const char *other = rank == size - 1 && size > 1 ? "--lr 2e-3" : opts;
  pt_dist_item differ[] = {{"options", NULL, other, strlen(other)}, {"--train", file, NULL, 0}};
  pt_status st = pt_dist_check_same(differ, 2);
  if (size == 1) {
    ck_assert_int_eq(st, PT_OK);
  } else {
    ck_assert_int_eq(st, PT_ERR_STATE);
    char want[128];
    snprintf(want, sizeof want, "rank %d's options differs from rank 0's", size - 1);
    ck_assert_msg(strstr(pt_error_message(), want), "%s", pt_error_message());
  }
  /* a file the last rank cannot read, and one with other contents */
  if (rank == size - 1 && size > 1) unlink(file);
  st = pt_dist_check_same(same + 1, 1);
  if (size > 1) {
    char want[256]; /* the path as rank 0 gave it */
    snprintf(want, sizeof want, "ranks disagree: rank %d cannot read --train (/tmp/ptune-dist-%d-0/",
             size - 1, (int)getppid());
    ck_assert_msg(st == PT_ERR_STATE && strstr(pt_error_message(), want), "%s", pt_error_message());
    f = fopen(file, "w");
    fputs(rank == size - 1 ? "other words\n" : "the same words on every rank\n", f);
    fclose(f);
    ck_assert_int_eq(pt_dist_check_same(same + 1, 1), PT_ERR_STATE);
    /* a directory differs when any file in it does */
    ck_assert_int_eq(pt_dist_check_same(same + 2, 1), PT_ERR_STATE);
    ck_assert_msg(strstr(pt_error_message(), "--model"), "%s", pt_error_message());
  }
  /* a different number of items: a different command */
  st = pt_dist_check_same(same, rank == size - 1 ? 1 : 2);
  ck_assert_int_eq(st, size == 1 ? PT_OK : PT_ERR_STATE);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- gradient buckets against a fold written out here ---- */

enum { NPARAM = 5 };
typedef struct {
  pt_tensor *p[NPARAM]; /* w1 [16,8], b1 [16], w2 [4,16] (used twice), v [8] (odd
                         * micro-batches only), u [3] (never used) */
} toy;

static toy toy_new(void) {
  pt_rng rng;
  pt_rng_init(&rng, 5);
  toy t = {{pt_randn(&rng, PT_F32, PT_DIMS(16, 8)), pt_randn(&rng, PT_F32, PT_DIMS(16)),
            pt_randn(&rng, PT_F32, PT_DIMS(4, 16)), pt_randn(&rng, PT_F32, PT_DIMS(8)),
            pt_randn(&rng, PT_F32, PT_DIMS(3))}};
  for (int i = 0; i < NPARAM; i++) pt_set_requires_grad(t.p[i], true);
  return t;
}

/* The loss of global micro-batch m, scaled so micro-batches differ in
 * magnitude (then the order of additions shows in the bits). */
static pt_tensor *toy_loss(const toy *t, int m) {
  pt_rng rng;
  pt_rng_init(&rng, 100 + (uint64_t)m);
  pt_tensor *x = pt_randn(&rng, PT_F32, PT_DIMS(5, 8));
  pt_tensor *h = pt_linear(x, t->p[0], t->p[1]);
  pt_tensor *a = pt_tanh(h);
  pt_tensor *y = pt_linear(a, t->p[2], NULL);
  pt_tensor *sq = pt_mul(t->p[2], t->p[2]);
  pt_tensor *l1 = pt_sum(y, 0, NULL, false), *l2 = pt_sum(sq, 0, NULL, false);
  pt_tensor *l = pt_add(l1, l2);
  if (m % 2 == 1) {
    pt_tensor *xv = pt_mul(x, t->p[3]);
    pt_tensor *l3 = pt_sum(xv, 0, NULL, false);
    pt_tensor *s = pt_add(l, l3);
    pt_tensor_free(l);
    l = s;
    pt_tensor_free(xv);
    pt_tensor_free(l3);
  }
  double scale = (m % 3 == 0 ? 1e-3 : m % 3 == 1 ? 1.0 : 1e3) * (1.0 + m);
  pt_tensor *out = pt_scale(l, scale);
  pt_tensor *all[] = {x, h, a, y, sq, l1, l2, l};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pt_tensor_free(all[i]);
  return out;
}

/* Micro-batch m's gradients (zeros where absent) by a plain backward. */
static void toy_grads(const toy *t, int m, float *g[NPARAM], bool present[NPARAM]) {
  pt_tensor *l = toy_loss(t, m);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  pt_tensor_free(l);
  for (int i = 0; i < NPARAM; i++) {
    int64_t n = pt_numel(t->p[i]);
    g[i] = calloc((size_t)n, sizeof(float));
    present[i] = t->p[i]->grad != NULL;
    if (present[i]) memcpy(g[i], pt_data(t->p[i]->grad), sizeof(float) * (size_t)n);
    pt_zero_grad(t->p[i]);
  }
}

/* Global micro-batches: rank r runs [r*per, r*per + per) of `micro` in
 * all (the last ranks may run fewer or none). Checks the buckets' sum
 * against: rank contributions = left fold of their micro-batches, result =
 * left fold of the contributions in rank order. */
static void check_buckets(int per, int micro, size_t bucket_bytes) {
  toy t = toy_new();
  pt_dist_grads *g = pt_dist_grads_new(t.p, NPARAM, bucket_bytes);
  ck_assert_ptr_nonnull(g);
  for (int step = 0; step < 2; step++) { /* twice: the buckets are reused */
    /* the expected sum, written out */
    float *want[NPARAM] = {0};
    bool any[NPARAM] = {0};
    for (int r = 0; r < size; r++) {
      int rlo = r * per, rhi = rlo + per < micro ? rlo + per : micro;
      float *contrib[NPARAM] = {0};
      for (int m = rlo; m < rhi; m++) {
        float *gm[NPARAM];
        bool pres[NPARAM];
        toy_grads(&t, m, gm, pres);
        for (int i = 0; i < NPARAM; i++) {
          any[i] |= pres[i];
          int64_t n = pt_numel(t.p[i]);
          if (!contrib[i]) {
            contrib[i] = gm[i];
            continue;
          }
          for (int64_t j = 0; j < n; j++) contrib[i][j] = contrib[i][j] + gm[i][j];
          free(gm[i]);
        }
      }
      for (int i = 0; i < NPARAM && rlo < rhi; i++) {
        int64_t n = pt_numel(t.p[i]);
        if (!want[i]) {
          want[i] = contrib[i];
          continue;
        }
        for (int64_t j = 0; j < n; j++) want[i][j] = want[i][j] + contrib[i][j];
        free(contrib[i]);
      }
    }
    int lo = rank * per, hi = lo + per < micro ? lo + per : micro;
    for (int m = lo; m < hi; m++) {
      pt_tensor *l = toy_loss(&t, m);
      ck_assert_int_eq(pt_dist_grads_backward(g, l, m == hi - 1), PT_OK);
      pt_tensor_free(l);
    }
    int64_t count = -1;
    ck_assert_int_eq(pt_dist_grads_finish(g, &count), PT_OK);
    ck_assert_int_eq(count, micro);
    for (int i = 0; i < NPARAM; i++) {
      pt_tensor *p = t.p[i];
      ck_assert_msg(any[i] == (p->grad != NULL), "param %d: present %d, grad %p", i, any[i],
                    (void *)p->grad);
      for (int64_t j = 0; p->grad && j < pt_numel(p); j++) {
        float got = ((float *)pt_data(p->grad))[j];
        ck_assert_msg(memcmp(&got, &want[i][j], sizeof got) == 0,
                      "per %d micro %d bucket %zu: param %d [%lld] %a, want %a", per, micro,
                      bucket_bytes, i, (long long)j, got, want[i][j]);
      }
      free(want[i]);
      pt_zero_grad(p);
    }
  }
  pt_dist_grads_stats s = pt_dist_grads_get_stats(g);
  ck_assert_int_eq(s.steps, 2);
  ck_assert_uint_eq(s.bytes, sizeof(float) * (128 + 16 + 64 + 8 + 3));
  if (size == 1) {
    ck_assert_int_eq(s.buckets, 0); /* one rank folds in place */
  } else if (bucket_bytes == 64) {
    ck_assert_int_ge(s.buckets, 4);
    /* buckets of the upper layers went out before backward reached w1 */
    if (rank * per < micro) ck_assert_int_gt(s.sent_early, 0);
  } else {
    ck_assert_int_eq(s.buckets, 1);
  }
  pt_dist_grads_free(g);
  for (int i = 0; i < NPARAM; i++) pt_tensor_free(t.p[i]);
}

START_TEST(buckets_equal_the_fold_of_micro_batches) {
  const size_t buckets[] = {0, 64};
  for (size_t b = 0; b < 2; b++) {
    check_buckets(1, size, buckets[b]);         /* one micro-batch per rank */
    check_buckets(3, 3 * size, buckets[b]);     /* three per rank */
    check_buckets(2, 2 * size - 1, buckets[b]); /* the last rank one short */
    if (size > 1) check_buckets(1, size - 1, buckets[b]); /* the last rank has none */
  }
  /* one rank's fold of N micro-batches is N ranks' fold of one each: the
   * -np N == --grad-accum N property, checked here on one process against
   * check_buckets(1, N) on N ranks by the same written-out fold */
}
END_TEST

START_TEST(bad_bucket_params_are_refused) {
  pt_tensor *i64 = pt_zeros(PT_I64, PT_DIMS(2));
  pt_tensor *f = pt_zeros(PT_F32, PT_DIMS(2));
  ck_assert_ptr_null(pt_dist_grads_new(&f, 1, 0));
  ck_assert_msg(strstr(pt_error_message(), "require grad"), "%s", pt_error_message());
  pt_set_requires_grad(f, true);
  pt_tensor *twice[2] = {f, f};
  ck_assert_ptr_null(pt_dist_grads_new(twice, 2, 0));
  ck_assert_msg(strstr(pt_error_message(), "given twice"), "%s", pt_error_message());
  ck_assert_ptr_null(pt_dist_grads_new(&i64, 1, 0));
  pt_tensor_free(i64);
  pt_tensor_free(f);
}
END_TEST

START_TEST(threads_follow_the_layout) {
  ck_assert_int_ge(pt_dist_threads(), 1);
  ck_assert_int_eq(omp_get_max_threads(), pt_dist_threads());
  const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int nlocal = local ? atoi(local) : 1;
  /* with no thread count asked for, ranks never add up to more threads than
   * cores unless there are more ranks than cores, and then it is said */
  if (!getenv("OMP_NUM_THREADS")) {
    if (nlocal <= cores) {
      ck_assert_msg(!pt_dist_oversubscribed(), "%s", pt_dist_layout());
      ck_assert_int_le(nlocal * pt_dist_threads(), cores);
    } else {
      ck_assert_msg(pt_dist_oversubscribed(), "%s", pt_dist_layout());
      ck_assert_int_eq(pt_dist_threads(), 1);
      ck_assert(strstr(pt_dist_layout(), "oversubscribed"));
    }
  }
  if (rank == 0) fprintf(stderr, "layout: %s\n", pt_dist_layout());
}
END_TEST

int main(int argc, char **argv) {
  pt_dist_opts o = pt_dist_defaults();
  o.step_timeout = 60; /* a hung test fails in a minute, not five */
  if (pt_dist_init(&argc, &argv, &o) != PT_OK) {
    fprintf(stderr, "%s\n", pt_error_message());
    return 1;
  }
  rank = pt_dist_rank();
  size = pt_dist_size();
  Suite *s = suite_create("dist");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, threads_follow_the_layout);
  tcase_add_test(tc, sum_adds_in_rank_order);
  tcase_add_test(tc, agree_gives_everyone_the_first_failure);
  tcase_add_test(tc, gather_and_bcast);
  tcase_add_test(tc, check_same_names_the_differing_rank_and_item);
  tcase_add_test(tc, buckets_equal_the_fold_of_micro_batches);
  tcase_add_test(tc, bad_bucket_params_are_refused);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK); /* MPI processes must not fork */
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  /* every rank's verdict, so that a failure on any rank fails the run */
  pt_status st = pt_dist_agree(failed ? pt_error(PT_ERR_STATE, "%d test(s) failed", failed) : PT_OK);
  if (st != PT_OK) {
    fprintf(stderr, "%s\n", pt_error_message());
    pt_dist_abort(1);
    return 1;
  }
  return pt_dist_finalize() == PT_OK ? 0 : 1;
}
