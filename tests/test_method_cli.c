/* Every registered method through the `ptune` command, as a user runs it.
 * The registry is walked (pt_methods), so a method added to it is covered
 * without a change here. On the tiny random BERT of train_test_util.h (with
 * a masked-LM head) and the committed data excerpts:
 *
 *   - each method on each task family (ner, srl, cls, mc, qa; cls also
 *     with the verbalizer head): `ptune train --method M` with M's default
 *     options on srl and mc and other options on the rest, --save-format
 *     both where M has a peft layout (where the model has none, train
 *     refuses before its first step); every logged loss is a finite
 *     number; the result and both adapter configs name M; `ptune eval
 *     --adapter OUT/best` with no method option scores what train's result
 *     says it scored on the same data (every metric), and so do peft's copy
 *     and OUT/last; `ptune predict --adapter OUT/last` writes a prediction
 *     for every example, which `ptune score` scores as eval does;
 *
 *   - a killed run resumes bit-identically, for each method with its other
 *     options (on a task family that rotates with it): the adapter of a
 *     run stopped with --stop-after and resumed, and of a run killed with
 *     SIGKILL at a random moment after a random checkpoint and resumed,
 *     equals the uninterrupted run's byte for byte. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apps/cmd/commands.h"
#include "models/pt_method.h"
#include "models/pt_model_io.h"

#include "train_test_util.h"

/* A task family: its data excerpt (train, dev and eval data alike), the
 * task options every command needs and those of train alone (the head,
 * which eval and predict read from the adapter). */
typedef struct {
  const char *task, *data;
  const char *opts[5];  /* NULL-terminated */
  const char *train[5]; /* NULL-terminated */
} family;

static const family families[] = {
    {"ner", "conll2003/eng.train.excerpt", {"--max-seq-len", "64", NULL}, {NULL}},
    {"srl", "conll2005-srl/train.excerpt.jsonl", {"--max-seq-len", "100", NULL}, {NULL}},
    {"cls", "glue/SST-2.dev.excerpt.tsv", {"--preset", "sst2", NULL}, {NULL}},
    {"mc", "superglue/COPA.val.excerpt.jsonl", {"--preset", "copa", NULL}, {NULL}},
    {"qa", "squad/dev-v1.1.excerpt.json", {"--max-seq-len", "96", "--doc-stride", "32", NULL}, {NULL}},
    /* cls again with the verbalizer head: the label words at a [MASK] */
    {"cls", "glue/SST-2.dev.excerpt.tsv", {"--preset", "sst2", NULL},
     {"--head", "verbalizer", "--label-words", "terrible,great", NULL}},
};
enum { NFAMILIES = sizeof families / sizeof families[0] };

/* Options other than the defaults for the built-in methods, so that eval
 * and predict, given no method option, can only get them right by reading
 * the adapter (a method not named here trains with its defaults). */
typedef struct {
  const char *method;
  const char *args[13]; /* NULL-terminated */
} variant;

static const variant variants[] = {
    {"ptv2", {"--pre-seq-len", "5", "--prefix-projection", "true", "--prefix-hidden-size", "8",
              "--prefix-layers", "top:1", NULL}},
    {"prefix", {"--num-virtual-tokens", "3", "--prefix-projection", "true",
                "--encoder-hidden-size", "6", NULL}},
    {"prompt", {"--num-virtual-tokens", "3", "--prompt-init", "SAMPLE_VOCAB", NULL}},
    {"p-tuning", {"--num-virtual-tokens", "3", "--encoder-type", "LSTM", "--encoder-hidden-size",
                  "5", "--encoder-num-layers", "1", NULL}},
    {"lora", {"--lora-r", "3", "--lora-alpha", "6", "--lora-dropout", "0.1", "--target-modules",
              "query,key,dense", "--lora-bias", "lora_only", "--use-rslora", "true", NULL}},
    {"ia3", {"--target-modules", "query,intermediate.dense", "--feedforward-modules",
             "intermediate.dense", NULL}},
    {"adapter", {"--adapter-type", "pfeiffer", "--reduction-factor", "4", NULL}},
};

static const char *const *variant_of(const pt_method *me) {
  for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
    if (!strcmp(variants[i].method, me->name)) return variants[i].args;
  return NULL;
}

