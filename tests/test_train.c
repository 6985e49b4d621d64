/* ptune train / eval / predict / inspect end to end on a tiny random BERT
 * (vocab 30522 from tests/fixtures/vocab/bert-base-uncased, hidden 32, 2
 * layers) written into a temp directory, on the committed data excerpts:
 * files appear, metrics parse, the exact semantics of issue 4 hold bit for
 * bit against the model API (one SGD step; three AdamW steps), same seed ->
 * same adapter, a resumed run ends with the uninterrupted run's adapter
 * (after --stop-after, SIGKILL, or a checkpoint write failing on a full
 * disk), a NaN loss stops the run or (--on-nonfinite skip) skips the update,
 * and bad inputs fail with one line naming the file. */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apps/cmd/commands.h"
#include "apps/tasks/ner/ner.h"
#include "apps/tasks/qa/squad.h"
#include "apps/train/train.h"
#include "autograd/pt_autograd.h"
#include "models/pt_model_io.h"
#include "models/pt_hf.h"
#include "nn/pt_params_io.h"
#include "nn/pt_safetensors.h"
#include "tensor/pt_file.h"
#include "tensor/pt_matmul.h"

#include "train_test_util.h"

START_TEST(test_ner_train_eval_predict) {
  char train[4400], out[400], cap[400], pred[400], last[500];
  path(train, sizeof train, fx, "conll2003/eng.train.excerpt");
  snprintf(out, sizeof out, "%s/ner", root);
  const char *args[] = {"train", "--task", "ner", "--model", model, "--train", train, "--dev", train,
                        "--out", out, "--max-steps", "3", "--batch-size", "2", "--pre-seq-len",
                        "4", "--max-seq-len", "64", "--log-every", "1", "--quiet", NULL};
  char tcap[400];
  snprintf(tcap, sizeof tcap, "%s/train.json", root);
  ck_assert_msg(run(cli_run, tcap, args) == 0, "%s", pt_error_message());
  /* stdout: one JSON line with the run's result and the best dev metrics */
  json_t *tj = read_json_line(tcap);
  ck_assert_str_eq(json_string_value(json_object_get(tj, "task")), "ner");
  ck_assert_str_eq(json_string_value(json_object_get(tj, "method")), "ptv2");
  ck_assert_int_eq(json_integer_value(json_object_get(tj, "steps")), 3);
  ck_assert(json_is_number(json_object_get(json_object_get(tj, "dev"), "f1")));
  ck_assert(fabs(json_number_value(json_object_get(json_object_get(tj, "dev"), "f1")) -
                 json_number_value(json_object_get(tj, "best_dev"))) < 1e-6);
  ck_assert(json_real_value(json_object_get(tj, "trainable_pct")) > 0);
  json_decref(tj);
  ck_assert(exists(out, "metrics.jsonl"));
  ck_assert(exists(out, "best/adapter_model.safetensors"));
  ck_assert(exists(out, "last/adapter_config.json"));
  /* metrics.jsonl: every line is JSON; 3 step lines, an eval, a summary. */
  char p[4400];
  path(p, sizeof p, out, "metrics.jsonl");
  FILE *f = fopen(p, "r");
  ck_assert_ptr_nonnull(f);
  char line[8192];
  int steps = 0, evals = 0, summaries = 0;
  double best_dev = -1;
  while (fgets(line, sizeof line, f)) {
    json_t *j = json_loads(line, 0, NULL);
    ck_assert_msg(j != NULL, "bad metrics line %s", line);
    if (json_object_get(j, "loss")) steps++;
    if (json_object_get(j, "eval")) {
      evals++;
      ck_assert(json_is_number(json_object_get(json_object_get(j, "eval"), "f1")));
    }
    if (json_object_get(j, "summary")) {
      summaries++;
      json_t *s = json_object_get(j, "summary");
      ck_assert_int_eq(json_integer_value(json_object_get(s, "steps")), 3);
      ck_assert(json_real_value(json_object_get(s, "trainable_pct")) > 0);
      ck_assert(json_real_value(json_object_get(s, "trainable_pct")) < 100);
      best_dev = json_number_value(json_object_get(s, "best_dev"));
    }
    json_decref(j);
  }
  fclose(f);
  ck_assert_int_eq(steps, 3);
  ck_assert_int_ge(evals, 1);
  ck_assert_int_eq(summaries, 1);
  /* curves.svg: the train loss, the learning rate and the dev metrics */
  path(p, sizeof p, out, "curves.svg");
  f = fopen(p, "r");
  ck_assert_ptr_nonnull(f);
  char svg[65536];
  svg[fread(svg, 1, sizeof svg - 1, f)] = '\0';
  fclose(f);
  const char *want[] = {"<svg", "training loss", "learning rate", "dev metrics", ">f1<", "<polyline"};
  for (int k = 0; k < 6; k++) ck_assert_msg(strstr(svg, want[k]) != NULL, "curves.svg: no %s", want[k]);
  snprintf(last, sizeof last, "%s/last", out);
  snprintf(cap, sizeof cap, "%s/eval.json", root);
  const char *eargs[] = {"eval", "--task", "ner", "--model", model, "--adapter", last,
                         "--data", train, "--max-seq-len", "64", NULL};
  ck_assert_int_eq(run(cli_run, cap, eargs), 0);
  json_t *j = read_json_line(cap);
  ck_assert_str_eq(json_string_value(json_object_get(j, "task")), "ner");
  double f1 = json_real_value(json_object_get(j, "f1"));
  ck_assert(f1 >= 0 && f1 <= 1);
  ck_assert(json_is_object(json_object_get(j, "per_type")));
  json_decref(j);
  /* OUT/best scores what the summary says it scored on dev. */
  char best[500];
  snprintf(best, sizeof best, "%s/best", out);
  eargs[6] = best;
  ck_assert_int_eq(run(cli_run, cap, eargs), 0);
  j = read_json_line(cap);
  ck_assert_msg(fabs(json_number_value(json_object_get(j, "f1")) - best_dev) < 1e-8,
                "best adapter scores %g, summary says %g",
                json_number_value(json_object_get(j, "f1")), best_dev);
  json_decref(j);
  snprintf(pred, sizeof pred, "%s/ner.pred.conll", root);
  const char *pargs[] = {"predict", "--task", "ner", "--model", model, "--adapter", last,
                         "--data", train, "--output", pred, "--max-seq-len", "64", NULL};
  ck_assert_int_eq(run(cli_run, NULL, pargs), 0);
  /* Each word line and -DOCSTART- line gains one column (conlleval wants
   * them all alike); blank lines stay blank. */
  FILE *in = fopen(train, "r"), *po = fopen(pred, "r");
  ck_assert(in && po);
  char l1[4096], l2[4096];
  int words = 0;
  while (fgets(l1, sizeof l1, in)) {
    ck_assert_ptr_nonnull(fgets(l2, sizeof l2, po));
    int c1 = 0, c2 = 0;
    bool doc = !strncmp(l1, "-DOCSTART-", 10);
    for (char *s = strtok(l1, " \t\n"); s; s = strtok(NULL, " \t\n")) c1++;
    for (char *s = strtok(l2, " \t\n"); s; s = strtok(NULL, " \t\n")) c2++;
    if (doc) ck_assert_int_eq(c2, c1 + 1);
    if (c1 > 1 && !doc) {
      ck_assert_int_eq(c2, c1 + 1);
      words++;
    }
  }
  ck_assert_int_gt(words, 10);
  fclose(in);
  fclose(po);
  /* ptune score on the predictions prints eval's line, in both NER modes */
  const char *modes[][4] = {{NULL}, {"--ner-mode", "strict", "--scheme", "IOBES"}};
  for (int m = 0; m < 2; m++) {
    char ecap[400], scap[400];
    snprintf(ecap, sizeof ecap, "%s/eval%d.json", root, m);
    snprintf(scap, sizeof scap, "%s/score%d.json", root, m);
    const char *ea[16] = {"eval", "--task", "ner", "--model", model, "--adapter", last,
                          "--data", train, "--max-seq-len", "64"};
    const char *sa[16] = {"score", "--task", "ner", "--data", train, "--predictions", pred};
    for (int k = 0; k < 4 && modes[m][k]; k++) ea[11 + k] = sa[7 + k] = modes[m][k];
    ck_assert_int_eq(run(cli_run, ecap, ea), 0);
    ck_assert_msg(run(cli_run, scap, sa) == 0, "%s", pt_error_message());
    ck_assert_str_eq(first_line(scap), first_line(ecap));
    ck_assert_ptr_nonnull(strstr(first_line(scap), m ? "\"strict_f1\"" : "\"f1\""));
  }
  /* inspect with the adapter */
  snprintf(cap, sizeof cap, "%s/inspect.txt", root);
  const char *iargs[] = {"inspect", "--model", model, "--adapter", last, NULL};
  ck_assert_int_eq(run(cli_run, cap, iargs), 0);
  f = fopen(cap, "r");
  bool found = false;
  while (fgets(line, sizeof line, f)) found |= strstr(line, "trainable: ") != NULL;
  fclose(f);
  ck_assert(found);
}
END_TEST

