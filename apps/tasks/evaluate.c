/* Evaluation: the model over a data set in eval mode (no dropout, no
 * graph), per-task predictions (tags per word, a class, a choice, an answer)
 * and, for labelled data, the task's metric as one JSON object:
 *   ner  seqeval entity precision/recall/F1 (micro) + per type; primary f1
 *   srl  argument span F1 (V excluded); primary f1
 *   cls  accuracy, macro-F1, Matthews correlation; primary accuracy (CoLA: mcc)
 *   mc   accuracy; primary accuracy
 *   qa   the official SQuAD evaluator's keys; primary f1 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "apps/metrics/metrics.h"
#include "apps/cli/options.h"
#include "apps/tasks/task.h"
#include "autograd/pt_autograd.h"

void eval_result_free(eval_result *r) {
  free(r->json);
  if (r->tags)
    for (int64_t i = 0; i < r->n; i++) free(r->tags[i]);
  free(r->tags);
  free(r->pred);
  if (r->answers)
    for (int64_t i = 0; i < r->n; i++) free(r->answers[i]);
  free(r->answers);
  free(r->null_diff);
  memset(r, 0, sizeof *r);
}

static int64_t argmax_row(const pt_tensor *t, int64_t off, int64_t n) {
  int64_t best = 0;
  double bv = pt_get(t, off);
  for (int64_t c = 1; c < n; c++) {
    double v = pt_get(t, off + c);
    if (v > bv) bv = v, best = c;
  }
  return best;
}

static const sentence *sentence_of(const task_data *td, int64_t i) {
  return td->task == TASK_NER ? &td->ner.sents[i] : &td->srl.ex[i].s;
}

static json_t *span_json(const span_scores *s) {
  json_t *j = json_pack("{s:s, s:f, s:f, s:f, s:f, s:I}", "task", "", "precision",
                        s->micro.precision, "recall", s->micro.recall, "f1", s->micro.f1,
                        "accuracy", s->token_accuracy, "support", (json_int_t)s->micro.n_true);
  json_t *types = json_object();
  for (int64_t t = 0; t < s->n_types; t++)
    json_object_set_new(types, s->types[t].type,
                        json_pack("{s:f, s:f, s:f, s:I}", "precision", s->types[t].precision,
                                  "recall", s->types[t].recall, "f1", s->types[t].f1, "support",
                                  (json_int_t)s->types[t].n_true));
  json_object_set_new(j, "per_type", types);
  return j;
}

/* Scores the predictions already in r. */
static pt_status score(const task_data *td, const label_map *map, const run_args *a,
                       float **starts, float **ends, eval_result *r) {
  json_t *j = NULL;
  pt_status st = PT_OK;
  switch (td->task) {
    case TASK_NER:
    case TASK_SRL: {
      char ***gold = malloc(sizeof(char **) * (size_t)r->n);
      int64_t *lens = malloc(sizeof(int64_t) * (size_t)r->n);
      if (!gold || !lens) st = pt_error(PT_ERR_NOMEM, "eval: out of memory");
      for (int64_t i = 0; st == PT_OK && i < r->n; i++) {
        gold[i] = sentence_of(td, i)->tags;
        lens[i] = sentence_of(td, i)->n;
      }
      span_scores s = {0};
      if (st == PT_OK && td->labelled)
        st = td->task == TASK_NER ? seqeval(gold, r->tags, lens, r->n, &s)
                                    : srl_span_f1(gold, r->tags, lens, r->n, &s);
      if (st == PT_OK && td->labelled) {
        j = span_json(&s);
        r->primary = s.micro.f1;
        r->primary_name = "f1";
      }
      span_scores_free(&s);
      free(gold);
      free(lens);
      break;
    }
    case TASK_CLS:
    case TASK_MC: {
      if (!td->labelled) break;
      int64_t *gold = malloc(sizeof(int64_t) * (size_t)r->n), nc = 2;
      if (!gold) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
      for (int64_t i = 0; i < r->n; i++) {
        gold[i] = td->task == TASK_CLS ? td->cls.ex[i].label_id : td->mc.ex[i].label;
        if (td->task == TASK_MC && td->mc.ex[i].n_choices > nc) nc = td->mc.ex[i].n_choices;
      }
      if (td->task == TASK_CLS) nc = map->n;
      cls_scores s;
      st = cls_metrics(gold, r->pred, r->n, nc, &s);
      free(gold);
      if (st != PT_OK) break;
      j = json_pack("{s:s, s:f, s:f, s:f, s:I, s:I}", "task", "", "accuracy", s.accuracy,
                    "macro_f1", s.macro_f1, "mcc", s.mcc, "correct", (json_int_t)s.correct,
                    "total", (json_int_t)s.n);
      bool cola = a->preset && !strcmp(a->preset, "cola");
      r->primary = cola ? s.mcc : s.accuracy;
      r->primary_name = cola ? "mcc" : "accuracy";
      break;
    }
    case TASK_QA: {
      const squad_set *set = &td->squad;
      qa_post_opts po = qa_post_opts_default(set->v2);
      po.n_best = a->n_best;
      po.max_answer_len = a->max_answer_len;
      po.null_threshold = a->null_threshold;
      qa_window *wins = malloc(sizeof(qa_window) * (size_t)(td->qa.n + 1));
      if (!wins) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
      int64_t w = 0;
      for (int64_t q = 0; st == PT_OK && q < set->n; q++) {
        int64_t nw = 0;
        while (w < td->qa.n && td->qa.f[w].question == q) {
          wins[nw] = qa_feature_window(&td->qa.f[w], starts[w], ends[w]);
          nw++, w++;
        }
        const squad_paragraph *para = &set->paras[set->qs[q].para];
        qa_answer ans = {0};
        st = qa_best_answer(para->context, para->len, wins, nw, &po, &ans);
        if (st == PT_OK) {
          r->answers[q] = ans.text;
          ans.text = NULL;
          r->null_diff[q] = ans.score_diff;
        }
        qa_answer_free(&ans);
      }
      free(wins);
      if (st != PT_OK || !td->labelled) break;
      squad_scores s;
      st = squad_evaluate(set, (const char *const *)r->answers, NULL, 1.0, &s);
      if (st != PT_OK) break;
      char *txt = squad_scores_json(&s, set->v2);
      j = txt ? json_loads(txt, 0, NULL) : NULL;
      free(txt);
      if (!j) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
      json_object_set_new(j, "task", json_string(""));
      r->primary = s.f1;
      r->primary_name = "f1";
      break;
    }
  }
  if (st != PT_OK) {
    json_decref(j);
    return st;
  }
  if (!j) j = json_object();
  json_object_set_new(j, "task", json_string(app_task_name(td->task)));
  json_object_set_new(j, "examples", json_integer(r->n));
  r->json = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
  json_decref(j);
  return r->json ? PT_OK : pt_error(PT_ERR_NOMEM, "eval: out of memory");
}

