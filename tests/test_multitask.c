/* ptune train --task-spec: multi-task training, several adapters sharing
 * every backbone pass (apps/train/finetune.c), on the tiny random BERT:
 *   - one spec is plain `ptune train` bit for bit (adapters, losses,
 *     gradient norms), in OUT/NAME/;
 *   - four adapters (ptv2/ner, lora/cls, prompt/qa, bitfit/mc) trained
 *     together for three SGD steps with clipping end where each one's own
 *     run on the same rows ends (within 1e-5), the first step's gradient
 *     norm is theirs together, and each saved adapter evaluates with
 *     `ptune eval --adapter` to the run's own dev metrics;
 *   - a stopped and resumed run ends as an uninterrupted one;
 *   - a bad spec is one line naming it. */
#include <math.h>

#include "apps/cmd/commands.h"
#include "train_test_util.h"

/* Tensors of two adapters within tol of each other. */
static void close_adapters(const char *a, const char *b, double tol) {
  char pa[4400], pb[4400];
  path(pa, sizeof pa, a, "adapter_model.safetensors");
  path(pb, sizeof pb, b, "adapter_model.safetensors");
  pt_safetensors *fa, *fb;
  ck_assert_msg(pt_safetensors_open(pa, &fa) == PT_OK, "%s", pt_error_message());
  ck_assert_msg(pt_safetensors_open(pb, &fb) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(pt_safetensors_count(fa), pt_safetensors_count(fb));
  double worst = 0;
  for (int i = 0; i < pt_safetensors_count(fa); i++) {
    const char *name = pt_safetensors_name(fa, i);
    pt_tensor *x = pt_safetensors_load(fa, name, PT_F32), *y = pt_safetensors_load(fb, name, PT_F32);
    ck_assert_msg(x && y, "%s missing", name);
    ck_assert_int_eq(pt_numel(x), pt_numel(y));
    for (int64_t k = 0; k < pt_numel(x); k++) {
      double d = fabs(pt_get(x, k) - pt_get(y, k));
      worst = d > worst ? d : worst;
      ck_assert_msg(d <= tol, "%s: %s[%lld] %.9g vs %.9g", a, name, (long long)k, pt_get(x, k),
                    pt_get(y, k));
    }
    pt_tensor_free(x);
    pt_tensor_free(y);
  }
  pt_safetensors_close(fa);
  pt_safetensors_close(fb);
  fprintf(stderr, "%s: largest difference %.3g\n", a, worst);
}

/* The step lines of OUT/metrics.jsonl: step, loss, grad_norm. */
static int step_lines(const char *out, double rows[][3], int cap) {
  char p[4400], line[65536];
  path(p, sizeof p, out, "metrics.jsonl");
  FILE *f = fopen(p, "r");
  ck_assert_msg(f != NULL, "%s", p);
  int n = 0;
  while (fgets(line, sizeof line, f) && n < cap) {
    json_t *j = json_loads(line, 0, NULL);
    ck_assert_ptr_nonnull(j);
    if (json_object_get(j, "loss")) {
      rows[n][0] = (double)json_integer_value(json_object_get(j, "step"));
      rows[n][1] = json_number_value(json_object_get(j, "loss"));
      rows[n][2] = json_number_value(json_object_get(j, "grad_norm"));
      n++;
    }
    json_decref(j);
  }
  fclose(f);
  return n;
}

/* Runs `ptune` with args (NULL-terminated, at most 60); the exit code. */
static int ptune(const char *capture, const char *const *args) {
  return run(cli_run, capture, args);
}

START_TEST(test_one_spec_is_plain_train) {
  char train[4400], a[400], b[400], spec[9200], x[500], y[500];
  path(train, sizeof train, fx, "conll2003/eng.train.excerpt");
  snprintf(a, sizeof a, "%s/plain", root);
  snprintf(b, sizeof b, "%s/multi", root);
  const char *plain[] = {"train", "--task", "ner", "--model", model, "--train", train, "--dev",
                         train, "--out", a, "--max-steps", "4", "--batch-size", "3",
                         "--pre-seq-len", "4", "--max-seq-len", "64", "--max-grad-norm", "0.5",
                         "--eval-every", "2", "--seed", "5", "--quiet", NULL};
  ck_assert_msg(ptune(NULL, plain) == 0, "%s", pt_error_message());
  snprintf(spec, sizeof spec, "one:task=ner,train=%s,dev=%s,pre-seq-len=4,max-seq-len=64", train,
           train);
  const char *multi[] = {"train", "--model", model, "--out", b, "--max-steps", "4", "--batch-size",
                         "3", "--max-grad-norm", "0.5", "--eval-every", "2", "--seed", "5",
                         "--quiet", "--task-spec", spec, NULL};
  ck_assert_msg(ptune(NULL, multi) == 0, "%s", pt_error_message());
  const char *subs[] = {"last", "best"};
  for (int i = 0; i < 2; i++) {
    snprintf(x, sizeof x, "%s/%s", a, subs[i]);
    snprintf(y, sizeof y, "%s/one/%s", b, subs[i]);
    same_adapter(x, y);
  }
  double ra[16][3], rb[16][3];
  int na = step_lines(a, ra, 16), nb = step_lines(b, rb, 16);
  ck_assert_int_eq(na, nb);
  ck_assert_int_ge(na, 2);
  for (int i = 0; i < na; i++)
    for (int k = 0; k < 3; k++) ck_assert_msg(ra[i][k] == rb[i][k], "line %d field %d", i, k);
}
END_TEST

/* The specs of the four-adapter run; each one's own run gives the same
 * options as --task/--train/... */
typedef struct {
  const char *name, *task, *train, *method, *opts[6];
  bool dev;
} spec_case;

static const spec_case cases[] = {
    {"ner", "ner", "conll2003/eng.train.excerpt", "ptv2",
     {"pre-seq-len", "4", "max-seq-len", "64", NULL}, true},
    {"sst", "cls", "glue/SST-2.dev.excerpt.tsv", "lora", {"preset", "sst2", "lora-r", "4", NULL},
     true},
    {"qa", "qa", "squad/dev-v1.1.excerpt.json", "prompt",
     {"num-virtual-tokens", "4", "max-seq-len", "64", "doc-stride", "32"}, false},
    {"copa", "mc", "superglue/COPA.val.excerpt.jsonl", "bitfit", {"preset", "copa", NULL}, true},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

/* The run-wide options of both runs. */
static const char *const common[] = {"--model", NULL, "--max-steps", "3", "--batch-size", "2",
                                     "--optimizer", "sgd", "--lr", "0.5", "--max-grad-norm", "1",
                                     "--dropout", "0", "--seed", "11", "--quiet", NULL};

static int add_common(const char **args, int n) {
  for (int i = 0; common[i] || i == 1; i++) args[n++] = i == 1 ? model : common[i];
  return n;
}

/* The four-adapter run into OUT (stdout into cap), each adapter from
 * INIT/NAME/last when init is given; `lr` the learning rate. */
static void run_specs(const char *out, const char *init, const char *lr, const char *cap,
                      char files[][4400]) {
  static char specs[NCASES][9800];
  const char *args[64] = {"train", "--out", out};
  int n = add_common(args, 3);
  args[n++] = "--lr";
  args[n++] = lr; /* after the common one: the last one counts */
  for (int c = 0; c < NCASES; c++) {
    path(files[c], 4400, fx, cases[c].train);
    int w = snprintf(specs[c], sizeof specs[c], "%s:task=%s,train=%s,method=%s", cases[c].name,
                     cases[c].task, files[c], cases[c].method);
    if (cases[c].dev) w += snprintf(specs[c] + w, sizeof specs[c] - (size_t)w, ",dev=%s", files[c]);
    if (init)
      w += snprintf(specs[c] + w, sizeof specs[c] - (size_t)w, ",init-adapter=%.300s/%s/last", init,
                    cases[c].name);
    for (int k = 0; k < 6 && cases[c].opts[k]; k += 2)
      w += snprintf(specs[c] + w, sizeof specs[c] - (size_t)w, ",%s=%s", cases[c].opts[k],
                    cases[c].opts[k + 1]);
    args[n++] = "--task-spec";
    args[n++] = specs[c];
  }
  args[n] = NULL;
  ck_assert_msg(ptune(cap, args) == 0, "%s", pt_error_message());
}

START_TEST(test_four_adapters_as_their_own_runs) {
  char out[400], init[400], files[NCASES][4400], own[NCASES][400], initdir[NCASES][500];
  /* where both start: the adapters of a run that does not move them (lr 0),
   * since a multi-task run draws its adapters' initialization after a
   * backbone with every head's parts */
  snprintf(init, sizeof init, "%s/init", root);
  run_specs(init, NULL, "0", NULL, files);
  snprintf(out, sizeof out, "%s/mt", root);
  char cap[500];
  snprintf(cap, sizeof cap, "%s/mt.json", root);
  run_specs(out, init, "0.5", cap, files);
  double rows[16][3], first_sq = 0;
  ck_assert_int_ge(step_lines(out, rows, 16), 1);
  /* each adapter alone, on the same rows */
  for (int c = 0; c < NCASES; c++) {
    snprintf(own[c], sizeof own[c], "%s/own-%s", root, cases[c].name);
    char flags[6][64];
    const char *one[64] = {"train", "--out", own[c], "--task", cases[c].task, "--train", files[c],
                           "--method", cases[c].method};
    int m = add_common(one, 9);
    if (cases[c].dev) one[m++] = "--dev", one[m++] = files[c];
    for (int k = 0; k < 6 && cases[c].opts[k]; k += 2) {
      snprintf(flags[k], sizeof flags[k], "--%s", cases[c].opts[k]);
      one[m++] = flags[k];
      one[m++] = cases[c].opts[k + 1];
    }
    snprintf(initdir[c], sizeof initdir[c], "%.300s/%s/last", init, cases[c].name);
    one[m++] = "--init-adapter";
    one[m++] = initdir[c];
    one[m] = NULL;
    ck_assert_msg(ptune(NULL, one) == 0, "%s: %s", cases[c].name, pt_error_message());
    double r[16][3];
    ck_assert_int_ge(step_lines(own[c], r, 16), 1);
    first_sq += r[0][2] * r[0][2];
    ck_assert_msg(r[0][2] > 0, "%s: no gradient", cases[c].name); /* so the steps moved it */
    char x[600], y[600];
    snprintf(x, sizeof x, "%.399s/%s/last", out, cases[c].name);
    snprintf(y, sizeof y, "%.399s/last", own[c]);
    close_adapters(x, y, 1e-5);
    snprintf(x, sizeof x, "%.399s/%s", out, cases[c].name);
    ck_assert(exists(x, "best/adapter_model.safetensors"));
  }
  /* the first step's gradient norm: each adapter's clipped alone, reported together */
  ck_assert_msg(fabs(rows[0][2] - sqrt(first_sq)) <= 1e-5 * sqrt(first_sq), "grad norm %.9g vs %.9g",
                rows[0][2], sqrt(first_sq));
  /* each adapter evaluates on its own to the run's dev metrics (the last step was evaluated) */
  json_t *res = read_json_line(cap), *dev = json_object_get(res, "dev");
  ck_assert_ptr_nonnull(dev);
  for (int c = 0; c < NCASES; c++) {
    if (!cases[c].dev) continue;
    char adapter[600], ecap[600], flags[6][64];
    snprintf(adapter, sizeof adapter, "%s/%s/last", out, cases[c].name);
    snprintf(ecap, sizeof ecap, "%s/eval-%s.json", root, cases[c].name);
    const char *ev[32] = {"eval", "--task", cases[c].task, "--model", model, "--adapter", adapter,
                          "--data", files[c]};
    int m = 9;
    for (int k = 0; k < 6 && cases[c].opts[k]; k += 2)
      if (!strcmp(cases[c].opts[k], "preset") || !strcmp(cases[c].opts[k], "max-seq-len")) {
        snprintf(flags[k], sizeof flags[k], "--%s", cases[c].opts[k]);
        ev[m++] = flags[k];
        ev[m++] = cases[c].opts[k + 1];
      }
    ev[m] = NULL;
    ck_assert_msg(ptune(ecap, ev) == 0, "eval %s: %s", cases[c].name, pt_error_message());
    json_t *e = read_json_line(ecap);
    const char *key;
    json_t *v;
    int compared = 0;
    json_object_foreach(e, key, v) {
      if (!json_is_number(v)) continue;
      char k[300];
      snprintf(k, sizeof k, "%s/%s", cases[c].name, key);
      json_t *w = json_object_get(dev, k);
      ck_assert_msg(w != NULL, "%s not in the run's dev metrics", k);
      /* the run's metrics lines hold 9 significant digits */
      double d = fabs(json_number_value(v) - json_number_value(w));
      ck_assert_msg(d <= 1e-8 * (1 + fabs(json_number_value(v))), "%s: eval %.12g, run %.12g", k,
                    json_number_value(v), json_number_value(w));
      compared++;
    }
    ck_assert_int_gt(compared, 1);
    json_decref(e);
  }
  json_t *tasks = json_object_get(res, "tasks");
  ck_assert_int_eq(json_object_size(tasks), NCASES);
  ck_assert_str_eq(json_string_value(json_object_get(json_object_get(tasks, "copa"), "method")),
                   "bitfit");
  json_decref(res);
}
END_TEST

/* A run stopped after step 3 and resumed ends as the uninterrupted one:
 * every adapter's last and best, bit for bit (the other adapter's place in
 * its data and each adapter's best so far come back from the checkpoint and
 * the metrics log). */
START_TEST(test_resume) {
  char ner[4400], sst[4400], s1[9000], s2[9000], a[400], b[400];
  path(ner, sizeof ner, fx, "conll2003/eng.train.excerpt");
  path(sst, sizeof sst, fx, "glue/SST-2.dev.excerpt.tsv");
  snprintf(s1, sizeof s1, "ner:task=ner,train=%s,dev=%s,pre-seq-len=4,max-seq-len=64", ner, ner);
  snprintf(s2, sizeof s2, "sst:task=cls,preset=sst2,train=%s,dev=%s,method=lora,lora-r=4", sst, sst);
  snprintf(a, sizeof a, "%s/whole", root);
  snprintf(b, sizeof b, "%s/resumed", root);
  const char *args[32] = {"train", "--model", model, "--max-steps", "7", "--batch-size", "1",
                          "--save-every", "3", "--eval-every", "2", "--seed", "3", "--quiet",
                          "--task-spec", s1, "--task-spec", s2, "--out", a, NULL, NULL};
  ck_assert_msg(ptune(NULL, args) == 0, "%s", pt_error_message());
  args[19] = b;
  args[20] = "--stop-after";
  args[21] = "3";
  ck_assert_msg(ptune(NULL, args) == 0, "%s", pt_error_message());
  args[20] = "--resume";
  args[21] = NULL;
  ck_assert_msg(ptune(NULL, args) == 0, "%s", pt_error_message());
  const char *subs[] = {"ner/last", "ner/best", "sst/last", "sst/best"};
  for (int i = 0; i < 4; i++) {
    char x[500], y[500];
    snprintf(x, sizeof x, "%s/%s", a, subs[i]);
    snprintf(y, sizeof y, "%s/%s", b, subs[i]);
    same_adapter(x, y);
  }
}
END_TEST

/* A failing command line and the start of its one-line message. */
static void fails_with(const char *const *spec_args, const char *want) {
  char out[400];
  snprintf(out, sizeof out, "%s/bad", root);
  const char *args[32] = {"train", "--model", model, "--out", out, "--max-steps", "1", "--quiet"};
  int n = 8;
  for (int i = 0; spec_args[i]; i++) args[n++] = spec_args[i];
  args[n] = NULL;
  ck_assert_int_ne(ptune(NULL, args), 0);
  ck_assert_msg(strstr(pt_error_message(), want) != NULL, "'%s' does not say '%s'",
                pt_error_message(), want);
  ck_assert(!strchr(pt_error_message(), '\n'));
}

START_TEST(test_bad_specs) {
  char train[4400], ok[4600], ok2[4600], lr[4700];
  path(train, sizeof train, fx, "conll2003/eng.train.excerpt");
  snprintf(ok, sizeof ok, "a:task=ner,train=%s", train);
  snprintf(ok2, sizeof ok2, "a:task=ner,train=%s,method=lora", train);
  snprintf(lr, sizeof lr, "a:task=ner,train=%s,lr=0.1", train);
  fails_with((const char *[]){"--task-spec", "no-colon", NULL}, "expected NAME:KEY=VALUE");
  fails_with((const char *[]){"--task-spec", "a b:task=ner", NULL}, "expected NAME:KEY=VALUE");
  fails_with((const char *[]){"--task-spec", "a:task", NULL}, "'task' is not KEY=VALUE");
  fails_with((const char *[]){"--task-spec", "a:task=ner", NULL}, "--task-spec a: --train is required");
  fails_with((const char *[]){"--task-spec", lr, NULL}, "--lr is an option of the whole run");
  fails_with((const char *[]){"--task-spec", "a:task=nope,train=x", NULL}, "unknown task 'nope'");
  fails_with((const char *[]){"--task-spec", ok, "--task-spec", ok2, NULL},
             "two adapters are called 'a'");
  fails_with((const char *[]){"--task", "ner", "--task-spec", ok, NULL},
             "--task goes inside each --task-spec");
  /* an option of another method than the spec's */
  snprintf(ok2, sizeof ok2, "a:task=ner,train=%s,lora-r=4", train);
  fails_with((const char *[]){"--task-spec", ok2, NULL}, "--task-spec a: unknown option '--lora-r'");
  /* a spec's data error names the spec */
  char empty[500], es[1000];
  snprintf(empty, sizeof empty, "%s/empty.txt", root);
  write_text(empty, "");
  snprintf(es, sizeof es, "b:task=ner,train=%s", empty);
  fails_with((const char *[]){"--task-spec", ok, "--task-spec", es, NULL}, "--task-spec b: ");
  /* without --task-spec, plain train still needs --task and --train */
  fails_with((const char *[]){NULL}, "--task is required");
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("multitask");
  TCase *tc = tcase_create("multitask");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_one_spec_is_plain_train);
  tcase_add_test(tc, test_four_adapters_as_their_own_runs);
  tcase_add_test(tc, test_resume);
  tcase_add_test(tc, test_bad_specs);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