/* train (2 steps) -> eval -> predict for one task; returns the eval JSON. */
static json_t *train_eval_predict(const char *task, const char *train_file, const char *dev_file,
                                  const char *const *extra, const char *train_only,
                                  const char *out_name) {
  char train[4400], dev[4400], out[400], last[500], cap[400], pred[400];
  path(train, sizeof train, fx, train_file);
  path(dev, sizeof dev, fx, dev_file);
  snprintf(out, sizeof out, "%s/%s", root, out_name);
  snprintf(last, sizeof last, "%s/last", out);
  const char *args[40] = {"train", "--task", task, "--model", model, "--train", train,
                          "--dev", dev, "--out", out, "--max-steps", "2", "--batch-size",
                          "2", "--quiet"};
  int n = 16;
  for (int i = 0; extra[i]; i++) args[n++] = extra[i];
  if (train_only) args[n++] = "--method", args[n++] = train_only;
  /* a short prefix or prompt: the method's own option */
  if (!train_only) args[n++] = "--pre-seq-len", args[n++] = "4";
  else if (!strcmp(train_only, "prompt")) args[n++] = "--num-virtual-tokens", args[n++] = "4";
  args[n] = NULL;
  ck_assert_msg(run(cli_run, NULL, args) == 0, "%s train: %s", task, pt_error_message());
  ck_assert(exists(out, "best/adapter_model.safetensors"));
  snprintf(cap, sizeof cap, "%s/%s.eval.json", root, out_name);
  const char *eargs[40] = {"eval", "--task", task, "--model", model, "--adapter", last, "--data", dev};
  n = 9;
  for (int i = 0; extra[i]; i++) eargs[n++] = extra[i];
  eargs[n] = NULL;
  ck_assert_msg(run(cli_run, cap, eargs) == 0, "%s eval: %s", task, pt_error_message());
  snprintf(pred, sizeof pred, "%s/%s.pred", root, out_name);
  const char *pargs[40] = {"predict", "--task", task, "--model", model, "--adapter",
                           last, "--data", dev, "--output", pred};
  n = 11;
  for (int i = 0; extra[i]; i++) pargs[n++] = extra[i];
  pargs[n] = NULL;
  /* SQuAD 2.0: the no-answer scores too (evaluate-v2.0.py's -n file) */
  bool v2 = strstr(dev_file, "v2.0") != NULL;
  char na[400];
  snprintf(na, sizeof na, "%s/%s.na.json", root, out_name);
  if (v2) pargs[n++] = "--na-prob-output", pargs[n++] = na;
  pargs[n] = NULL;
  ck_assert_msg(run(cli_run, NULL, pargs) == 0, "%s predict: %s", task, pt_error_message());
  ck_assert(access(pred, F_OK) == 0);
  /* ptune score on the predictions file prints eval's line */
  char scap[400];
  snprintf(scap, sizeof scap, "%s/%s.score.json", root, out_name);
  const char *sargs[40] = {"score", "--task", task, "--data", dev, "--predictions", pred};
  n = 7;
  for (int i = 0; extra[i]; i++) /* the options score takes */
    if (!strcmp(extra[i], "--preset") || !strcmp(extra[i], "--text-fields") ||
        !strcmp(extra[i], "--label-field"))
      sargs[n++] = extra[i], sargs[n++] = extra[i + 1];
    else if (!strcmp(extra[i], "--null-threshold") && atof(extra[i + 1]) > 1)
      sargs[n++] = "--na-prob-thresh", sargs[n++] = extra[i + 1]; /* eval's threshold */
  if (v2) sargs[n++] = "--na-prob", sargs[n++] = na;
  sargs[n] = NULL;
  ck_assert_msg(run(cli_run, scap, sargs) == 0, "%s score: %s", task, pt_error_message());
  ck_assert_str_eq(first_line(scap), first_line(cap));
  if (v2) ck_assert_ptr_nonnull(strstr(first_line(cap), "\"best_f1_thresh\""));
  return read_json_line(cap);
}

START_TEST(test_cls_mc_srl_qa) {
  const char *rte[] = {"--preset", "rte", "--max-seq-len", "96", NULL};
  json_t *j = train_eval_predict("cls", "superglue/RTE.val.excerpt.jsonl",
                                 "superglue/RTE.val.excerpt.jsonl", rte, NULL, "rte");
  double acc = json_real_value(json_object_get(j, "accuracy"));
  ck_assert(acc >= 0 && acc <= 1);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "total")), 3);
  json_decref(j);
  const char *sst[] = {"--preset", "sst2", NULL};
  j = train_eval_predict("cls", "glue/SST-2.dev.excerpt.tsv", "glue/SST-2.dev.excerpt.tsv", sst, "prompt",
                         "sst2");
  ck_assert(json_is_number(json_object_get(j, "mcc")));
  json_decref(j);
  const char *copa[] = {"--preset", "copa", NULL};
  j = train_eval_predict("mc", "superglue/COPA.val.excerpt.jsonl",
                         "superglue/COPA.val.excerpt.jsonl", copa, NULL, "copa");
  ck_assert(json_is_number(json_object_get(j, "accuracy")));
  json_decref(j);
  const char *srl[] = {"--max-seq-len", "100", NULL};
  j = train_eval_predict("srl", "conll2005-srl/train.excerpt.jsonl",
                         "conll2005-srl/train.excerpt.jsonl", srl, NULL, "srl");
  ck_assert(json_is_number(json_object_get(j, "f1")));
  json_decref(j);
  const char *qa[] = {"--max-seq-len", "96", "--doc-stride", "32", NULL};
  j = train_eval_predict("qa", "squad/dev-v1.1.excerpt.json", "squad/dev-v1.1.excerpt.json", qa, "finetune",
                         "qa");
  double em = json_real_value(json_object_get(j, "exact_match"));
  ck_assert(em >= 0 && em <= 100);
  json_decref(j);
  /* SQuAD 2.0: --null-threshold moves answers to and from "no answer"
   * (HF's null_score_diff_threshold): far below any score difference every
   * question is answered with nothing, far above every one gets a span */
  const char *nt_lo[] = {"--max-seq-len", "96", "--doc-stride", "32", "--null-threshold", "-1e9",
                         NULL};
  const char *nt_hi[] = {"--max-seq-len", "96", "--doc-stride", "32", "--null-threshold", "1e9",
                         NULL};
  j = train_eval_predict("qa", "squad/dev-v2.0.excerpt.json", "squad/dev-v2.0.excerpt.json", nt_lo,
                         NULL, "qa2lo");
  ck_assert_double_eq_tol(json_number_value(json_object_get(j, "NoAns_exact")), 100.0, 1e-9);
  ck_assert_double_eq_tol(json_number_value(json_object_get(j, "HasAns_exact")), 0.0, 1e-9);
  json_decref(j);
  j = train_eval_predict("qa", "squad/dev-v2.0.excerpt.json", "squad/dev-v2.0.excerpt.json", nt_hi,
                         NULL, "qa2hi");
  ck_assert_double_eq_tol(json_number_value(json_object_get(j, "NoAns_exact")), 0.0, 1e-9);
  json_decref(j);
  /* QA predictions are {id: answer} for every question. */
  char p[400];
  snprintf(p, sizeof p, "%s/qa.pred", root);
  json_t *preds = read_json_line(p);
  ck_assert(json_is_object(preds));
  ck_assert_int_gt(json_object_size(preds), 0);
  char sq[4400];
  path(sq, sizeof sq, fx, "squad/dev-v1.1.excerpt.json");
  squad_set set;
  ck_assert_int_eq(read_squad(sq, NULL, &set), PT_OK);
  ck_assert_int_eq(json_object_size(preds), set.n);
  for (int64_t q = 0; q < set.n; q++)
    ck_assert_msg(json_is_string(json_object_get(preds, set.qs[q].id)), "no answer for %s",
                  set.qs[q].id);
  squad_set_free(&set);
  json_decref(preds);
}
END_TEST

