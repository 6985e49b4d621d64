/* Memory stays flat in a training loop: 1,000 steps of a small MLP with
 * AdamW, and after every step the library's live-allocation and live-node
 * counters are back where they were before the first step. (Counters, not
 * RSS or time: the test cannot flake on a busy machine.) And the heap
 * tunings of tensor/pt_heap.h take effect. */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "ptune.h"

enum { B = 16, IN = 6, HID = 12, OUT = 3, STEPS = 1000 };

START_TEST(training_loop_memory_is_flat) {
  pt_rng rng;
  pt_rng_init(&rng, 3);
  pt_tensor *x = pt_randn(&rng, PT_F32, PT_DIMS(B, IN));
  pt_tensor *labels = pt_empty(PT_I64, PT_DIMS(B));
  for (int i = 0; i < B; i++) pt_set(labels, i, (double)pt_rng_below(&rng, OUT));
  pt_tensor *p[4] = {
      pt_rand_uniform(&rng, PT_F32, PT_DIMS(HID, IN), -0.4, 0.4),
      pt_zeros(PT_F32, PT_DIMS(HID)),
      pt_rand_uniform(&rng, PT_F32, PT_DIMS(OUT, HID), -0.3, 0.3),
      pt_zeros(PT_F32, PT_DIMS(OUT)),
  };
  static const char *names[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
  for (int i = 0; i < 4; i++) {
    pt_tensor_set_name(p[i], names[i]);
    pt_set_requires_grad(p[i], true);
  }
  pt_optim *opt = pt_adamw_new(&(pt_adamw_opts){.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999,
                                                .eps = 1e-8, .weight_decay = 1e-2});
  ck_assert_int_eq(pt_optim_add_params(opt, 4, p, pt_decay_hf, NULL), PT_OK);

  const int64_t allocs = pt_live_allocations(), nodes = pt_live_nodes();
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < STEPS; step++) {
    /* h = relu(x·W1ᵀ + b1), logits = tanh(h)·W2ᵀ + b2,
     * loss = cross_entropy(logits, labels) */
    pt_tensor *z = pt_linear(x, p[0], p[1]);
    pt_tensor *h = pt_relu(z);
    pt_tensor *t = pt_tanh(h);
    pt_tensor *logits = pt_linear(t, p[2], p[3]);
    pt_tensor *loss = pt_cross_entropy(logits, labels, -100, 0.0);
    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(pt_backward(loss, NULL, false), PT_OK);
    ck_assert_int_eq(pt_optim_clip_grad_norm(opt, 5.0, NULL), PT_OK);
    ck_assert_int_eq(pt_optim_step(opt), PT_OK);
    pt_optim_zero_grad(opt);
    if (step == 0) first_loss = pt_get(loss, 0);
    last_loss = pt_get(loss, 0);
    pt_tensor *tmp[] = {z, h, t, logits, loss};
    for (int i = 0; i < 5; i++) pt_tensor_free(tmp[i]);
    ck_assert_msg(pt_live_allocations() == allocs, "step %d: %lld live allocations, want %lld", step,
                  (long long)pt_live_allocations(), (long long)allocs);
    ck_assert_msg(pt_live_nodes() == nodes, "step %d: %lld live nodes, want %lld", step,
                  (long long)pt_live_nodes(), (long long)nodes);
  }
  /* and it trained: the loop did real work */
  ck_assert_double_lt(last_loss, 0.5 * first_loss);
  pt_optim_free(opt);
  for (int i = 0; i < 4; i++) pt_tensor_free(p[i]);
  pt_tensor_free(x);
  pt_tensor_free(labels);
}
END_TEST

/* After pt_heap_tune_for_reuse a 64 MiB block comes from the heap, not from
 * a fresh mapping (glibc's default sends anything from 128 KiB up to mmap).
 * AddressSanitizer replaces malloc, so there the tree has nothing to check. */
START_TEST(heap_tuning_keeps_large_blocks_on_the_heap) {
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
  ck_assert(pt_heap_tune_for_reuse());
  size_t mapped = mallinfo2().hblkhd;
  char *p = malloc((size_t)64 << 20);
  ck_assert_ptr_nonnull(p);
  p[0] = 1;
  ck_assert_uint_eq(mallinfo2().hblkhd, mapped);
  free(p);
#endif
}
END_TEST

/* After pt_heap_one_arena another thread allocates from the main heap:
 * malloc_info lists one heap, where glibc otherwise gives the thread an
 * arena of its own. In a forked child, since the setting is the process's
 * for good. */
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
static char *volatile held; /* volatile: the allocation may not be elided */

static void *hold_64k(void *arg) {
  (void)arg;
  held = malloc((size_t)64 << 10);
  held[0] = 1;
  free(held);
  return NULL;
}

/* The heaps malloc_info lists after a second thread allocated. */
static int heaps_after_a_thread(bool one_arena) {
  int fd[2];
  ck_assert_int_eq(pipe(fd), 0);
  pid_t pid = fork();
  if (pid == 0) {
    if (one_arena && !pt_heap_one_arena()) _exit(2);
    pthread_t t;
    if (pthread_create(&t, NULL, hold_64k, NULL) || pthread_join(t, NULL)) _exit(3);
    char *xml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&xml, &len);
    if (!f || malloc_info(0, f) || fclose(f)) _exit(4);
    int heaps = 0;
    for (const char *p = xml; (p = strstr(p, "<heap nr=")); p++) heaps++;
    _exit(write(fd[1], &heaps, sizeof heaps) == sizeof heaps ? 0 : 5);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
  int heaps = 0;
  ck_assert_int_eq(read(fd[0], &heaps, sizeof heaps), (ssize_t)sizeof heaps);
  close(fd[0]);
  close(fd[1]);
  return heaps;
}
#endif

START_TEST(one_arena_serves_every_thread) {
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
  ck_assert_int_eq(heaps_after_a_thread(false), 2);
  ck_assert_int_eq(heaps_after_a_thread(true), 1);
#endif
}
END_TEST

int main(void) {
  Suite *s = suite_create("memory");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, training_loop_memory_is_flat);
  tcase_add_test(tc, heap_tuning_keeps_large_blocks_on_the_heap);
  tcase_add_test(tc, one_arena_serves_every_thread);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