/* The tiny model with a pooler and a masked-LM head (cls.predictions.*,
 * which the verbalizer head scores with), written over make_model's
 * weights. */
static void setup_with_mlm_head(void) {
  make_model();
  pt_bert_config bc;
  ck_assert_int_eq(pt_bert_config_load(model, &bc), PT_OK);
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_init(&bb, &bc, (pt_backbone_parts){true, true}, 7), PT_OK);
  char p[400];
  path(p, sizeof p, model, "model.safetensors");
  ck_assert_int_eq(pt_params_save_safetensors(&bb.params, p, false, 0, NULL, NULL), PT_OK);
  pt_backbone_free(&bb);
}

/* A command's argv: `head` then the family's options, NULL-terminated. */
typedef struct {
  const char *v[64];
  int n;
} argv_list;

static void add(argv_list *a, const char *s) {
  ck_assert_int_lt(a->n, 63);
  a->v[a->n++] = s;
  a->v[a->n] = NULL;
}

static void add_all(argv_list *a, const char *const *s) {
  for (int i = 0; s[i]; i++) add(a, s[i]);
}

/* The examples of `file` a predictions file must cover, counted from the
 * data file itself: words (ner), lines (jsonl), rows after the header
 * (tsv), questions (SQuAD). */
static int64_t count_examples(const family *f, const char *file) {
  if (!strcmp(f->task, "qa")) {
    json_t *j = read_json_line(file);
    int64_t n = 0;
    size_t i, k;
    json_t *art, *par;
    json_array_foreach(json_object_get(j, "data"), i, art)
        json_array_foreach(json_object_get(art, "paragraphs"), k, par) n +=
        (int64_t)json_array_size(json_object_get(par, "qas"));
    json_decref(j);
    return n;
  }
  FILE *in = fopen(file, "r");
  ck_assert_ptr_nonnull(in);
  char line[65536];
  int64_t n = 0;
  bool tsv = strstr(file, ".tsv") != NULL;
  while (fgets(line, sizeof line, in))
    if (strcmp(f->task, "ner") ? line[0] != '\n' : line[0] != '\n' && strncmp(line, "-DOCSTART-", 10))
      n++;
  fclose(in);
  return tsv ? n - 1 : n;
}

/* The predictions in `pred`, counted as count_examples counts the data; a
 * ner word line must carry one more column than its data line. */
static int64_t count_predictions(const family *f, const char *data, const char *pred) {
  if (!strcmp(f->task, "qa")) {
    json_t *j = read_json_line(pred);
    ck_assert(json_is_object(j));
    int64_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) n += json_is_string(v);
    json_decref(j);
    return n;
  }
  FILE *po = fopen(pred, "r");
  ck_assert_ptr_nonnull(po);
  char l1[65536], l2[65536];
  int64_t n = 0;
  if (strcmp(f->task, "ner")) { /* jsonl: one object per example */
    while (fgets(l2, sizeof l2, po)) {
      json_t *j = json_loads(l2, 0, NULL);
      ck_assert_msg(json_is_object(j), "%s: not a JSON object: %s", pred, l2);
      json_decref(j);
      n++;
    }
    fclose(po);
    return n;
  }
  FILE *in = fopen(data, "r");
  ck_assert_ptr_nonnull(in);
  while (fgets(l1, sizeof l1, in)) {
    ck_assert_msg(fgets(l2, sizeof l2, po) != NULL, "%s ends early", pred);
    if (l1[0] == '\n' || !strncmp(l1, "-DOCSTART-", 10)) continue;
    int c1 = 0, c2 = 0;
    for (char *s = strtok(l1, " \t\n"); s; s = strtok(NULL, " \t\n")) c1++;
    for (char *s = strtok(l2, " \t\n"); s; s = strtok(NULL, " \t\n")) c2++;
    ck_assert_int_eq(c2, c1 + 1);
    n++;
  }
  ck_assert_msg(fgets(l2, sizeof l2, po) == NULL, "%s has more lines than %s", pred, data);
  fclose(in);
  fclose(po);
  return n;
}

/* Every number of `want` (train's "dev" object) is in `got` (eval's line)
 * with the same value (train prints 9 significant digits). */