/* An adapter made with the model API: ptv2, P 4, projection, NER labels. */
static void make_ner_adapter(const char *dir, const char *const *labels, int n) {
  const pt_method *me = pt_method_find("ptv2");
  void *opts = calloc(1, me->opts_size);
  ck_assert_int_eq(pt_options_init(me->options, opts), PT_OK);
  const char *set[] = {"pre-seq-len", "4", "prefix-projection", "true", "prefix-hidden-size", "16"};
  for (int i = 0; i < 6; i += 2)
    ck_assert_int_eq(pt_option_set_text(pt_option_find_flag(me->options, set[i]), opts, set[i + 1]),
                     PT_OK);
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_load(&bb, model, (pt_backbone_parts){false, false}, false, -1, 99),
                   PT_OK);
  pt_model m;
  pt_model_config mc = {{PT_TASK_TOKEN_CLASSIFICATION, PT_HEAD_LINEAR, n, NULL, -1}, 99, NULL, NULL,
                        false};
  ck_assert_int_eq(pt_model_new(&m, &bb, me, opts, &mc), PT_OK);
  ck_assert_int_eq(pt_model_save(&m, dir, PT_LAYOUT_PTUNE, n, labels, model), PT_OK);
  pt_model_free(&m);
  pt_backbone_free(&bb);
  pt_options_free(me->options, opts);
  free(opts);
}

static const char *const conll_labels[] = {"O", "B-PER", "I-PER", "B-ORG", "I-ORG",
                                           "B-LOC", "I-LOC", "B-MISC", "I-MISC"};

/* The first n sentences of `file`, encoded and batched by hand. */
static void hand_batch(const char *file, int64_t n, pt_tokenizer *tok, task_batch *b,
                       label_map *map) {
  sentence_set set = {0};
  ck_assert_int_eq(read_ner(file, NULL, &set), PT_OK);
  ck_assert_int_eq(sentences_map_labels(&set, map, false), PT_OK);
  int64_t S = 0;
  pt_encoding enc[8];
  for (int64_t i = 0; i < n; i++) {
    pt_encode_opts o = {.max_length = 64, .truncation = PT_TRUNC_LONGEST_FIRST};
    ck_assert_int_eq(pt_tokenizer_encode_words(tok, (const char *const *)set.sents[i].words,
                                               set.sents[i].n, &o, &enc[i]),
                     PT_OK);
    if (enc[i].n > S) S = enc[i].n;
  }
  memset(b, 0, sizeof *b);
  b->ids = pt_zeros(PT_I64, 2, (int64_t[]){n, S});
  b->mask = pt_zeros(PT_I64, 2, (int64_t[]){n, S});
  b->types = pt_zeros(PT_I64, 2, (int64_t[]){n, S});
  b->labels = pt_full(PT_I64, 2, (int64_t[]){n, S}, -100);
  for (int64_t i = 0; i < n; i++) {
    for (int64_t t = 0; t < enc[i].n; t++) {
      pt_set(b->ids, i * S + t, (double)enc[i].ids[t]);
      pt_set(b->mask, i * S + t, 1);
      int64_t w = enc[i].word_ids[t];
      if (w >= 0 && (t == 0 || enc[i].word_ids[t - 1] != w))
        pt_set(b->labels, i * S + t, set.sents[i].tag_ids[w]);
    }
    pt_encoding_free(&enc[i]);
  }
  b->b = (pt_model_batch){b->ids, b->mask, b->types, b->labels, NULL, NULL};
  sentence_set_free(&set);
}

static void exact_case(const char *file, int64_t n, bool adamw) {
  char adapter[400], out[400], last[500], bs[16];
  snprintf(adapter, sizeof adapter, "%s/init", root);
  snprintf(out, sizeof out, "%s/exact", root);
  snprintf(last, sizeof last, "%s/last", out);
  snprintf(bs, sizeof bs, "%lld", (long long)n);
  make_ner_adapter(adapter, conll_labels, 9);
  const char *sgd[] = {"train", "--task", "ner", "--model", model, "--train", file, "--out", out,
                       "--dropout", "0", "--no-shuffle", "--optimizer", "sgd", "--lr", "0.1",
                       "--weight-decay", "0", "--max-steps", "1", "--batch-size", bs,
                       "--init-adapter", adapter, "--max-seq-len", "64", "--quiet", NULL};
  const char *adam[] = {"train", "--task", "ner", "--model", model, "--train", file, "--out", out,
                        "--dropout", "0", "--no-shuffle", "--optimizer", "adamw", "--lr", "0.01",
                        "--weight-decay", "0.01", "--max-steps", "3", "--batch-size", bs,
                        "--init-adapter", adapter, "--max-seq-len", "64", "--quiet", NULL};
  ck_assert_msg(run(cli_run, NULL, adamw ? adam : sgd) == 0, "%s", pt_error_message());
  /* By hand: the model API on the same batch. */
  pt_adapter_info ac;
  ck_assert_int_eq(pt_adapter_info_read(adapter, model, &ac), PT_OK);
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_load(&bb, model, (pt_backbone_parts){false, false}, false, -1, 0),
                   PT_OK);
  pt_model m;
  ck_assert_int_eq(pt_model_load(&m, &bb, adapter, &ac, 0), PT_OK);
  label_map map;
  label_map_init(&map);
  ck_assert_int_eq(label_map_set(&map, (const char *const *)ac.id2label, ac.nlabels), PT_OK);
  pt_adapter_info_free(&ac);
  pt_tokenizer *tok = pt_tokenizer_load(model);
  ck_assert_ptr_nonnull(tok);
  task_batch b;
  hand_batch(file, n, tok, &b, &map);
  pt_optim *o;
  if (adamw) {
    pt_adamw_opts ao = pt_adamw_defaults();
    ao.lr = 0.01;
    ao.weight_decay = 0.01;
    o = pt_adamw_new(&ao);
  } else {
    pt_sgd_opts so = {0.1, 0, 0, 0, false};
    o = pt_sgd_new(&so);
  }
  for (int i = 0; i < pt_model_ntrainable(&m); i++)
    ck_assert_int_eq(pt_optim_add_param(o, pt_model_trainable(&m, i), NULL, true), PT_OK);
  for (int s = 0; s < (adamw ? 3 : 1); s++) {
    pt_model_outputs out_;
    pt_nn_mode mode = {false, NULL};
    ck_assert_int_eq(pt_model_forward(&m, &b.b, mode, false, &out_), PT_OK);
    ck_assert_int_eq(pt_backward(out_.loss, NULL, false), PT_OK);
    ck_assert_int_eq(pt_optim_step(o), PT_OK);
    pt_optim_zero_grad(o);
    pt_model_outputs_free(&out_);
  }
  char by_hand[400];
  snprintf(by_hand, sizeof by_hand, "%s/by_hand", root);
  ck_assert_int_eq(pt_model_save(&m, by_hand, PT_LAYOUT_PTUNE, (int)map.n,
                                 (const char *const *)map.names, model),
                   PT_OK);
  same_adapter(last, by_hand);
  /* and the step did change something */
  pt_safetensors *fa;
  char p[600];
  snprintf(p, sizeof p, "%s/adapter_model.safetensors", adapter);
  ck_assert_int_eq(pt_safetensors_open(p, &fa), PT_OK);
  pt_tensor *before = pt_safetensors_load(fa, "classifier.weight", PT_F32);
  pt_tensor *after = pt_model_trainable_find(&m, "classifier.weight");
  ck_assert(memcmp(pt_data(before), pt_data(after), (size_t)pt_numel(before) * 4) != 0);
  pt_tensor_free(before);
  pt_safetensors_close(fa);
  task_batch_free(&b);
  pt_optim_free(o);
  pt_tokenizer_free(tok);
  label_map_free(&map);
  pt_model_free(&m);
  pt_backbone_free(&bb);
}

