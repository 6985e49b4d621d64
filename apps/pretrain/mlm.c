/* The job of `ptune pretrain`: masked-language-model pretraining of a BERT
 * from plain text (BertForMaskedLM head on the masked rows only) with AdamW,
 * linear warmup + decay and clipping, run by the loop of apps/train/loop.c
 * (checkpoints, --resume, metrics.jsonl), a held-out split with fixed
 * masking, a loss plot (loss.svg) and summary.json. The output directory is
 * a Hugging Face bert model directory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "apps/cli/metrics_log.h"
#include "apps/cli/plot.h"
#include "apps/cli/progress.h"
#include "apps/pretrain/pretrain.h"
#include "apps/train/loop.h"
#include "apps/train/ranks.h"
#include "autograd/pt_autograd.h"
#include "models/pt_mlm.h"
#include "nn/pt_params_io.h"
#include "nn/pt_safetensors.h"
#include "optim/pt_optim.h"
#include "tensor/pt_file.h"

/* What the options of `ptune pretrain` cannot check one by one. */
static pt_status check_options(run_args *a) {
  if ((a->max_steps > 0) == (a->minutes > 0))
    return pt_error(PT_ERR_ARG, "give exactly one of --steps and --minutes");
  if (a->max_position == 0) a->max_position = a->task_options.max_seq_len;
  if (a->max_position < a->task_options.max_seq_len)
    return pt_error(PT_ERR_ARG, "--max-position must be at least --max-seq-len");
  if (a->attention_init == 0 && a->position_init != 0)
    return pt_error(PT_ERR_ARG, "--attention-init offset (the default) needs --position-init "
                    "sinusoid; add --attention-init normal");
  return PT_OK;
}

/* --vocab: a vocab.txt (its directory is given to the tokenizer loader) or
 * a directory holding one. */
static pt_status vocab_paths(const char *vocab, char *dir, char *file, size_t cap) {
  struct stat sb;
  if (stat(vocab, &sb) != 0) return pt_error(PT_ERR_IO, "%s: no such file or directory", vocab);
  if (S_ISDIR(sb.st_mode)) {
    snprintf(dir, cap, "%s", vocab);
    snprintf(file, cap, "%s/vocab.txt", vocab);
    return PT_OK;
  }
  const char *slash = strrchr(vocab, '/');
  const char *base = slash ? slash + 1 : vocab;
  if (strcmp(base, "vocab.txt"))
    return pt_error(PT_ERR_ARG, "%s: the WordPiece vocabulary file must be named vocab.txt", vocab);
  if (slash)
    snprintf(dir, cap, "%.*s", (int)(slash - vocab), vocab);
  else
    snprintf(dir, cap, ".");
  snprintf(file, cap, "%s", vocab);
  return PT_OK;
}

/* Fills ids/labels [B, S] for micro-batch m of the run (m = step ·
 * grad_accum + k): sequences m·B .. m·B + B - 1 of the training stream,
 * each masked from its own position. */
static void make_batch(const mlm_corpus *c, const masker *mk, uint64_t seed, int64_t m,
                       int64_t B, int64_t *ids, int64_t *labels, int64_t **perm,
                       int64_t *perm_epoch) {
  int64_t S = c->max_len;
  for (int64_t b = 0; b < B; b++) {
    int64_t p = m * B + b;
    int64_t s = mlm_train_seq(c, seed, p, perm, perm_epoch);
    masker_apply(mk, c->ids + s * S, S, seed, (uint64_t)p, ids + b * S, labels + b * S);
  }
}

/* One forward + backward (through the loop's gradient sum when j is given);
 * the loss and counts in *loss / *acc. */
static pt_status train_step(train_job *j, const pt_mlm_model *m, const int64_t *ids,
                            const int64_t *labels, int64_t B, int64_t S, pt_rng *rng, double *loss,
                            double *acc) {
  pt_tensor *ti = pt_from_buffer(PT_I64, 2, PT_SHAPE(B, S), ids);
  pt_tensor *tl = pt_from_buffer(PT_I64, 2, PT_SHAPE(B, S), labels);
  pt_mlm_outputs o = {0};
  pt_status st = ti && tl ? PT_OK : pt_error_code();
  if (st == PT_OK)
    st = pt_mlm_forward(m, ti, NULL, tl, (pt_nn_mode){.training = true, .rng = rng}, false, &o);
  if (st == PT_OK) st = j ? loop_backward(j, o.loss) : pt_backward(o.loss, NULL, false);
  if (st == PT_OK) {
    *loss = pt_get(o.loss, 0);
    *acc = (double)o.n_correct / (double)o.n_masked;
  }
  pt_mlm_outputs_free(&o);
  pt_tensor_free(ti);
  pt_tensor_free(tl);
  return st;
}