/* Reads one batch's outputs into the predictions. */
static void collect(const task_data *td, const label_map *map, const task_feature *const *fb,
                    int64_t nb, const pt_ptv2_outputs *o, float **starts, float **ends,
                    eval_result *r) {
  const pt_tensor *lg = o->logits;
  for (int64_t i = 0; i < nb; i++) {
    const task_feature *f = fb[i];
    switch (td->task) {
      case TASK_NER:
      case TASK_SRL: {
        int64_t S = lg->shape[1], C = lg->shape[2];
        for (int64_t t = 0; t < f->len[0]; t++)
          if (f->word_of[t] >= 0)
            r->tags[f->example][f->word_of[t]] = map->names[argmax_row(lg, (i * S + t) * C, C)];
        break;
      }
      case TASK_CLS:
      case TASK_MC: r->pred[f->example] = argmax_row(lg, i * lg->shape[1], lg->shape[1]); break;
      case TASK_QA: {
        int64_t S = o->start_logits->shape[1], w = f->example;
        starts[w] = malloc(sizeof(float) * (size_t)f->len[0]);
        ends[w] = malloc(sizeof(float) * (size_t)f->len[0]);
        for (int64_t t = 0; starts[w] && ends[w] && t < f->len[0]; t++) {
          starts[w][t] = (float)pt_get(o->start_logits, i * S + t);
          ends[w][t] = (float)pt_get(o->end_logits, i * S + t);
        }
        break;
      }
    }
  }
}