START_TEST(test_exact_sgd) {
  char f[4400];
  path(f, sizeof f, fx, "conll2003/eng.train.excerpt");
  exact_case(f, 2, false);
}
END_TEST

START_TEST(test_exact_adamw) {
  /* A file of exactly one batch: three steps on that batch. */
  char f[4400], src[4400];
  path(src, sizeof src, fx, "conll2003/eng.train.excerpt");
  snprintf(f, sizeof f, "%s/two.conll", root);
  FILE *in = fopen(src, "r"), *o = fopen(f, "w");
  char line[4096];
  int blank = 0;
  while (fgets(line, sizeof line, in) && blank < 3) {
    if (line[0] == '\n') blank++;
    fputs(line, o);
  }
  fclose(in);
  fclose(o);
  sentence_set set = {0};
  ck_assert_int_eq(read_ner(f, NULL, &set), PT_OK);
  int64_t n = set.n;
  sentence_set_free(&set);
  ck_assert_int_ge(n, 2);
  exact_case(f, n, true);
}
END_TEST

/* Later options override earlier ones, so extra may repeat one. */
static void train_args(const char *out, const char *train, const char *extra1, const char *extra2,
                       int *rc) {
  const char *args[] = {"train", "--task", "ner", "--model", model, "--train", train, "--out",
                        out, "--max-steps", "4", "--batch-size", "2", "--pre-seq-len", "4",
                        "--prefix-projection", "--prefix-hidden-size", "8", "--max-seq-len",
                        "64", "--save-every", "2", "--seed", "5", "--quiet", extra1, extra2,
                        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
  if (extra1 && !strcmp(extra1, "--kill-test")) {
    /* 12 steps, a checkpoint after each; one thread, since libgomp cannot
     * start a thread team in a child forked after the parent used one. */
    const char *more[] = {"--max-steps", "12", "--save-every", "1", "--threads", "1", extra2, NULL};
    for (int i = 0; i < 8; i++) args[25 + i] = more[i];
  }
  *rc = run(cli_run, NULL, args);
}

static int count_step_lines(const char *dir) {
  char p[4400], line[8192];
  path(p, sizeof p, dir, "metrics.jsonl");
  FILE *f = fopen(p, "r");
  ck_assert_ptr_nonnull(f);
  int n = 0;
  int64_t prev = 0;
  while (fgets(line, sizeof line, f)) {
    json_t *j = json_loads(line, 0, NULL);
    ck_assert_ptr_nonnull(j);
    if (json_object_get(j, "loss")) {
      int64_t s = json_integer_value(json_object_get(j, "step"));
      ck_assert_int_gt(s, prev); /* no step logged twice */
      prev = s;
      n++;
    }
    json_decref(j);
  }
  fclose(f);
  return n;
}

START_TEST(test_determinism_and_resume) {
  char train[4400], a[400], b[400], c[400], la[500], lb[500], lc[500];
  path(train, sizeof train, fx, "conll2003/eng.train.excerpt");
  snprintf(a, sizeof a, "%s/a", root);
  snprintf(b, sizeof b, "%s/b", root);
  snprintf(c, sizeof c, "%s/c", root);
  int rc;
  train_args(a, train, NULL, NULL, &rc);
  ck_assert_msg(rc == 0, "%s", pt_error_message());
  train_args(b, train, NULL, NULL, &rc);
  ck_assert_int_eq(rc, 0);
  snprintf(la, sizeof la, "%s/last", a);
  snprintf(lb, sizeof lb, "%s/last", b);
  same_adapter(la, lb);
  /* Stopped after step 3 (a checkpoint at 2; step 3 is lost), then resumed. */
  train_args(c, train, "--stop-after", "3", &rc);
  ck_assert_int_eq(rc, 0);
  ck_assert(!exists(c, "last"));
  ck_assert(exists(c, "checkpoint.json"));
  ck_assert(exists(c, "ckpt-2/optimizer.safetensors"));
  ck_assert(!exists(c, "curves.svg")); /* drawn at the end and on resume */
  train_args(c, train, "--resume", NULL, &rc);
  ck_assert_msg(rc == 0, "%s", pt_error_message());
  ck_assert(exists(c, "curves.svg"));
  snprintf(lc, sizeof lc, "%s/last", c);
  same_adapter(la, lc);
  ck_assert_int_eq(count_step_lines(c), count_step_lines(a));
  /* another seed gives another adapter */
  char d[400];
  snprintf(d, sizeof d, "%s/d", root);
  const char *args[] = {"train", "--task", "ner", "--model", model, "--train", train, "--out", d,
                        "--max-steps", "1", "--seed", "6", "--quiet", NULL};
  ck_assert_int_eq(run(cli_run, NULL, args), 0);
}
END_TEST

/* A run killed with SIGKILL (at whatever step it has reached) and resumed
 * ends with the uninterrupted run's adapter. */
START_TEST(test_sigkill_resume) {
  char train[4400], a[400], k[400], la[500], lk[500], ck[500];
  path(train, sizeof train, fx, "conll2003/eng.train.excerpt");
  snprintf(a, sizeof a, "%s/a", root);
  snprintf(k, sizeof k, "%s/k", root);
  int rc;
  train_args(a, train, "--kill-test", NULL, &rc);
  ck_assert_int_eq(rc, 0);
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    train_args(k, train, "--kill-test", NULL, &rc);
    _exit(rc);
  }
  snprintf(ck, sizeof ck, "%s/checkpoint.json", k);
  for (int i = 0; i < 3000 && access(ck, F_OK) != 0; i++) usleep(1000);
  /* then a random moment: mid-step, mid-checkpoint or between them */
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  usleep(rand_r(&seed) % 4000);
  kill(pid, SIGKILL);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(access(ck, F_OK) == 0, "no checkpoint before the kill (child status %d)", status);
  json_t *cj = read_json_line(ck);
  fprintf(stderr, "sigkill_resume: killed with the checkpoint at step %lld\n",
          (long long)json_integer_value(json_object_get(cj, "step")));
  json_decref(cj);
  train_args(k, train, "--kill-test", "--resume", &rc);
  ck_assert_msg(rc == 0, "%s", pt_error_message());
  snprintf(la, sizeof la, "%s/last", a);
  snprintf(lk, sizeof lk, "%s/last", k);
  same_adapter(la, lk);
}
END_TEST