/* ---- the job ---------------------------------------------------------------- */

typedef struct {
  run_args a; /* a copy: --max-position may follow --max-seq-len */
  char vdir[4096], vfile[4096], config[256];
  int64_t B, S;
  double t_start;
  pt_tokenizer *tok;
  mlm_corpus corpus;
  masker mk;
  heldout_set held;
  heldout_score hs; /* the last held-out scores (NaN before an evaluation) */
  pt_mlm_model model;
  bool model_ok;
  pt_optim *opt;
  int64_t *ids, *labels, *perm, perm_epoch;
} pretraining;

/* The corpus, the masker and the held-out set. */
static pt_status setup_data(pretraining *p) {
  const run_args *a = &p->a;
  PT_TRY(mlm_corpus_read(a->corpus.v, a->corpus.n, p->tok, p->S, a->heldout_frac, a->seed,
                         &p->corpus));
  PT_TRY(masker_init(&p->mk, p->tok, a->mask_prob, a->whole_word_mask));
  PT_TRY(heldout_make(&p->corpus, &p->mk, a->eval_seed, &p->held));
  const mlm_corpus *c = &p->corpus;
  if (!a->quiet)
    fprintf(stderr,
            "corpus: %lld files (%lld read as Latin-1), %lld wordpieces (%lld [UNK]) -> %lld "
            "sequences of %lld: %lld train, %lld held-out (%lld masked tokens); %.1f s\n",
            (long long)c->n_files, (long long)c->n_latin1, (long long)c->n_pieces,
            (long long)c->n_unk, (long long)c->n_seq, (long long)p->S, (long long)c->n_train,
            (long long)c->n_heldout, (long long)p->held.n_masked, seconds_now() - p->t_start);
  return PT_OK;
}

/* The model from the options, its starting points, AdamW over everything. */
static pt_status setup_model(pretraining *p) {
  const run_args *a = &p->a;
  pt_bert_config cfg;
  pt_bert_config_default(&cfg, PT_ARCH_BERT);
  cfg.vocab_size = pt_tokenizer_vocab_size(p->tok);
  cfg.hidden_size = a->hidden;
  cfg.num_layers = a->layers;
  cfg.num_heads = a->heads;
  cfg.intermediate_size = a->intermediate;
  cfg.max_position = a->max_position;
  cfg.pad_token_id = pt_tokenizer_pad_id(p->tok) >= 0 ? pt_tokenizer_pad_id(p->tok) : 0;
  cfg.hidden_dropout = cfg.attention_dropout = a->dropout;
  PT_TRY(pt_bert_config_validate(&cfg, "pretrain"));
  PT_TRY(pt_mlm_init(&p->model, &cfg, a->seed));
  p->model_ok = true;
  if (a->bias_init == 0) pretrain_bias_unigram(&p->corpus, p->model.decoder_bias);
  if (a->position_init == 0)
    pretrain_position_sinusoid(
        pt_params_find(&p->model.params, "bert.embeddings.position_embeddings.weight"), cfg.init_std);
  if (a->attention_init == 0)
    PT_TRY(pretrain_attention_offset(&p->model.params, cfg.num_layers, cfg.num_heads, cfg.hidden_size));
  pt_adamw_opts ao = {
      .lr = a->lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-6, .weight_decay = a->weight_decay};
  p->opt = pt_adamw_new(&ao);
  if (!p->opt) return pt_error_code();
  PT_TRY(pt_optim_add_params(p->opt, p->model.params.count, p->model.params.items, pt_decay_hf, NULL));
  p->ids = malloc((size_t)(p->B * p->S) * sizeof *p->ids);
  p->labels = malloc((size_t)(p->B * p->S) * sizeof *p->labels);
  if (!p->ids || !p->labels) return pt_error(PT_ERR_NOMEM, "pretrain: out of memory");
  snprintf(p->config, sizeof p->config,
           "L%lld H%lld NH%lld I%lld S%lld P%lld B%lld V%lld seed%llu", (long long)a->layers,
           (long long)a->hidden, (long long)a->heads, (long long)a->intermediate, (long long)p->S,
           (long long)a->max_position, (long long)p->B, (long long)cfg.vocab_size,
           (unsigned long long)a->seed);
  if (a->grad_accum != 1) /* the data each step reads */
    snprintf(p->config + strlen(p->config), sizeof p->config - strlen(p->config), " A%lld",
             (long long)a->grad_accum);
  return PT_OK;
}