static pt_status alloc_result(const task_data *td, const label_map *map, eval_result *r) {
  r->n = td->n_examples;
  size_t n = (size_t)r->n;
  if (td->task == TASK_NER || td->task == TASK_SRL) {
    int64_t o = label_map_find(map, "O");
    static char O[] = "O";
    char *deflt = o >= 0 ? map->names[o] : O;
    r->tags = calloc(n, sizeof(char **));
    if (!r->tags) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
    for (int64_t i = 0; i < r->n; i++) {
      const sentence *s = sentence_of(td, i);
      r->tags[i] = malloc(sizeof(char *) * (size_t)(s->n > 0 ? s->n : 1));
      if (!r->tags[i]) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
      for (int64_t w = 0; w < s->n; w++) r->tags[i][w] = deflt;
    }
  } else if (td->task == TASK_QA) {
    r->answers = calloc(n, sizeof(char *));
    r->null_diff = calloc(n, sizeof(double));
    if (!r->answers || !r->null_diff) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  } else {
    r->pred = calloc(n, sizeof(int64_t));
    if (!r->pred) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  }
  return PT_OK;
}

pt_status task_evaluate(const pt_ptv2_model *m, const task_data *td, const label_map *map,
                      const run_args *a, int64_t pad_id, eval_result *out) {
  memset(out, 0, sizeof *out);
  pt_status st = alloc_result(td, map, out);
  bool qa = td->task == TASK_QA;
  float **starts = qa ? calloc((size_t)td->n + 1, sizeof(float *)) : NULL;
  float **ends = qa ? calloc((size_t)td->n + 1, sizeof(float *)) : NULL;
  const task_feature **fb = malloc(sizeof(task_feature *) * (size_t)a->batch_size);
  if (st == PT_OK && (!fb || (qa && (!starts || !ends))))
    st = pt_error(PT_ERR_NOMEM, "eval: out of memory");
  pt_no_grad_enter();
  pt_nn_mode mode = {false, NULL};
  for (int64_t i = 0; st == PT_OK && i < td->n; i += a->batch_size) {
    int64_t nb = td->n - i < a->batch_size ? td->n - i : a->batch_size;
    for (int64_t k = 0; k < nb; k++) fb[k] = &td->f[i + k];
    task_batch b;
    st = task_batch_make(fb, nb, td->task, pad_id, false, &b);
    if (st != PT_OK) break;
    pt_ptv2_outputs o;
    st = pt_ptv2_forward(m, &b.b, mode, false, &o);
    if (st == PT_OK) collect(td, map, fb, nb, &o, starts, ends, out);
    for (int64_t k = 0; st == PT_OK && qa && k < nb; k++)
      if (!starts[fb[k]->example] || !ends[fb[k]->example])
        st = pt_error(PT_ERR_NOMEM, "eval: out of memory");
    pt_ptv2_outputs_free(&o);
    task_batch_free(&b);
  }
  pt_no_grad_exit();
  if (st == PT_OK) st = score(td, map, a, starts, ends, out);
  for (int64_t w = 0; qa && w < td->n; w++) {
    if (starts) free(starts[w]);
    if (ends) free(ends[w]);
  }
  free(starts);
  free(ends);
  free(fb);
  if (st != PT_OK) eval_result_free(out);
  return st;
}