/* --random-backbone trains on the HF-initialized backbone: config.json and
 * the vocabulary suffice, the weights are never read. */
START_TEST(test_random_backbone) {
  char dir[400], p[4400], q[4400], train[4400], out[400];
  snprintf(dir, sizeof dir, "%s/config_only", root);
  ck_assert_int_eq(pt_mkdirs(dir), PT_OK);
  const char *files[] = {"config.json", "vocab.txt"};
  for (int i = 0; i < 2; i++) {
    path(p, sizeof p, model, files[i]);
    path(q, sizeof q, dir, files[i]);
    ck_assert_int_eq(symlink(p, q), 0);
  }
  path(train, sizeof train, fx, "conll2003/eng.train.excerpt");
  snprintf(out, sizeof out, "%s/random", root);
  const char *no[] = {"train", "--task", "ner", "--model", dir, "--train", train, "--out", out,
                      "--max-steps", "2", "--quiet", NULL};
  ck_assert_int_ne(run(cli_run, "/dev/null", no), 0);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "config_only"));
  const char *yes[] = {"train", "--task", "ner", "--model", dir, "--train", train, "--out", out,
                       "--max-steps", "2", "--random-backbone", "--quiet", NULL};
  ck_assert_msg(run(cli_run, "/dev/null", yes) == 0, "%s", pt_error_message());
  ck_assert(exists(out, "last/adapter_model.safetensors"));
}
END_TEST

/* A copy of the tiny model whose embeddings overflow float for one word
 * ("zebra"): token type row 0 and zebra's row are 2e38 each (finite), so
 * their sum is Inf and every sentence with zebra has a NaN loss. */
static void make_huge_model(const char *dir) {
  char p[4400], q[4400];
  ck_assert_int_eq(pt_mkdirs(dir), PT_OK);
  const char *files[] = {"config.json", "vocab.txt"};
  for (int i = 0; i < 2; i++) {
    path(p, sizeof p, model, files[i]);
    path(q, sizeof q, dir, files[i]);
    ck_assert_int_eq(symlink(p, q), 0);
  }
  pt_tokenizer *tok = pt_tokenizer_load(model);
  ck_assert_ptr_nonnull(tok);
  int64_t zebra = pt_tokenizer_token_id(tok, "zebra");
  ck_assert_int_gt(zebra, pt_tokenizer_unk_id(tok));
  pt_tokenizer_free(tok);
  pt_safetensors *f;
  path(p, sizeof p, model, "model.safetensors");
  ck_assert_int_eq(pt_safetensors_open(p, &f), PT_OK);
  int n = pt_safetensors_count(f);
  const char *names[256];
  const pt_tensor *ts[256];
  ck_assert_int_le(n, 256);
  for (int i = 0; i < n; i++) {
    names[i] = pt_safetensors_name(f, i);
    pt_tensor *t = pt_safetensors_load(f, names[i], PT_F32);
    ck_assert_ptr_nonnull(t);
    float *w = pt_data(t);
    int64_t H = t->shape[t->ndim - 1];
    if (strstr(names[i], "word_embeddings"))
      for (int64_t j = 0; j < H; j++) w[zebra * H + j] = 2e38f;
    if (strstr(names[i], "token_type_embeddings"))
      for (int64_t j = 0; j < H; j++) w[j] = 2e38f;
    ts[i] = t;
  }
  path(p, sizeof p, dir, "model.safetensors");
  ck_assert_int_eq(pt_safetensors_write(p, n, names, ts, 0, NULL, NULL), PT_OK);
  for (int i = 0; i < n; i++) pt_tensor_free((pt_tensor *)ts[i]);
  pt_safetensors_close(f);
}

/* Does metrics.jsonl in `dir` hold a line containing `s`? */
static bool metrics_has(const char *dir, const char *s) {
  char p[4400], line[8192];
  path(p, sizeof p, dir, "metrics.jsonl");
  FILE *f = fopen(p, "r");
  ck_assert_ptr_nonnull(f);
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) found = strstr(line, s) != NULL;
  fclose(f);
  return found;
}

/* A NaN loss at step 2 (of 4, file order, 2 sentences a step, the second
 * pair has "zebra"): by default the run stops with one line naming the step
 * and the last checkpoint, which the bad step left alone; with
 * --on-nonfinite skip the run finishes with that update skipped, and a
 * resume of the stopped run with skip ends with the same adapter. */
START_TEST(test_nonfinite_loss) {
  char huge[400], data[400], stop[400], skip[400], q[4400];
  snprintf(huge, sizeof huge, "%s/huge", root);
  make_huge_model(huge);
  snprintf(data, sizeof data, "%s/zebra.conll", root);
  write_text(data, "the DT B-NP O\ncat NN I-NP B-PER\n\nthe DT B-NP O\ndog NN I-NP B-PER\n\n"
                   "a DT B-NP O\nzebra NN I-NP B-PER\n\nzebra NN B-NP B-PER\nruns VB B-VP O\n\n"
                   "the DT B-NP O\ncat NN I-NP B-PER\n\nthe DT B-NP O\nbird NN I-NP B-PER\n\n"
                   "a DT B-NP O\ndog NN I-NP B-PER\n\nthe DT B-NP O\nfox NN I-NP O\n\n");
  snprintf(stop, sizeof stop, "%s/stop", root);
  snprintf(skip, sizeof skip, "%s/skip", root);
  const char *args[] = {"train", "--task", "ner", "--model", huge, "--train", data, "--out", stop,
                        "--max-steps", "4", "--batch-size", "2", "--no-shuffle", "--pre-seq-len",
                        "4", "--max-seq-len", "16", "--save-every", "1", "--seed", "3", "--quiet",
                        NULL, NULL, NULL, NULL, NULL, NULL};
  ck_assert_int_ne(run(cli_run, "/dev/null", args), 0);
  const char *msg = pt_error_message();
  ck_assert_msg(strstr(msg, "train: step 2: the loss is NaN; the adapter was not updated") != NULL,
                "%s", msg);
  snprintf(q, sizeof q, "(last checkpoint: %s/ckpt-1)", stop);
  ck_assert_msg(strstr(msg, q) != NULL, "%s", msg);
  ck_assert(!exists(stop, "last"));
  ck_assert(exists(stop, "ckpt-1/adapter_model.safetensors"));
  ck_assert(!exists(stop, "ckpt-2"));
  pt_safetensors *f;
  path(q, sizeof q, stop, "ckpt-1/adapter_model.safetensors");
  ck_assert_int_eq(pt_safetensors_open(q, &f), PT_OK);
  ck_assert_msg(pt_safetensors_check_all_finite(f) == PT_OK, "%s", pt_error_message());
  pt_safetensors_close(f);
  /* --on-nonfinite skip: finishes; step 2 is logged as skipped */
  args[8] = skip;
  args[23] = "--on-nonfinite";
  args[24] = "skip";
  ck_assert_msg(run(cli_run, "/dev/null", args) == 0, "%s", pt_error_message());
  ck_assert(exists(skip, "last/adapter_model.safetensors"));
  ck_assert(metrics_has(skip, "{\"step\": 2, \"epoch\": 0, \"loss\": null"));
  ck_assert(metrics_has(skip, "\"skipped\": true"));
  ck_assert(metrics_has(skip, "\"skipped_steps\": 1}"));
  path(q, sizeof q, skip, "last/adapter_model.safetensors");
  ck_assert_int_eq(pt_safetensors_open(q, &f), PT_OK);
  ck_assert_msg(pt_safetensors_check_all_finite(f) == PT_OK, "%s", pt_error_message());
  pt_safetensors_close(f);
  /* the stopped run resumed from its checkpoint with skip: the same adapter */
  args[8] = stop;
  args[25] = "--resume";
  ck_assert_msg(run(cli_run, "/dev/null", args) == 0, "%s", pt_error_message());
  char ls[500], lk[500];
  snprintf(ls, sizeof ls, "%s/last", stop);
  snprintf(lk, sizeof lk, "%s/last", skip);
  same_adapter(ls, lk);
  /* the count of skipped steps survives a resume (kept in the checkpoint) */
  char skip2[400], l2[500];
  snprintf(skip2, sizeof skip2, "%s/skip2", root);
  args[8] = skip2;
  args[25] = "--stop-after";
  args[26] = "3";
  ck_assert_msg(run(cli_run, "/dev/null", args) == 0, "%s", pt_error_message());
  args[25] = "--resume";
  args[26] = NULL;
  ck_assert_msg(run(cli_run, "/dev/null", args) == 0, "%s", pt_error_message());
  ck_assert(metrics_has(skip2, "\"skipped_steps\": 1}"));
  snprintf(l2, sizeof l2, "%s/last", skip2);
  same_adapter(l2, lk);
  /* a bad value */
  args[24] = "maybe";
  ck_assert_int_ne(run(cli_run, "/dev/null", args), 0);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "--on-nonfinite"));
}
END_TEST