static void teardown(pretraining *p) {
  free(p->ids);
  free(p->labels);
  free(p->perm);
  pt_optim_free(p->opt);
  if (p->model_ok) pt_mlm_free(&p->model);
  heldout_free(&p->held);
  masker_free(&p->mk);
  mlm_corpus_free(&p->corpus);
  pt_tokenizer_free(p->tok);
}

/* --minutes: times a few forward + backward passes (no update, a dropout
 * stream of their own) and returns the steps that fit the budget. */
static pt_status steps_in_budget(pretraining *p, int64_t *total) {
  const run_args *a = &p->a;
  pt_rng trng;
  pt_rng_init(&trng, a->seed + 7);
  double t0 = 0, loss, acc;
  for (int k = 0; k < 4; k++) {
    if (k == 1) t0 = seconds_now();
    make_batch(&p->corpus, &p->mk, a->seed + 1, k, p->B, p->ids, p->labels, &p->perm,
               &p->perm_epoch);
    PT_TRY(train_step(NULL, &p->model, p->ids, p->labels, p->B, p->S, &trng, &loss, &acc));
    pt_optim_zero_grad(p->opt);
  }
  free(p->perm);
  p->perm = NULL;
  p->perm_epoch = -1;
  double per_step = (seconds_now() - t0) / 3 * 1.03 * (double)a->grad_accum; /* + the update */
  int64_t eval_batches = (p->held.n + p->B - 1) / p->B;
  double eval_every = a->eval_every > 0 ? (double)a->eval_every : 0;
  /* with the default (total/10), about 11 evaluations of ~1/3 a step each */
  double eval_cost = (double)eval_batches * per_step / 3;
  double budget = a->minutes * 60 - (seconds_now() - p->t_start);
  *total = eval_every > 0 ? (int64_t)(budget / (per_step + eval_cost / eval_every))
                          : (int64_t)((budget - 11 * eval_cost) / per_step);
  if (*total < 1) *total = 1;
  if (!a->quiet)
    fprintf(stderr, "timing: %.3f s/step (%.0f tokens/s) -> %lld steps in %.1f minutes\n",
            per_step, (double)(p->B * p->S * a->grad_accum) / per_step, (long long)*total,
            a->minutes);
  return PT_OK;
}

/* ---- the loop's hooks -------------------------------------------------------- */

static pt_status save_weights(void *ctx, const char *dir) {
  pretraining *p = ctx;
  char path[4200];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  return pt_params_save_safetensors(&p->model.params, path, false, 0, NULL, NULL);
}

static pt_status load_weights(void *ctx, const char *dir) {
  pretraining *p = ctx;
  char path[4200];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  pt_load_report rep = {0};
  PT_TRY(pt_params_load_safetensors(&p->model.params, path, NULL, NULL, NULL, &rep));
  if (rep.loaded != p->model.params.count)
    return pt_error(PT_ERR_FORMAT, "%s: %d of the model's %d tensors", path, rep.loaded,
                    p->model.params.count);
  return PT_OK;
}

static pt_status micro_batch(train_job *j, train_state *s, int k, pt_rng *rng, micro_result *r,
                             bool *done) {
  pretraining *p = j->ctx;
  *done = false;
  int64_t m = s->step * j->grad_accum + k;
  make_batch(&p->corpus, &p->mk, p->a.seed, m, p->B, p->ids, p->labels, &p->perm, &p->perm_epoch);
  r->tokens = p->B * p->S;
  return train_step(j, &p->model, p->ids, p->labels, p->B, p->S, rng, &r->loss, &r->metric);
}

/* The held-out MLM loss and accuracies, as keys of the line. */
static pt_status evaluate(train_job *j, const train_state *s, json_t *line, progress *pg,
                          json_t **metrics, double *primary, bool *has_primary) {
  (void)primary;
  pretraining *p = j->ctx;
  *metrics = NULL;
  *has_primary = false;
  PT_TRY(heldout_evaluate(&p->model, &p->held, p->B, &p->hs));
  json_object_set_new(line, "heldout_loss", json_real(p->hs.loss));
  json_object_set_new(line, "heldout_acc", json_real(p->hs.acc));
  json_object_set_new(line, "heldout_acc_mask",
                      isfinite(p->hs.acc_mask) ? json_real(p->hs.acc_mask) : json_null());
  progress_line(pg, "step %lld: held-out MLM loss %.4f, accuracy %.4f ([MASK] positions %.4f)",
                (long long)s->step, p->hs.loss, p->hs.acc, p->hs.acc_mask);
  return PT_OK;
}