static void same_metrics(const json_t *want, const json_t *got, const char *label) {
  ck_assert_msg(json_is_object(want) && json_object_size(want) > 0, "%s: no dev metrics", label);
  const char *k;
  json_t *v;
  int numbers = 0;
  json_object_foreach((json_t *)want, k, v) {
    if (!json_is_number(v)) continue;
    json_t *g = json_object_get(got, k);
    ck_assert_msg(json_is_number(g), "%s: eval has no %s", label, k);
    double a = json_number_value(v), b = json_number_value(g);
    ck_assert_msg(fabs(a - b) <= 1e-8 * fmax(1, fabs(a)), "%s: %s is %.9g in train's result, %.9g "
                  "by eval", label, k, a, b);
    numbers++;
  }
  ck_assert_int_gt(numbers, 0);
}

/* adapter_config.json of `dir` names the method: "method" (ptune's layout)
 * or "peft_type" (peft's); read back, it is the method. */
static void names_method(const char *dir, const pt_method *me, bool peft) {
  char p[4400];
  path(p, sizeof p, dir, "adapter_config.json");
  json_t *j = read_json_line(p);
  const char *key = peft ? "peft_type" : "method", *want = peft ? me->peft_type : me->name;
  const char *got = json_string_value(json_object_get(j, key));
  ck_assert_msg(got && !strcmp(got, want), "%s: \"%s\" is %s, not %s", p, key, got ? got : "missing",
                want);
  json_decref(j);
  pt_adapter_info info;
  ck_assert_msg(pt_adapter_info_read(dir, model, &info) == PT_OK, "%s", pt_error_message());
  ck_assert_str_eq(info.method->name, me->name);
  pt_adapter_info_free(&info);
}

/* The loss of every step line of OUT/metrics.jsonl: a finite number; the
 * number of step lines. */
static int finite_losses(const char *out, const char *label) {
  char p[4400], line[65536];
  path(p, sizeof p, out, "metrics.jsonl");
  FILE *f = fopen(p, "r");
  ck_assert_ptr_nonnull(f);
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    json_t *j = json_loads(line, 0, NULL);
    ck_assert_msg(j != NULL, "%s: %s", p, line);
    json_t *loss = json_object_get(j, "loss");
    if (loss) {
      ck_assert_msg(json_is_number(loss) && isfinite(json_number_value(loss)) &&
                        json_number_value(loss) > 0,
                    "%s: step %lld: loss %s", label,
                    (long long)json_integer_value(json_object_get(j, "step")), line);
      n++;
    }
    json_decref(j);
  }
  fclose(f);
  return n;
}

/* eval --adapter DIR on the family's data, no method option: its line. */
static json_t *eval_adapter(const family *f, const char *data, const char *dir, const char *cap,
                            const char *label) {
  argv_list e = {{0}, 0};
  add_all(&e, (const char *[]){"eval", "--task", f->task, "--model", model, "--adapter", dir,
                               "--data", data, NULL});
  add_all(&e, f->opts);
  ck_assert_msg(run(cli_run, cap, e.v) == 0, "%s eval %s: %s", label, dir, pt_error_message());
  return read_json_line(cap);
}