/* Does any file under `dir` (two levels) have ".tmp." in its name? */
static bool has_temp_file(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "find '%s' -maxdepth 2 -name '*.tmp.*' | grep -q .", dir);
  return system(cmd) == 0;
}

static long file_size(const char *dir, const char *file) {
  char p[4400];
  struct stat sb;
  path(p, sizeof p, dir, file);
  ck_assert_msg(stat(p, &sb) == 0, "%s", p);
  return (long)sb.st_size;
}

/* A full disk at checkpoint time, without root: a run resumed from its step-3
 * checkpoint in a child whose file size limit (RLIMIT_FSIZE, SIGXFSZ
 * ignored) lets the adapter through but not the optimizer state, so writing
 * the step-4 checkpoint fails with EFBIG. The run fails with one line naming
 * the file, leaves no temp file, the step-3 checkpoint stays the current
 * one, and resuming without the limit ends with the uninterrupted run's
 * adapter. */
START_TEST(test_full_disk_checkpoint) {
  char train[4400], a[400], k[400], la[500], lk[500], err[500], line[8192];
  path(train, sizeof train, fx, "conll2003/eng.train.excerpt");
  snprintf(a, sizeof a, "%s/a", root);
  snprintf(k, sizeof k, "%s/k", root);
  snprintf(la, sizeof la, "%s/last", a);
  snprintf(lk, sizeof lk, "%s/last", k);
  int rc;
  train_args(a, train, "--kill-test", NULL, &rc); /* 12 steps, a checkpoint after each */
  ck_assert_msg(rc == 0, "%s", pt_error_message());
  const char *args[] = {"train", "--task", "ner", "--model", model, "--train", train, "--out", k,
                        "--max-steps", "12", "--batch-size", "2", "--pre-seq-len", "4",
                        "--prefix-projection", "--prefix-hidden-size", "8", "--max-seq-len", "64",
                        "--save-every", "1", "--seed", "5", "--threads", "1", "--quiet",
                        "--stop-after", "3", NULL};
  ck_assert_msg(run(cli_run, NULL, args) == 0, "%s", pt_error_message());
  long adapter = file_size(la, "adapter_model.safetensors");
  long optim = file_size(k, "ckpt-3/optimizer.safetensors");
  ck_assert_int_gt(optim, adapter + 2048);
  long limit = adapter + 1024;
  ck_assert_int_lt(file_size(k, "metrics.jsonl"), limit);
  args[27] = "--resume"; /* in place of --stop-after 3 */
  args[28] = NULL;
  snprintf(err, sizeof err, "%s/child.err", root);
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) _exit(120);
    dup2(fd, 2);
    close(fd);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(121);
    _exit(run(cli_run, NULL, args));
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "child status %d", status);
  /* one error line (besides the tiny model's unused-pooler warning) */
  FILE *f = fopen(err, "r");
  ck_assert_ptr_nonnull(f);
  char buf[8192];
  int nerr = 0;
  while (fgets(buf, sizeof buf, f))
    if (strncmp(buf, "ptune: warning: ", 16)) {
      snprintf(line, sizeof line, "%s", buf);
      nerr++;
    }
  fclose(f);
  ck_assert_msg(nerr == 1, "%d error lines, the last: %s", nerr, line);
  ck_assert_msg(strstr(line, "ptune train: ") == line, "%s", line);
  char want[4400];
  snprintf(want, sizeof want, "%s/ckpt-4/optimizer.safetensors: ", k);
  ck_assert_msg(strstr(line, want) != NULL, "%s", line);
  ck_assert_msg(strstr(line, strerror(EFBIG)) != NULL, "%s", line);
  ck_assert_msg(!has_temp_file(k), "a temp file was left in %s", k);
  ck_assert(!exists(k, "last"));
  ck_assert(!exists(k, "ckpt-4")); /* the half-written checkpoint is dropped */
  ck_assert(exists(k, "ckpt-3/optimizer.safetensors"));
  json_t *cj = read_json_line(strcat(strcpy(want, k), "/checkpoint.json"));
  ck_assert_str_eq(json_string_value(json_object_get(cj, "dir")), "ckpt-3");
  json_decref(cj);
  /* the previous checkpoint loads: resuming without the limit finishes */
  ck_assert_msg(run(cli_run, NULL, args) == 0, "%s", pt_error_message());
  same_adapter(la, lk);
  ck_assert(!has_temp_file(k));
}
END_TEST

static int metrics_warnings, other_warnings;
static char metrics_warning[512];
static void sort_warning(const char *line, void *ctx) {
  (void)ctx;
  if (strstr(line, "metrics.jsonl")) {
    metrics_warnings++;
    snprintf(metrics_warning, sizeof metrics_warning, "%s", line);
  } else {
    other_warnings++;
  }
}

/* A metrics.jsonl that cannot be written (here /dev/full: every flush fails
 * with ENOSPC) costs one warning, not the run: the adapters are saved. */