/* OUT/loss.svg: the train and held-out loss. */
static pt_status draw_curves(train_job *j) {
  static const char *const keys[] = {"loss", "heldout_loss", NULL};
  static const char *const labels[] = {"train (logged mean)", "held-out", NULL};
  const curve_panel panel = {"MLM loss", "loss (nats)", keys, labels, NULL};
  char metrics[4200], svg[4200];
  snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", j->out);
  snprintf(svg, sizeof svg, "%s/loss.svg", j->out);
  return curves_svg(metrics, svg, &panel, 1);
}

/* summary.json: the held-out scores beside the unigram baseline, the run's
 * size and settings. */
static json_t *summary(const pretraining *p, const train_state *s) {
  const run_args *a = &p->a;
  const mlm_corpus *c = &p->corpus;
  const heldout_set *h = &p->held;
  int64_t tokens = s->step * p->B * p->S * a->grad_accum;
  const char *ut = pt_tokenizer_id_to_token(p->tok, h->unigram_id);
  json_t *o = json_object();
  json_object_set_new(o, "steps", json_integer(s->step));
  json_object_set_new(o, "tokens", json_integer(tokens));
  json_object_set_new(o, "train_seconds", json_rounded(s->train_seconds, 1));
  json_object_set_new(o, "tokens_per_s",
                      json_rounded(s->train_seconds > 0 ? (double)tokens / s->train_seconds : 0, 1));
  json_object_set_new(o, "heldout_loss", json_rounded(p->hs.loss, 6));
  json_object_set_new(o, "heldout_acc", json_rounded(p->hs.acc, 6));
  json_object_set_new(o, "heldout_acc_mask", json_rounded(p->hs.acc_mask, 6));
  json_object_set_new(o, "heldout_masked", json_integer(h->n_masked));
  json_object_set_new(o, "heldout_mask_tokens", json_integer(h->n_mask_token));
  json_object_set_new(o, "unigram_loss", json_rounded(h->unigram_loss, 6));
  json_object_set_new(o, "unigram_acc", json_rounded(h->unigram_acc, 6));
  json_object_set_new(o, "unigram_acc_mask", json_rounded(h->unigram_acc_mask, 6));
  json_object_set_new(o, "unigram_token", json_string(ut ? ut : "?"));
  json_object_set_new(o, "params", json_integer(pt_params_numel(&p->model.params, false)));
  json_object_set_new(o, "sequences", json_integer(c->n_seq));
  json_object_set_new(o, "train_sequences", json_integer(c->n_train));
  json_object_set_new(o, "heldout_sequences", json_integer(c->n_heldout));
  json_object_set_new(o, "wordpieces", json_integer(c->n_pieces));
  json_object_set_new(o, "epochs", json_rounded((double)(tokens / p->S) / (double)c->n_train, 3));
  json_object_set_new(o, "layers", json_integer(a->layers));
  json_object_set_new(o, "hidden", json_integer(a->hidden));
  json_object_set_new(o, "max_seq_len", json_integer(p->S));
  json_object_set_new(o, "batch_size", json_integer(p->B));
  json_object_set_new(o, "lr", json_real(a->lr));
  json_object_set_new(o, "warmup_frac", json_real(a->warmup_frac));
  json_object_set_new(o, "dropout", json_real(a->dropout));
  json_object_set_new(o, "whole_word_mask", json_boolean(a->whole_word_mask));
  json_object_set_new(o, "bias_init", json_string(a->bias_init ? "zero" : "unigram"));
  json_object_set_new(o, "position_init", json_string(a->position_init == 0 ? "sinusoid" : "normal"));
  json_object_set_new(o, "attention_init", json_string(a->attention_init == 0 ? "offset" : "normal"));
  return o;
}

