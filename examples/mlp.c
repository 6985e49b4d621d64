/* A small MLP classifier trained with autograd and AdamW on two interleaved
 * spirals (2 classes, generated here), printing loss and accuracy.
 *
 *   x [N,2] → linear(2→H) → tanh → linear(H→H) → tanh → linear(H→2) → logits
 *   loss = cross_entropy(logits, labels), full batch, AdamW (lr 1e-2,
 *   wd 1e-4 on weights, none on biases).
 *
 * Run: ./build/examples/mlp [steps]   (exit status 0 when accuracy ≥ 95%) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ptune.h"

enum { N_PER_CLASS = 200, N = 2 * N_PER_CLASS, H = 64 };

/* Two spirals of 1.75 turns, class c rotated by c·π, with a little noise. */
static void make_spirals(pt_rng *rng, pt_tensor **x, pt_tensor **y) {
  *x = pt_empty(PT_F32, PT_DIMS(N, 2));
  *y = pt_empty(PT_I64, PT_DIMS(N));
  float *xd = pt_data(*x);
  int64_t *yd = pt_data(*y);
  const double turns = 1.75, pi = 3.14159265358979323846;
  for (int c = 0; c < 2; c++)
    for (int i = 0; i < N_PER_CLASS; i++) {
      double r = (i + 0.5) / N_PER_CLASS;
      double t = 2 * pi * turns * r + c * pi;
      int k = c * N_PER_CLASS + i;
      xd[2 * k] = (float)(r * cos(t) + 0.02 * (2 * pt_rng_uniform(rng) - 1));
      xd[2 * k + 1] = (float)(r * sin(t) + 0.02 * (2 * pt_rng_uniform(rng) - 1));
      yd[k] = c;
    }
}

/* torch.nn.Linear's default init: U(−1/sqrt(in), 1/sqrt(in)) for W and b. */
static pt_tensor *param(pt_rng *rng, const char *name, int ndim, const int64_t *shape, int64_t fan_in) {
  double bound = 1.0 / sqrt((double)fan_in);
  pt_tensor *t = pt_rand_uniform(rng, PT_F32, ndim, shape, -bound, bound);
  pt_tensor_set_name(t, name);
  pt_set_requires_grad(t, true);
  return t;
}

int main(int argc, char **argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 800;
  pt_rng rng;
  pt_rng_init(&rng, 7);
  pt_tensor *x, *y;
  make_spirals(&rng, &x, &y);

  pt_tensor *p[6] = {
      param(&rng, "fc1.weight", PT_DIMS(H, 2), 2), param(&rng, "fc1.bias", PT_DIMS(H), 2),
      param(&rng, "fc2.weight", PT_DIMS(H, H), H), param(&rng, "fc2.bias", PT_DIMS(H), H),
      param(&rng, "out.weight", PT_DIMS(2, H), H), param(&rng, "out.bias", PT_DIMS(2), H),
  };
  pt_optim *opt = pt_adamw_new(&(pt_adamw_opts){.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999,
                                                .eps = 1e-8, .weight_decay = 1e-4});
  if (!opt || pt_optim_add_params(opt, 6, p, pt_decay_hf, NULL) != PT_OK) {
    fprintf(stderr, "mlp: %s\n", pt_error_message());
    return 1;
  }
  pt_schedule sched = {.kind = PT_SCHED_LINEAR, .base_lr = 1e-2, .warmup_steps = 50,
                       .total_steps = steps};

  clock_t t0 = clock();
  double acc = 0;
  for (int step = 0; step <= steps; step++) {
    if (step < steps) pt_optim_set_lr(opt, pt_schedule_lr(&sched, step));
    pt_tensor *h1 = pt_tanh(pt_linear(x, p[0], p[1]));
    pt_tensor *h2 = pt_tanh(pt_linear(h1, p[2], p[3]));
    pt_tensor *logits = pt_linear(h2, p[4], p[5]);
    pt_tensor *loss = pt_cross_entropy(logits, y, -100, 0.0);
    if (!loss) {
      fprintf(stderr, "mlp: %s\n", pt_error_message());
      return 1;
    }
    if (step % 100 == 0 || step == steps) {
      int correct = 0;
      const float *l = pt_data(logits);
      const int64_t *yd = pt_data(y);
      for (int i = 0; i < N; i++) correct += (l[2 * i + 1] > l[2 * i]) == (yd[i] == 1);
      acc = (double)correct / N;
      printf("step %5d  loss %.4f  accuracy %5.1f%%  lr %.5f\n", step, pt_get(loss, 0), 100 * acc,
             pt_optim_get_lr(opt));
    }
    pt_status st = PT_OK;
    if (step < steps) {
      st = pt_backward(loss, NULL, false);
      if (st == PT_OK) st = pt_optim_step(opt);
      pt_optim_zero_grad(opt);
    }
    pt_tensor_free(h1);
    pt_tensor_free(h2);
    pt_tensor_free(logits);
    pt_tensor_free(loss);
    if (st != PT_OK) {
      fprintf(stderr, "mlp: %s\n", pt_error_message());
      return 1;
    }
  }
  printf("%d steps in %.2f s (CPU time), final accuracy %.1f%%\n", steps,
         (double)(clock() - t0) / CLOCKS_PER_SEC, 100 * acc);

  pt_optim_free(opt);
  for (int i = 0; i < 6; i++) pt_tensor_free(p[i]);
  pt_tensor_free(x);
  pt_tensor_free(y);
  return acc >= 0.95 ? 0 : 1;
}