START_TEST(test_metrics_write_failure) {
  char train[4400], out[400], log[500];
  path(train, sizeof train, fx, "conll2003/eng.train.excerpt");
  snprintf(out, sizeof out, "%s/fullmetrics", root);
  snprintf(log, sizeof log, "%s/metrics.jsonl", out);
  ck_assert_int_eq(mkdir(out, 0755), 0);
  ck_assert_int_eq(symlink("/dev/full", log), 0);
  metrics_warnings = other_warnings = 0;
  pt_warn_set_handler(sort_warning, NULL);
  int rc;
  train_args(out, train, NULL, NULL, &rc);
  pt_warn_reset_handler();
  ck_assert_msg(rc == 0, "%s", pt_error_message());
  ck_assert_int_eq(metrics_warnings, 1);
  ck_assert_msg(strstr(metrics_warning, log) && strstr(metrics_warning, strerror(ENOSPC)), "%s",
                metrics_warning);
  ck_assert(exists(out, "last/adapter_model.safetensors"));
  ck_assert(exists(out, "best/adapter_model.safetensors"));
}
END_TEST

/* The share of word lines whose predicted tag (last column) is the same in
 * two predictions files of the same data. */
static double tag_agreement(const char *a, const char *b, int *words) {
  FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
  ck_assert(fa && fb);
  char la[4096], lb[4096];
  int same = 0;
  *words = 0;
  while (fgets(la, sizeof la, fa)) {
    ck_assert_ptr_nonnull(fgets(lb, sizeof lb, fb));
    const char *ta = strrchr(la, ' '), *tb = strrchr(lb, ' ');
    if (!ta || !tb || !strncmp(la, "-DOCSTART-", 10)) continue;
    (*words)++;
    same += !strcmp(ta, tb);
  }
  fclose(fa);
  fclose(fb);
  return *words ? (double)same / *words : 0;
}

/* --backbone-dtype: an adapter trained over either backbone dtype evaluates
 * over the other, with the same metric within 0.02 F1 and the same tag on at
 * least 97% of the words (bf16 keeps 8 bits of mantissa, so a tag whose two
 * best logits are within ~1% may flip; the 30 steps fit the excerpt, F1 1.0
 * over either dtype here, so any flip would be a change). Full
 * fine-tuning over a bf16 backbone is refused in one line naming the option.
 * That the option reaches the weights is shown by tests/backbone_dtype.sh
 * (the note of a CPU without bf16 dot products). */
START_TEST(test_backbone_dtype) {
  char train[4400], out[2][400], adapter[2][900], cap[400], pred[2][400];
  path(train, sizeof train, fx, "conll2003/eng.train.excerpt");
  const char *dt[2] = {"f32", "bf16"};
  double f1[2][2];
  for (int t = 0; t < 2; t++) { /* trained over f32, over bf16 */
    snprintf(out[t], sizeof out[t], "%s/dtype_%s", root, dt[t]);
    snprintf(adapter[t], sizeof adapter[t], "%s/last", out[t]);
    const char *args[] = {"train", "--task", "ner", "--model", model, "--train", train,
                          "--out", out[t], "--max-steps", "30", "--batch-size", "4",
                          "--lr", "0.05", "--pre-seq-len", "4", "--max-seq-len", "64",
                          "--backbone-dtype", dt[t], "--quiet", NULL};
    ck_assert_msg(run(cli_run, "/dev/null", args) == 0, "train %s: %s", dt[t], pt_error_message());
    for (int e = 0; e < 2; e++) { /* evaluated over f32, over bf16 */
      snprintf(cap, sizeof cap, "%s/dtype_eval.json", root);
      const char *ea[] = {"eval", "--task", "ner", "--model", model, "--adapter", adapter[t],
                          "--data", train, "--max-seq-len", "64", "--backbone-dtype", dt[e], NULL};
      ck_assert_msg(run(cli_run, cap, ea) == 0, "eval %s: %s", dt[e], pt_error_message());
      json_t *j = read_json_line(cap);
      f1[t][e] = json_number_value(json_object_get(j, "f1"));
      json_decref(j);
      snprintf(pred[e], sizeof pred[e], "%s/dtype_%s.conll", root, dt[e]);
      const char *pa[] = {"predict", "--task", "ner", "--model", model, "--adapter", adapter[t],
                          "--data", train, "--output", pred[e], "--max-seq-len", "64",
                          "--backbone-dtype", dt[e], NULL};
      ck_assert_msg(run(cli_run, NULL, pa) == 0, "predict %s: %s", dt[e], pt_error_message());
    }
    int words;
    double agree = tag_agreement(pred[0], pred[1], &words);
    ck_assert_int_gt(words, 30); /* the excerpt's 43 */
    ck_assert_msg(agree >= 0.97, "trained over %s: f32 and bf16 agree on %.3f of the tags", dt[t],
                  agree);
    ck_assert_msg(fabs(f1[t][0] - f1[t][1]) <= 0.02, "trained over %s: f1 %g (f32) vs %g (bf16)",
                  dt[t], f1[t][0], f1[t][1]);
  }
  ck_assert_msg(f1[0][0] > 0, "the adapter learned nothing to compare (f1 %g)", f1[0][0]);
  /* full fine-tuning keeps no f32 master copy: refused */
  char fo[400];
  snprintf(fo, sizeof fo, "%s/dtype_ft", root);
  const char *ft[] = {"train", "--task", "ner", "--model", model, "--train", train, "--out", fo,
                      "--max-steps", "1", "--method", "finetune", "--backbone-dtype", "bf16",
                      "--quiet", NULL};
  ck_assert_int_ne(run(cli_run, "/dev/null", ft), 0);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "--backbone-dtype"));
  ck_assert_ptr_null(strchr(pt_error_message(), '\n'));
  ck_assert(!exists(fo, "last/adapter_model.safetensors"));
}
END_TEST

static int bf16_notes; /* pt_warn lines about bf16 weights on a CPU without bf16 products */

static void count_bf16_notes(const char *line, void *ctx) {
  (void)ctx;
  if (strstr(line, "bf16 weights")) bf16_notes++;
}

/* --backbone-dtype reaches the weights of train, eval and predict: where
 * the CPU (or ONEDNN_MAX_CPU_ISA=AVX2, meson's train_dtype_avx2) has no bf16
 * dot products, storing them in bf16 says so once per command, and never
 * with f32; where it has them, no command says it. */
START_TEST(test_backbone_dtype_note) {
  char train[4400], out[400], last[900];
  path(train, sizeof train, fx, "conll2003/eng.train.excerpt");
  snprintf(out, sizeof out, "%s/note", root);
  snprintf(last, sizeof last, "%s/last", out);
  pt_warn_set_handler(count_bf16_notes, NULL);
  int per_bf16_command = pt_gemm_bf16_native() ? 0 : 1;
  const char *ta[] = {"train", "--task", "ner", "--model", model, "--train", train, "--out", out,
                      "--max-steps", "1", "--pre-seq-len", "4", "--max-seq-len", "64",
                      "--backbone-dtype", "bf16", "--quiet", NULL};
  ck_assert_msg(run(cli_run, "/dev/null", ta) == 0, "%s", pt_error_message());
  ck_assert_int_eq(bf16_notes, per_bf16_command);
  const char *dt[] = {"f32", "bf16"};
  for (int e = 0; e < 2; e++) {
    const char *ea[] = {"eval", "--task", "ner", "--model", model, "--adapter", last, "--data",
                        train, "--max-seq-len", "64", "--backbone-dtype", dt[e], NULL};
    ck_assert_msg(run(cli_run, "/dev/null", ea) == 0, "%s", pt_error_message());
  }
  ck_assert_int_eq(bf16_notes, 2 * per_bf16_command);
  char pred[500];
  snprintf(pred, sizeof pred, "%s/note.conll", root);
  const char *pa[] = {"predict", "--task", "ner", "--model", model, "--adapter", last, "--data",
                      train, "--output", pred, "--max-seq-len", "64", "--backbone-dtype", "bf16",
                      NULL};
  ck_assert_msg(run(cli_run, NULL, pa) == 0, "%s", pt_error_message());
  ck_assert_int_eq(bf16_notes, 3 * per_bf16_command);
  pt_warn_reset_handler();
}
END_TEST