/* The model directory and summary.json (also on stdout). */
static pt_status finish(train_job *j, const loop_report *rep) {
  pretraining *p = j->ctx;
  const run_args *a = &p->a;
  PT_TRY(pt_mlm_save_pretrained(&p->model, a->out, p->vfile, a->seed, a->save_dtype));
  json_t *o = summary(p, rep->state);
  char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
  json_decref(o);
  if (!txt) return pt_error(PT_ERR_NOMEM, "pretrain: out of memory");
  size_t n = strlen(txt);
  txt[n] = '\n'; /* json_dumps leaves room for its NUL: the newline takes it */
  char path[4200];
  snprintf(path, sizeof path, "%s/summary.json", a->out);
  pt_status st = pt_write_file_atomic(path, txt, n + 1);
  const heldout_set *h = &p->held;
  if (st == PT_OK && !a->quiet)
    fprintf(stderr,
            "held-out MLM loss %.4f, accuracy %.4f, on [MASK] positions %.4f (unigram baseline: "
            "%.4f, %.4f, %.4f); %.0f tokens/s\n",
            p->hs.loss, p->hs.acc, p->hs.acc_mask, h->unigram_loss, h->unigram_acc,
            h->unigram_acc_mask,
            rep->state->train_seconds > 0
                ? (double)(rep->state->step * p->B * p->S * a->grad_accum) / rep->state->train_seconds
                : 0);
  if (st == PT_OK) fwrite(txt, 1, n + 1, stdout);
  free(txt);
  return st;
}

/* ---- the run ------------------------------------------------------------------- */

static train_job job_of(pretraining *p) {
  const run_args *a = &p->a;
  return (train_job){
      .name = "pretrain",
      .weights = "model",
      .out = a->out,
      .opt = p->opt,
      .grad_accum = a->grad_accum,
      .log_every = a->log_every,
      .save_every = a->save_every,
      .stop_after = a->stop_after,
      .max_grad_norm = a->max_grad_norm,
      .on_nonfinite = a->on_nonfinite,
      .quiet = a->quiet,
      .resume = a->resume,
      .eval_first = true,
      .checkpoint_at_end = true,
      .step_metric = "mlm_acc",
      .config = p->config,
      .weights_io = {save_weights, load_weights, p},
      .ctx = p,
      .micro_batch = micro_batch,
      .evaluate = p->held.n > 0 ? evaluate : NULL,
      .draw_curves = draw_curves,
      .finish = finish,
  };
}

/* Resumes or sizes the run, then the loop. */
static pt_status run(pretraining *p) {
  const run_args *a = &p->a;
  train_job j = job_of(p);
  train_state s = {.total = a->max_steps};
  pt_rng_init(&s.rng, a->seed ^ 0x64726f706f7574ULL);
  char legacy[4200];
  snprintf(legacy, sizeof legacy, "%s/checkpoint.safetensors", a->out);
  if (a->resume && !checkpoint_exists(a->out) && access(legacy, F_OK) == 0)
    return ranks_agree(pt_error(PT_ERR_FORMAT,
                    "%s: a checkpoint of an earlier ptune pretrain, which this one cannot resume "
                    "(it writes checkpoint.json and ckpt-N/); start the run again",
                    legacy));
  if (a->resume) {
    PT_TRY(ranks_agree(loop_resume(&j, &s)));
    if (!a->quiet) fprintf(stderr, "resuming from %s/checkpoint.json at step %lld\n", a->out, (long long)s.step);
    if (a->max_steps > 0) s.total = a->max_steps; /* --max-steps may extend the run */
  } else if (a->minutes > 0) {
    PT_TRY(ranks_agree(steps_in_budget(p, &s.total)));
    PT_TRY(pt_dist_bcast(&s.total, sizeof s.total, 0)); /* rank 0's timing decides */
  }
  j.eval_every = a->eval_every > 0 ? a->eval_every : (s.total >= 10 ? s.total / 10 : 1);
  j.sched = (pt_schedule){.kind = PT_SCHED_LINEAR, .base_lr = a->lr,
                          .warmup_steps = (int64_t)(a->warmup_frac * (double)s.total + 0.5),
                          .total_steps = s.total};
  p->hs = (heldout_score){NAN, NAN, NAN};
  return train_loop(&j, &s);
}

pt_status pretrain_run(run_args *args) {
  pretraining p = {.a = *args, .perm_epoch = -1, .t_start = seconds_now()};
  p.B = p.a.batch_size;
  p.S = p.a.task_options.max_seq_len;
  pt_status st = check_options(&p.a);
  if (st == PT_OK) st = vocab_paths(p.a.vocab, p.vdir, p.vfile, sizeof p.vdir);
  if (st == PT_OK && ranks_writer()) st = pt_mkdirs(p.a.out);
  if (st == PT_OK && !(p.tok = pt_tokenizer_load(p.vdir))) st = pt_error_code();
  if (st == PT_OK) st = setup_data(&p);
  if (st == PT_OK) st = setup_model(&p);
  st = ranks_agree(st); /* a rank that failed alone must not leave the others waiting */
  if (st == PT_OK) st = run(&p);
  teardown(&p);
  return st;
}