START_TEST(every_method_trains_on_every_task_family) {
  int count;
  const pt_method *me = pt_methods(&count)[_i / NFAMILIES];
  const family *f = &families[_i % NFAMILIES];
  char label[128], data[4400], out[400], best[500], last[500], best_peft[600], cap[500], pred[500];
  /* the method's defaults on srl and mc, other options on the rest */
  const char *const *options = _i % NFAMILIES == 1 || _i % NFAMILIES == 3 ? NULL : variant_of(me);
  snprintf(label, sizeof label, "%s%s on %s%s", me->name, options ? " (options)" : "", f->task,
           f->train[0] ? " (verbalizer head)" : "");
  path(data, sizeof data, fx, f->data);
  snprintf(out, sizeof out, "%s/out", root);
  snprintf(best, sizeof best, "%s/best", out);
  snprintf(last, sizeof last, "%s/last", out);
  snprintf(best_peft, sizeof best_peft, "%s/peft", best);
  /* train: two steps, one evaluation on the data */
  argv_list t = {{0}, 0};
  add_all(&t, (const char *[]){"train", "--task", f->task, "--model", model, "--train", data,
                               "--dev", data, "--out", out, "--method", me->name, "--max-steps",
                               "2", "--batch-size", "2", "--log-every", "1", "--seed", "3",
                               "--quiet", NULL});
  if (options) add_all(&t, options);
  add_all(&t, f->opts);
  add_all(&t, f->train);
  snprintf(cap, sizeof cap, "%s/train.json", root);
  /* peft's layout too where the method has one; where this model has none
   * (a verbalizer head, a prefix on some layers only) train says so before
   * the first step */
  bool peft = me->peft_type != NULL;
  if (peft) {
    add_all(&t, (const char *[]){"--save-format", "both", NULL});
    if (run(cli_run, cap, t.v) != 0) {
      ck_assert_msg(strstr(pt_error_message(), "--save-format both: ") &&
                        strstr(pt_error_message(), "has no peft layout"),
                    "%s train: %s", label, pt_error_message());
      ck_assert_msg(!exists(out, "metrics.jsonl"), "%s: refused after training began", label);
      /* a method with a peft layout has it with its defaults and head */
      ck_assert_msg(options || f->train[0], "%s: refused with the defaults", label);
      peft = false;
      t.v[t.n - 1] = "ptune";
    }
  }
  if (!peft) ck_assert_msg(run(cli_run, cap, t.v) == 0, "%s train: %s", label, pt_error_message());
  json_t *tj = read_json_line(cap);
  ck_assert_str_eq(json_string_value(json_object_get(tj, "method")), me->name);
  ck_assert_str_eq(json_string_value(json_object_get(tj, "task")), f->task);
  ck_assert_int_eq(json_integer_value(json_object_get(tj, "steps")), 2);
  ck_assert_int_gt(json_integer_value(json_object_get(tj, "trainable")), 0);
  ck_assert_int_eq(finite_losses(out, label), 2);
  names_method(best, me, false);
  names_method(last, me, false);
  if (peft) names_method(best_peft, me, true);
  /* eval reads the method from the adapter and scores what train scored */
  json_t *dev = json_object_get(tj, "dev");
  json_t *ej = eval_adapter(f, data, best, cap, label);
  same_metrics(dev, ej, label);
  json_decref(ej);
  char ecap[500];
  snprintf(ecap, sizeof ecap, "%s/eval.json", root);
  if (peft) {
    ej = eval_adapter(f, data, best_peft, ecap, label);
    same_metrics(dev, ej, label);
    json_decref(ej);
  }
  /* the one evaluation was at the last step: last/ is best/ */
  ej = eval_adapter(f, data, last, ecap, label);
  same_metrics(dev, ej, label);
  json_decref(ej);
  json_decref(tj);
  /* predict: a prediction for every example, scored as eval scores */
  snprintf(pred, sizeof pred, "%s/pred", root);
  argv_list p = {{0}, 0};
  add_all(&p, (const char *[]){"predict", "--task", f->task, "--model", model, "--adapter", last,
                               "--data", data, "--output", pred, NULL});
  add_all(&p, f->opts);
  ck_assert_msg(run(cli_run, NULL, p.v) == 0, "%s predict: %s", label, pt_error_message());
  int64_t want = count_examples(f, data);
  ck_assert_int_gt(want, 0);
  ck_assert_int_eq(count_predictions(f, data, pred), want);
  argv_list s = {{0}, 0};
  add_all(&s, (const char *[]){"score", "--task", f->task, "--data", data, "--predictions", pred,
                               NULL});
  if (f->opts[0] && !strcmp(f->opts[0], "--preset"))
    add_all(&s, (const char *[]){"--preset", f->opts[1], NULL});
  char scap[500];
  snprintf(scap, sizeof scap, "%s/score.json", root);
  ck_assert_msg(run(cli_run, scap, s.v) == 0, "%s score: %s", label, pt_error_message());
  ck_assert_str_eq(first_line(scap), first_line(ecap));
}
END_TEST