START_TEST(test_errors) {
  char train[4400], out[400], adapter[400], bad[400];
  path(train, sizeof train, fx, "conll2003/eng.train.excerpt");
  snprintf(out, sizeof out, "%s/err", root);
  run_args a;
  /* missing model directory */
  const char *m1[] = {"train", "--task", "ner", "--model", "/nonexistent/model", "--train", train,
                      "--out", out, NULL};
  ck_assert_int_eq(run_args_parse("train", 9, (char **)m1, &a), PT_OK);
  ck_assert_int_ne(train_run(&a), PT_OK);
  run_args_free(&a);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "/nonexistent/model"));
  ck_assert_ptr_null(strchr(pt_error_message(), '\n'));
  ck_assert_int_ne(run(cli_run, NULL, m1), 0);
  /* missing train file */
  const char *m2[] = {"train", "--task", "ner", "--model", model, "--train", "/nonexistent.conll",
                      "--out", out, NULL};
  ck_assert_int_eq(run_args_parse("train", 9, (char **)m2, &a), PT_OK);
  ck_assert_int_ne(train_run(&a), PT_OK);
  run_args_free(&a);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "/nonexistent.conll"));
  /* prefix + max-seq-len over max_position_embeddings (512) */
  const char *m3[] = {"train", "--task", "ner", "--model", model, "--train", train, "--out", out,
                      "--pre-seq-len", "16", "--max-seq-len", "500", NULL};
  ck_assert_int_eq(run_args_parse("train", 13, (char **)m3, &a), PT_OK);
  ck_assert_int_ne(train_run(&a), PT_OK);
  run_args_free(&a);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "max_position_embeddings"));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "config.json"));
  /* ... while the default length shrinks to fit (512 - 400 = 112 tokens) */
  const char *m3b[] = {"train", "--task", "ner", "--model", model, "--train", train, "--out", out,
                       "--pre-seq-len", "400", "--max-steps", "1", "--quiet", NULL};
  ck_assert_int_eq(run_args_parse("train", 14, (char **)m3b, &a), PT_OK);
  ck_assert_msg(train_run(&a) == PT_OK, "%s", pt_error_message());
  run_args_free(&a);
  /* a tag the adapter does not know */
  snprintf(adapter, sizeof adapter, "%s/small", root);
  const char *few[] = {"O", "B-PER", "I-PER"};
  make_ner_adapter(adapter, few, 3);
  const char *m4[] = {"train", "--task", "ner", "--model", model, "--train", train, "--out", out,
                      "--init-adapter", adapter, NULL};
  ck_assert_int_eq(run_args_parse("train", 11, (char **)m4, &a), PT_OK);
  ck_assert_int_ne(train_run(&a), PT_OK);
  run_args_free(&a);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "eng.train.excerpt"));
  const char *e4[] = {"eval", "--task", "ner", "--model", model, "--adapter", adapter, "--data",
                      train, NULL};
  ck_assert_int_ne(run(cli_run, NULL, e4), 0);
  /* wrong task for the adapter */
  const char *e5[] = {"eval", "--task", "cls", "--model", model, "--adapter", adapter, "--data",
                      train, "--preset", "rte", NULL};
  ck_assert_int_ne(run(cli_run, NULL, e5), 0);
  /* a malformed data file: file:line */
  snprintf(bad, sizeof bad, "%s/bad.jsonl", root);
  write_text(bad, "{\"premise\": \"x\", \"hypothesis\": \"y\", \"label\": \"entailment\", \"idx\": 0}\n"
                  "{not json\n");
  const char *m6[] = {"train", "--task", "cls", "--model", model, "--train", bad, "--out", out,
                      "--preset", "rte", NULL};
  ck_assert_int_eq(run_args_parse("train", 11, (char **)m6, &a), PT_OK);
  ck_assert_int_ne(train_run(&a), PT_OK);
  run_args_free(&a);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "bad.jsonl:2"));
  /* a label outside the preset's set (CB data read as RTE) */
  char cb[4400];
  path(cb, sizeof cb, fx, "superglue/CB.val.excerpt.jsonl");
  const char *m7[] = {"train", "--task", "cls", "--model", model, "--train", cb, "--out", out,
                      "--preset", "rte", NULL};
  ck_assert_int_eq(run_args_parse("train", 11, (char **)m7, &a), PT_OK);
  ck_assert_int_ne(train_run(&a), PT_OK);
  run_args_free(&a);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "CB.val.excerpt.jsonl:"));
  /* --hparams: THUDM's settings, overridden by explicit options */
  const char *hp[] = {"train", "--lr", "0.5", "--task", "ner", "--model", model, "--train", train,
                      "--out", out, "--hparams", "conll04", NULL};
  ck_assert_int_eq(run_args_parse("train", 13, (char **)hp, &a), PT_OK);
  ck_assert_int_eq(a.batch_size, 32);
  char *psl = pt_option_text(pt_option_find_flag(a.method->options, "pre-seq-len"), a.method_opts);
  ck_assert_str_eq(psl, "128");
  free(psl);
  ck_assert_int_eq(a.epochs, 40);
  ck_assert(a.lr == 0.5);
  ck_assert(a.dropout == 0.2 && a.dropout_hidden_only);
  ck_assert_int_eq(a.schedule, PT_SCHED_EXPONENTIAL);
  run_args_free(&a);
  hp[12] = "imdb";
  ck_assert_int_ne(run_args_parse("train", 13, (char **)hp, &a), PT_OK);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "imdb"));
  /* option errors */
  const char *o1[] = {"train", "--task", "pos", NULL};
  ck_assert_int_ne(run_args_parse("train", 3, (char **)o1, &a), PT_OK);
  const char *o2[] = {"eval", "--lr", "0.1", NULL};
  ck_assert_int_ne(run_args_parse("eval", 3, (char **)o2, &a), PT_OK);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "--lr"));
  const char *o3[] = {"train", "--task", "ner", "--model", model, "--train", train, "--out", out,
                      "--batch-size", "x", NULL};
  ck_assert_int_ne(run(cli_run, NULL, o3), 0);
  /* resume without a checkpoint */
  const char *o4[] = {"train", "--task", "ner", "--model", model, "--train", train, "--out",
                      "/nonexistent/out", "--resume", NULL};
  ck_assert_int_ne(run(cli_run, NULL, o4), 0);
  /* help exits 0 */
  const char *h[] = {"train", "--help", NULL};
  ck_assert_int_eq(run(cli_run, "/dev/null", h), 0);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("train");
  TCase *tc = tcase_create("train");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_ner_train_eval_predict);
  tcase_add_test(tc, test_cls_mc_srl_qa);
  tcase_add_test(tc, test_exact_sgd);
  tcase_add_test(tc, test_exact_adamw);
  tcase_add_test(tc, test_determinism_and_resume);
  tcase_add_test(tc, test_sigkill_resume);
  tcase_add_test(tc, test_random_backbone);
  tcase_add_test(tc, test_errors);
  tcase_add_test(tc, test_backbone_dtype);
  tcase_add_test(tc, test_nonfinite_loss);
  tcase_add_test(tc, test_full_disk_checkpoint);
  tcase_add_test(tc, test_metrics_write_failure);
  suite_add_tcase(s, tc);
  tc = tcase_create("dtype_note"); /* also run alone under ONEDNN_MAX_CPU_ISA=AVX2 (meson) */
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_backbone_dtype_note);
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