/* train for 12 steps with a checkpoint after each, one thread (libgomp
 * cannot start a thread team in a child forked after the parent used one),
 * dropout on (the tiny model's 0.1, and LoRA's own: the RNG's state must
 * come back too), the method's other options (an MLP, an LSTM: their
 * tensors and moments must come back); `extra` is appended. */
static int train_resumable(const pt_method *me, const family *f, const char *out, const char *extra) {
  char data[4400];
  path(data, sizeof data, fx, f->data);
  argv_list t = {{0}, 0};
  add_all(&t, (const char *[]){"train", "--task", f->task, "--model", model, "--train", data,
                               "--out", out, "--method", me->name, "--max-steps", "12",
                               "--batch-size", "2", "--save-every", "1", "--seed", "5",
                               "--threads", "1", "--quiet", NULL});
  if (variant_of(me)) add_all(&t, variant_of(me));
  add_all(&t, f->opts);
  add_all(&t, f->train);
  if (extra) add(&t, extra);
  if (extra && !strcmp(extra, "--stop-after")) add(&t, "5");
  return run(cli_run, "/dev/null", t.v);
}

/* The step of the checkpoint `file` names (written by rename: whole or
 * absent); -1 without one. */
static int64_t checkpoint_step(const char *file) {
  json_t *j = json_load_file(file, 0, NULL);
  int64_t step = j ? (int64_t)json_integer_value(json_object_get(j, "step")) : -1;
  json_decref(j);
  return step;
}

START_TEST(every_method_resumes_a_killed_run_bit_for_bit) {
  int count;
  const pt_method *me = pt_methods(&count)[_i];
  const family *f = &families[_i % NFAMILIES];
  char a[400], s[400], k[400], la[500], ls[500], lk[500], ck[500];
  snprintf(a, sizeof a, "%s/a", root);
  snprintf(s, sizeof s, "%s/s", root);
  snprintf(k, sizeof k, "%s/k", root);
  ck_assert_msg(train_resumable(me, f, a, NULL) == 0, "%s: %s", me->name, pt_error_message());
  snprintf(la, sizeof la, "%s/last", a);
  /* stopped after step 5 (the checkpoint of step 5 written), resumed */
  ck_assert_msg(train_resumable(me, f, s, "--stop-after") == 0, "%s: %s", me->name,
                pt_error_message());
  ck_assert(!exists(s, "last"));
  ck_assert(exists(s, "ckpt-5/optimizer.safetensors"));
  ck_assert_msg(train_resumable(me, f, s, "--resume") == 0, "%s: %s", me->name, pt_error_message());
  snprintf(ls, sizeof ls, "%s/last", s);
  same_adapter(la, ls);
  /* SIGKILL at a random moment after a random checkpoint (of steps 1-9):
   * mid-step, mid-checkpoint or between them */
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) _exit(train_resumable(me, f, k, NULL));
  snprintf(ck, sizeof ck, "%s/checkpoint.json", k);
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  int64_t at = 1 + rand_r(&seed) % 9; /* the checkpoint to wait for */
  for (int i = 0; i < 30000 && checkpoint_step(ck) < at; i++) usleep(200);
  usleep(rand_r(&seed) % 2000);
  kill(pid, SIGKILL);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(access(ck, F_OK) == 0, "%s: no checkpoint before the kill (child status %d)",
                me->name, status);
  fprintf(stderr, "%s on %s: killed %s with the checkpoint at step %lld\n", me->name, f->task,
          WIFSIGNALED(status) ? "mid-run" : "after the run had ended", (long long)checkpoint_step(ck));
  ck_assert_msg(train_resumable(me, f, k, "--resume") == 0, "%s: %s", me->name, pt_error_message());
  snprintf(lk, sizeof lk, "%s/last", k);
  same_adapter(la, lk);
}
END_TEST

int main(void) {
  Suite *s = suite_create("method_cli");
  TCase *tc = tcase_create("method_cli");
  tcase_add_checked_fixture(tc, setup_with_mlm_head, teardown);
  tcase_set_timeout(tc, 600);
  int count;
  pt_methods(&count);
  tcase_add_loop_test(tc, every_method_trains_on_every_task_family, 0, count * NFAMILIES);
  tcase_add_loop_test(tc, every_method_resumes_a_killed_run_bit_for_bit, 0, count);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
