/* `ptune pretrain`: masked-language-model pretraining of a BERT from plain
 * text (BertForMaskedLM head on the masked rows only), with AdamW, linear
 * warmup + decay, clipping, a held-out split with fixed masking, checkpoints
 * and --resume, metrics.jsonl, a loss plot (loss.svg) and summary.json. The
 * output directory is a Hugging Face bert model directory. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apps/cmd/commands.h"
#include "apps/pretrain/pretrain.h"
#include "apps/cli/metrics_log.h"
#include "apps/cli/plot.h"
#include "apps/cli/progress.h"
#include "autograd/pt_autograd.h"
#include "models/pt_mlm.h"
#include "nn/pt_safetensors.h"
#include "optim/pt_optim.h"
#include "tensor/pt_file.h"

#define MAX_CORPUS 64

typedef struct {
  const char *corpus[MAX_CORPUS];
  int n_corpus;
  const char *vocab, *out;
  int64_t layers, hidden, heads, intermediate, max_seq_len, max_position, batch, steps;
  double minutes, lr, warmup_frac, wd, clip, dropout, heldout_frac, mask_prob;
  int64_t eval_every, save_every, log_every, stop_after, threads;
  uint64_t seed, eval_seed;
  bool whole_word, resume, quiet, help;
  bool bias_zero; /* --bias-init zero: HF's textbook zero decoder bias */
  pt_dtype save_dtype; /* --save-dtype: model.safetensors precision */
  bool pos_sinusoid;   /* --position-init sinusoid */
  bool attn_offset;    /* --attention-init offset */
} pretrain_args;

static void usage(FILE *f) {
  fprintf(f,
          "usage: ptune pretrain --corpus PATH... --vocab FILE --out DIR [options]\n"
          "  --corpus PATH...      text files or directories (their *.txt files, recursively)\n"
          "  --vocab FILE          WordPiece vocab.txt (e.g. bert-base-uncased's), or its directory\n"
          "  --out DIR             model directory (config.json, model.safetensors, vocab.txt),\n"
          "                        metrics.jsonl, loss.svg, summary.json, checkpoint.safetensors\n"
          "  --layers 4 --hidden 256 --heads 4 --intermediate 1024\n"
          "  --max-seq-len 128     tokens per sequence ([CLS] + 126 wordpieces + [SEP])\n"
          "  --max-position N      position embeddings (default: --max-seq-len)\n"
          "  --batch-size 32 --lr 5e-4 --warmup-frac 0.05 --weight-decay 0.01 --clip 1.0\n"
          "  --dropout 0.1         hidden and attention dropout while pretraining\n"
          "  --steps N | --minutes M   length (M: steps estimated from timing the first steps)\n"
          "  --mask-prob 0.15 --whole-word-mask\n"
          "  --bias-init unigram|zero  decoder bias start: the log unigram frequencies of the\n"
          "                        training tokens (default; skips the first plateau) or zeros\n"
          "  --position-init sinusoid|normal  position table start: sin/cos waves of HF's\n"
          "                        RMS (default; offsets are linear maps) or HF's N(0, 0.02)\n"
          "  --attention-init offset|normal  query/key start: heads attending to the tokens\n"
          "                        at offsets -1, +1, -2, +2, ... (default; needs the sinusoid\n"
          "                        table and an even head size) or HF's N(0, 0.02), which\n"
          "                        leaves small models on the unigram plateau much longer\n"
          "  --save-dtype f32|f16|bf16  precision of the saved model.safetensors (default f32;\n"
          "                        training and checkpoints are always F32)\n"
          "  --heldout-frac 0.02 --eval-seed 999 --eval-every N (default total/10)\n"
          "  --save-every N (default 500) --log-every 10 --seed 42 --threads N --resume --quiet\n");
}

static pt_status parse_args(int argc, char **argv, pretrain_args *a) {
  *a = (pretrain_args){.layers = 4, .hidden = 256, .heads = 4, .intermediate = 1024,
                          .max_seq_len = 128, .batch = 32, .lr = 5e-4, .warmup_frac = 0.05,
                          .wd = 0.01, .clip = 1.0, .dropout = 0.1, .heldout_frac = 0.02,
                          .mask_prob = 0.15, .save_every = 500, .log_every = 10, .seed = 42,
                          .eval_seed = 999, .save_dtype = PT_F32, .pos_sinusoid = true,
                          .attn_offset = true};
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      a->help = true;
      return PT_OK;
    }
    if (!strcmp(o, "--whole-word-mask")) { a->whole_word = true; continue; }
    if (!strcmp(o, "--resume")) { a->resume = true; continue; }
    if (!strcmp(o, "--quiet")) { a->quiet = true; continue; }
    if (i + 1 >= argc) return pt_error(PT_ERR_ARG, "pretrain: %s needs a value", o);
    const char *v = argv[++i];
    if (!strcmp(o, "--corpus")) {
      for (i--; i + 1 < argc && strncmp(argv[i + 1], "--", 2); i++) {
        if (a->n_corpus == MAX_CORPUS) return pt_error(PT_ERR_ARG, "pretrain: too many --corpus paths");
        a->corpus[a->n_corpus++] = argv[i + 1];
      }
      continue;
    }
    if (!strcmp(o, "--vocab")) { a->vocab = v; continue; }
    if (!strcmp(o, "--out")) { a->out = v; continue; }
    if (!strcmp(o, "--bias-init")) {
      if (strcmp(v, "unigram") && strcmp(v, "zero"))
        return pt_error(PT_ERR_ARG, "pretrain: --bias-init wants unigram or zero, got '%s'", v);
      a->bias_zero = !strcmp(v, "zero");
      continue;
    }
    if (!strcmp(o, "--position-init")) {
      if (strcmp(v, "normal") && strcmp(v, "sinusoid"))
        return pt_error(PT_ERR_ARG, "pretrain: --position-init wants normal or sinusoid, got '%s'", v);
      a->pos_sinusoid = !strcmp(v, "sinusoid");
      continue;
    }
    if (!strcmp(o, "--attention-init")) {
      if (strcmp(v, "normal") && strcmp(v, "offset"))
        return pt_error(PT_ERR_ARG, "pretrain: --attention-init wants normal or offset, got '%s'", v);
      a->attn_offset = !strcmp(v, "offset");
      continue;
    }
    if (!strcmp(o, "--save-dtype")) {
      if (!strcmp(v, "f32")) a->save_dtype = PT_F32;
      else if (!strcmp(v, "f16")) a->save_dtype = PT_F16;
      else if (!strcmp(v, "bf16")) a->save_dtype = PT_BF16;
      else return pt_error(PT_ERR_ARG, "pretrain: --save-dtype wants f32, f16 or bf16, got '%s'", v);
      continue;
    }
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno) return pt_error(PT_ERR_ARG, "pretrain: %s: '%s' is not a number", o, v);
    int64_t n = (int64_t)d;
    bool integral = d == (double)n;
    struct { const char *name; int64_t *p; } ints[] = {
        {"--layers", &a->layers}, {"--hidden", &a->hidden}, {"--heads", &a->heads},
        {"--intermediate", &a->intermediate}, {"--max-seq-len", &a->max_seq_len},
        {"--max-position", &a->max_position}, {"--batch-size", &a->batch}, {"--steps", &a->steps},
        {"--eval-every", &a->eval_every}, {"--save-every", &a->save_every},
        {"--log-every", &a->log_every}, {"--stop-after", &a->stop_after}, {"--threads", &a->threads}};
    struct { const char *name; double *p; } dbls[] = {
        {"--minutes", &a->minutes}, {"--lr", &a->lr}, {"--warmup-frac", &a->warmup_frac},
        {"--weight-decay", &a->wd}, {"--clip", &a->clip}, {"--dropout", &a->dropout},
        {"--heldout-frac", &a->heldout_frac}, {"--mask-prob", &a->mask_prob}};
    bool found = false;
    for (size_t k = 0; k < sizeof ints / sizeof *ints && !found; k++)
      if (!strcmp(o, ints[k].name)) {
        if (!integral || n < 0) return pt_error(PT_ERR_ARG, "pretrain: %s wants a non-negative integer, got '%s'", o, v);
        *ints[k].p = n;
        found = true;
      }
    for (size_t k = 0; k < sizeof dbls / sizeof *dbls && !found; k++)
      if (!strcmp(o, dbls[k].name)) {
        if (d < 0) return pt_error(PT_ERR_ARG, "pretrain: %s must not be negative", o);
        *dbls[k].p = d;
        found = true;
      }
    if (!found && (!strcmp(o, "--seed") || !strcmp(o, "--eval-seed"))) {
      if (!integral || n < 0) return pt_error(PT_ERR_ARG, "pretrain: %s wants a non-negative integer", o);
      *(!strcmp(o, "--seed") ? &a->seed : &a->eval_seed) = (uint64_t)n;
      found = true;
    }
    if (!found) return pt_error(PT_ERR_ARG, "pretrain: unknown option '%s' (see --help)", o);
  }
  if (!a->n_corpus || !a->vocab || !a->out)
    return pt_error(PT_ERR_ARG, "pretrain: --corpus, --vocab and --out are required");
  if ((a->steps > 0) == (a->minutes > 0))
    return pt_error(PT_ERR_ARG, "pretrain: give exactly one of --steps and --minutes");
  if (a->batch < 1 || a->layers < 1 || a->hidden < 1 || a->heads < 1 || a->intermediate < 1)
    return pt_error(PT_ERR_ARG, "pretrain: sizes must be positive");
  if (a->dropout >= 1 || a->warmup_frac > 1)
    return pt_error(PT_ERR_ARG, "pretrain: --dropout must be < 1 and --warmup-frac <= 1");
  if (a->max_position == 0) a->max_position = a->max_seq_len;
  if (a->max_position < a->max_seq_len)
    return pt_error(PT_ERR_ARG, "pretrain: --max-position must be at least --max-seq-len");
  if (a->attn_offset && !a->pos_sinusoid)
    return pt_error(PT_ERR_ARG, "pretrain: --attention-init offset (the default) needs --position-init "
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

/* ---- the held-out set, masked once ---- */
typedef struct {
  int64_t n, S;
  int64_t *ids, *labels; /* [n, S] */
  int64_t *mask_labels;  /* [n, S]: labels only where the input is [MASK] */
  int64_t n_masked, n_mask_token;
  double unigram_loss, unigram_acc, unigram_acc_mask;
  int64_t unigram_id;
} heldout_set;

static pt_status heldout_make(const mlm_corpus *c, const masker *mk, uint64_t eval_seed,
                              heldout_set *h) {
  memset(h, 0, sizeof *h);
  h->n = c->n_heldout;
  h->S = c->max_len;
  size_t cells = (size_t)(h->n * h->S);
  h->ids = malloc((cells ? cells : 1) * sizeof *h->ids);
  h->labels = malloc((cells ? cells : 1) * sizeof *h->labels);
  h->mask_labels = malloc((cells ? cells : 1) * sizeof *h->mask_labels);
  if (!h->ids || !h->labels || !h->mask_labels)
    return pt_error(PT_ERR_NOMEM, "pretrain: out of memory");
  for (int64_t i = 0; i < h->n; i++)
    masker_apply(mk, c->ids + c->heldout[i] * h->S, h->S, eval_seed, (uint64_t)i,
                    h->ids + i * h->S, h->labels + i * h->S);
  /* the unigram baseline: always the most frequent training token; its loss
   * uses the add-one smoothed training frequencies */
  int64_t total = 0, best = 0;
  for (int64_t v = 0; v < c->vocab_size; v++) {
    total += c->counts[v];
    if (c->counts[v] > c->counts[best]) best = v;
  }
  double nll = 0;
  int64_t hit = 0, hit_mask = 0;
  for (size_t k = 0; k < cells; k++) {
    int64_t l = h->labels[k];
    bool is_mask = l >= 0 && h->ids[k] == mk->mask_id;
    h->mask_labels[k] = is_mask ? l : -100;
    if (l < 0) continue;
    h->n_masked++;
    h->n_mask_token += is_mask;
    hit += l == best;
    hit_mask += is_mask && l == best;
    nll -= log((double)(c->counts[l] + 1) / (double)(total + c->vocab_size));
  }
  h->unigram_id = best;
  h->unigram_loss = h->n_masked ? nll / (double)h->n_masked : NAN;
  h->unigram_acc = h->n_masked ? (double)hit / (double)h->n_masked : NAN;
  h->unigram_acc_mask = h->n_mask_token ? (double)hit_mask / (double)h->n_mask_token : NAN;
  return PT_OK;
}

static void heldout_free(heldout_set *h) {
  free(h->ids);
  free(h->labels);
  free(h->mask_labels);
  memset(h, 0, sizeof *h);
}

/* A finite number for JSON, or null (JSON has no NaN). */
static const char *jnum(char buf[32], const char *fmt, double v) {
  snprintf(buf, 32, isfinite(v) ? fmt : "null", v);
  return buf;
}

/* Mean loss and accuracy over the held-out positions with a label in
 * `labels` (eval mode). */
static pt_status eval_labels(const pt_mlm_model *m, const heldout_set *h, const int64_t *labels,
                             int64_t B, double *loss, double *acc) {
  double sum = 0;
  int64_t n = 0, ok = 0;
  pt_status st = PT_OK;
  pt_no_grad_enter();
  for (int64_t i = 0; i < h->n && st == PT_OK; i += B) {
    int64_t nb = h->n - i < B ? h->n - i : B;
    pt_tensor *ids = pt_from_buffer(PT_I64, 2, PT_SHAPE(nb, h->S), h->ids + i * h->S);
    pt_tensor *lab = pt_from_buffer(PT_I64, 2, PT_SHAPE(nb, h->S), (int64_t *)labels + i * h->S);
    bool any = false;
    for (int64_t k = 0; k < nb * h->S; k++) any |= labels[i * h->S + k] >= 0;
    pt_mlm_outputs o = {0};
    if (!ids || !lab)
      st = pt_error_code();
    else if (any)
      st = pt_mlm_forward(m, ids, NULL, lab, (pt_nn_mode){.training = false}, false, &o);
    if (st == PT_OK && any) {
      sum += pt_get(o.loss, 0) * (double)o.n_masked;
      n += o.n_masked;
      ok += o.n_correct;
    }
    pt_mlm_outputs_free(&o);
    pt_tensor_free(ids);
    pt_tensor_free(lab);
  }
  pt_no_grad_exit();
  *loss = n ? sum / (double)n : NAN;
  *acc = n ? (double)ok / (double)n : NAN;
  return st;
}

/* The held-out scores: loss and accuracy over every chosen position (the
 * 10% kept ones can be copied from the input), and accuracy over the [MASK]
 * positions alone, the part that only context can predict. */
typedef struct {
  double loss, acc, acc_mask;
} heldout_score;

static pt_status evaluate(const pt_mlm_model *m, const heldout_set *h, int64_t B,
                          heldout_score *r) {
  double unused;
  PT_TRY(eval_labels(m, h, h->labels, B, &r->loss, &r->acc));
  if (!h->n_mask_token) {
    r->acc_mask = NAN;
    return PT_OK;
  }
  return eval_labels(m, h, h->mask_labels, B, &unused, &r->acc_mask);
}

/* ---- checkpoint: one safetensors file, written atomically ---- */
#define CKPT_FILE "checkpoint.safetensors"

static pt_status ckpt_save(const char *out, const pt_mlm_model *m, const pt_optim *o,
                           int64_t step, int64_t total, const pt_rng *rng, double train_seconds,
                           const char *fingerprint) {
  int np = m->params.count, no = pt_optim_state_count(o), n = np + no;
  char **names = calloc((size_t)n, sizeof *names);
  const pt_tensor **ts = calloc((size_t)n, sizeof *ts);
  pt_status st = names && ts ? PT_OK : pt_error(PT_ERR_NOMEM, "checkpoint: out of memory");
  for (int i = 0; i < n && st == PT_OK; i++) {
    const char *nm = i < np ? m->params.items[i]->name : pt_optim_state_name(o, i - np);
    ts[i] = i < np ? m->params.items[i] : pt_optim_state_tensor(o, i - np);
    size_t len = strlen(nm) + 8;
    names[i] = malloc(len);
    if (!names[i]) st = pt_error(PT_ERR_NOMEM, "checkpoint: out of memory");
    else snprintf(names[i], len, "%s%s", i < np ? "model." : "optim.", nm);
  }
  char sstep[32], stotal[32], sseed[32], scount[32], stime[32], path[4096];
  snprintf(sstep, sizeof sstep, "%lld", (long long)step);
  snprintf(stotal, sizeof stotal, "%lld", (long long)total);
  snprintf(sseed, sizeof sseed, "%llu", (unsigned long long)rng->seed);
  snprintf(scount, sizeof scount, "%llu", (unsigned long long)rng->counter);
  snprintf(stime, sizeof stime, "%.3f", train_seconds);
  const char *mk[] = {"step", "total_steps", "rng_seed", "rng_counter", "train_seconds", "config"};
  const char *mv[] = {sstep, stotal, sseed, scount, stime, fingerprint};
  snprintf(path, sizeof path, "%s/" CKPT_FILE, out);
  if (st == PT_OK)
    st = pt_safetensors_write(path, n, (const char *const *)names, ts, 6, mk, mv);
  for (int i = 0; names && i < n; i++) free(names[i]);
  free(names);
  free(ts);
  return st;
}

static pt_status meta_i64(const pt_safetensors *f, const char *key, int64_t *v) {
  const char *s = pt_safetensors_metadata(f, key);
  char *end;
  if (!s) return pt_error(PT_ERR_FORMAT, "%s: no '%s' in the metadata", pt_safetensors_path(f), key);
  *v = (int64_t)strtoull(s, &end, 10);
  if (end == s || *end) return pt_error(PT_ERR_FORMAT, "%s: bad '%s'", pt_safetensors_path(f), key);
  return PT_OK;
}

static pt_status ckpt_load(const char *out, pt_mlm_model *m, pt_optim *o, int64_t *step,
                           int64_t *total, pt_rng *rng, double *train_seconds,
                           const char *fingerprint) {
  char path[4096];
  snprintf(path, sizeof path, "%s/" CKPT_FILE, out);
  pt_safetensors *f = NULL;
  PT_TRY(pt_safetensors_open(path, &f));
  const char *fp = pt_safetensors_metadata(f, "config");
  pt_status st = PT_OK;
  if (!fp || strcmp(fp, fingerprint))
    st = pt_error(PT_ERR_ARG, "%s: the checkpoint was made with other options (%s; now %s)", path,
                  fp ? fp : "?", fingerprint);
  int64_t seed = 0, counter = 0;
  if (st == PT_OK) st = meta_i64(f, "step", step);
  if (st == PT_OK) st = meta_i64(f, "total_steps", total);
  if (st == PT_OK) st = meta_i64(f, "rng_seed", &seed);
  if (st == PT_OK) st = meta_i64(f, "rng_counter", &counter);
  rng->seed = (uint64_t)seed;
  rng->counter = (uint64_t)counter;
  /* optional: checkpoints from before it was recorded count from 0 */
  const char *ts_meta = pt_safetensors_metadata(f, "train_seconds");
  char *end = NULL;
  *train_seconds = ts_meta ? strtod(ts_meta, &end) : 0;
  if (ts_meta && (end == ts_meta || *end || !(*train_seconds >= 0)))
    st = pt_error(PT_ERR_FORMAT, "%s: bad 'train_seconds'", path);
  char name[512];
  for (int i = 0; i < m->params.count && st == PT_OK; i++) {
    pt_tensor *p = m->params.items[i];
    snprintf(name, sizeof name, "model.%s", p->name);
    pt_tensor *t = pt_safetensors_load(f, name, p->dtype);
    st = t ? pt_copy_into(p, t) : pt_error_code();
    pt_tensor_free(t);
  }
  for (int i = 0; i < pt_optim_state_count(o) && st == PT_OK; i++) {
    const char *sn = pt_optim_state_name(o, i);
    snprintf(name, sizeof name, "optim.%s", sn);
    pt_tensor *t = pt_safetensors_get(f, name);
    st = t ? pt_optim_state_set(o, sn, t) : pt_error_code();
    pt_tensor_free(t);
  }
  pt_safetensors_close(f);
  return st;
}

/* Reads the curves back from metrics.jsonl and plots them. */
static pt_status plot_curves(const char *out) {
  char path[4096], svg[4096];
  snprintf(path, sizeof path, "%s/metrics.jsonl", out);
  snprintf(svg, sizeof svg, "%s/loss.svg", out);
  FILE *f = fopen(path, "rb");
  if (!f) return pt_error(PT_ERR_IO, "%s: cannot open", path);
  int64_t cap = 1024, nt = 0, nh = 0;
  double *tx = malloc(cap * sizeof *tx), *ty = malloc(cap * sizeof *ty);
  double *hx = malloc(cap * sizeof *hx), *hy = malloc(cap * sizeof *hy);
  char *line = NULL;
  size_t lcap = 0;
  pt_status st = tx && ty && hx && hy ? PT_OK : pt_error(PT_ERR_NOMEM, "plot: out of memory");
  while (st == PT_OK && getline(&line, &lcap, f) > 0) {
    const char *s = strstr(line, "\"step\":"), *l = strstr(line, "\"loss\":"),
               *h = strstr(line, "\"heldout_loss\":");
    if (!s) continue;
    if (nt == cap || nh == cap) {
      cap *= 2;
      double **arr[] = {&tx, &ty, &hx, &hy};
      for (int i = 0; i < 4; i++) {
        double *na = realloc(*arr[i], cap * sizeof *na);
        if (!na) st = pt_error(PT_ERR_NOMEM, "plot: out of memory");
        else *arr[i] = na;
      }
      if (st != PT_OK) break;
    }
    double step = strtod(s + 7, NULL);
    if (l) tx[nt] = step, ty[nt++] = strtod(l + 7, NULL);
    if (h) hx[nh] = step, hy[nh++] = strtod(h + 15, NULL);
  }
  free(line);
  fclose(f);
  plot_series ser[] = {{"train (logged mean)", "#1f77b4", tx, ty, nt},
                          {"held-out", "#d62728", hx, hy, nh}};
  if (st == PT_OK) st = plot_svg(svg, "MLM loss", "step", "loss (nats)", ser, 2);
  free(tx);
  free(ty);
  free(hx);
  free(hy);
  return st;
}

/* Fills ids/labels [B, S] for optimizer step `step`. */
static void make_batch(const mlm_corpus *c, const masker *mk, uint64_t seed, int64_t step,
                       int64_t B, int64_t *ids, int64_t *labels, int64_t **perm,
                       int64_t *perm_epoch) {
  int64_t S = c->max_len;
  for (int64_t b = 0; b < B; b++) {
    int64_t p = step * B + b;
    int64_t s = mlm_train_seq(c, seed, p, perm, perm_epoch);
    masker_apply(mk, c->ids + s * S, S, seed, (uint64_t)p, ids + b * S, labels + b * S);
  }
}

/* One forward + backward; the loss and counts in *loss / *acc. */
static pt_status train_step(const pt_mlm_model *m, const int64_t *ids, const int64_t *labels,
                            int64_t B, int64_t S, pt_rng *rng, double *loss, double *acc) {
  pt_tensor *ti = pt_from_buffer(PT_I64, 2, PT_SHAPE(B, S), ids);
  pt_tensor *tl = pt_from_buffer(PT_I64, 2, PT_SHAPE(B, S), labels);
  pt_mlm_outputs o = {0};
  pt_status st = ti && tl ? PT_OK : pt_error_code();
  if (st == PT_OK) st = pt_mlm_forward(m, ti, NULL, tl, (pt_nn_mode){.training = true, .rng = rng}, false, &o);
  if (st == PT_OK) st = pt_backward(o.loss, NULL, false);
  if (st == PT_OK) {
    *loss = pt_get(o.loss, 0);
    *acc = (double)o.n_correct / (double)o.n_masked;
    if (!isfinite(*loss)) st = pt_error(PT_ERR_NUMERIC, "pretrain: the loss is %g", *loss);
  }
  pt_mlm_outputs_free(&o);
  pt_tensor_free(ti);
  pt_tensor_free(tl);
  return st;
}

static int fail(pt_status st) {
  (void)st;
  fprintf(stderr, "ptune pretrain: %s\n", pt_error_message());
  return 1;
}

int cmd_pretrain(int argc, char **argv) {
  pretrain_args a;
  pt_status st = parse_args(argc, argv, &a);
  if (st != PT_OK) return fail(st);
  if (a.help) {
    usage(stdout);
    return 0;
  }
  if (a.threads > 0) omp_set_num_threads((int)a.threads);
  char vdir[4096], vfile[4096], path[4096];
  if ((st = vocab_paths(a.vocab, vdir, vfile, sizeof vdir)) != PT_OK) return fail(st);
  if ((st = pt_mkdirs(a.out)) != PT_OK) return fail(st);
  FILE *log = a.quiet ? NULL : stderr;
  double t_start = seconds_now();

  pt_tokenizer *tok = pt_tokenizer_load(vdir);
  if (!tok) return fail(pt_error_code());
  mlm_corpus corpus = {0};
  masker mk = {0};
  heldout_set held = {0};
  pt_mlm_model model = {0};
  bool model_ok = false;
  pt_optim *opt = NULL;
  metrics_log metrics = {0};
  int64_t *ids = NULL, *labels = NULL, *perm = NULL, perm_epoch = -1;
  st = mlm_corpus_read(a.corpus, a.n_corpus, tok, a.max_seq_len, a.heldout_frac, a.seed, &corpus);
  if (st == PT_OK) st = masker_init(&mk, tok, a.mask_prob, a.whole_word);
  if (st == PT_OK) st = heldout_make(&corpus, &mk, a.eval_seed, &held);
  double t_data = seconds_now() - t_start;
  if (st == PT_OK && log)
    fprintf(log,
            "corpus: %lld files (%lld read as Latin-1), %lld wordpieces (%lld [UNK]) -> %lld "
            "sequences of %lld: %lld train, %lld held-out (%lld masked tokens); %.1f s\n",
            (long long)corpus.n_files, (long long)corpus.n_latin1, (long long)corpus.n_pieces,
            (long long)corpus.n_unk, (long long)corpus.n_seq, (long long)a.max_seq_len,
            (long long)corpus.n_train, (long long)corpus.n_heldout, (long long)held.n_masked,
            t_data);

  pt_bert_config cfg;
  pt_bert_config_default(&cfg, PT_ARCH_BERT);
  cfg.vocab_size = pt_tokenizer_vocab_size(tok);
  cfg.hidden_size = a.hidden;
  cfg.num_layers = a.layers;
  cfg.num_heads = a.heads;
  cfg.intermediate_size = a.intermediate;
  cfg.max_position = a.max_position;
  cfg.pad_token_id = pt_tokenizer_pad_id(tok) >= 0 ? pt_tokenizer_pad_id(tok) : 0;
  cfg.hidden_dropout = cfg.attention_dropout = a.dropout;
  if (st == PT_OK) st = pt_bert_config_validate(&cfg, "pretrain");
  if (st == PT_OK) st = pt_mlm_init(&model, &cfg, a.seed);
  model_ok = st == PT_OK;
  if (model_ok && !a.bias_zero) pretrain_bias_unigram(&corpus, model.decoder_bias);
  if (model_ok && a.pos_sinusoid)
    pretrain_position_sinusoid(
        pt_params_find(&model.params, "bert.embeddings.position_embeddings.weight"), cfg.init_std);
  if (model_ok && a.attn_offset)
    st = pretrain_attention_offset(&model.params, cfg.num_layers, cfg.num_heads, cfg.hidden_size);
  pt_adamw_opts ao = {.lr = a.lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-6, .weight_decay = a.wd};
  if (st == PT_OK) {
    opt = pt_adamw_new(&ao);
    st = opt ? pt_optim_add_params(opt, model.params.count, model.params.items, pt_decay_hf, NULL)
             : pt_error_code();
  }
  int64_t B = a.batch, S = a.max_seq_len;
  if (st == PT_OK) {
    ids = malloc((size_t)(B * S) * sizeof *ids);
    labels = malloc((size_t)(B * S) * sizeof *labels);
    if (!ids || !labels) st = pt_error(PT_ERR_NOMEM, "pretrain: out of memory");
  }
  char fp[256];
  snprintf(fp, sizeof fp, "L%lld H%lld NH%lld I%lld S%lld P%lld B%lld V%lld seed%llu",
           (long long)a.layers, (long long)a.hidden, (long long)a.heads, (long long)a.intermediate,
           (long long)S, (long long)a.max_position, (long long)B, (long long)cfg.vocab_size,
           (unsigned long long)a.seed);
  pt_rng rng;
  pt_rng_init(&rng, a.seed ^ 0x64726f706f7574ULL);
  int64_t step = 0, total = a.steps;
  double prior_time = 0; /* training seconds of the runs before a --resume */
  snprintf(path, sizeof path, "%s/" CKPT_FILE, a.out);
  struct stat sb;
  bool resumed = false;
  if (st == PT_OK && a.resume && stat(path, &sb) == 0) {
    st = ckpt_load(a.out, &model, opt, &step, &total, &rng, &prior_time, fp);
    resumed = st == PT_OK;
    if (resumed && a.steps > 0) total = a.steps; /* --steps may extend the run */
    if (resumed && log) fprintf(log, "resuming from %s at step %lld\n", path, (long long)step);
  }
  double loss = NAN, acc = NAN;
  if (st == PT_OK && !resumed && a.minutes > 0) {
    /* time a few forward+backward passes (no update, own dropout stream) */
    pt_rng trng;
    pt_rng_init(&trng, a.seed + 7);
    double t0 = 0;
    for (int k = 0; k < 4 && st == PT_OK; k++) {
      if (k == 1) t0 = seconds_now();
      make_batch(&corpus, &mk, a.seed + 1, k, B, ids, labels, &perm, &perm_epoch);
      st = train_step(&model, ids, labels, B, S, &trng, &loss, &acc);
      pt_optim_zero_grad(opt);
    }
    free(perm);
    perm = NULL;
    perm_epoch = -1;
    double per_step = (seconds_now() - t0) / 3 * 1.03; /* + the optimizer update */
    int64_t eval_batches = (held.n + B - 1) / B;
    double eval_every = a.eval_every > 0 ? (double)a.eval_every : 0;
    /* with the default (total/10), about 11 evaluations of ~1/3 a step each */
    double eval_cost = eval_batches * per_step / 3;
    double budget = a.minutes * 60 - (seconds_now() - t_start);
    total = eval_every > 0 ? (int64_t)(budget / (per_step + eval_cost / eval_every))
                           : (int64_t)((budget - 11 * eval_cost) / per_step);
    if (total < 1) total = 1;
    if (log)
      fprintf(log, "timing: %.3f s/step (%.0f tokens/s) -> %lld steps in %.1f minutes\n", per_step,
              (double)(B * S) / per_step, (long long)total, a.minutes);
  }
  int64_t eval_every = a.eval_every > 0 ? a.eval_every : (total >= 10 ? total / 10 : 1);
  pt_schedule sched = {.kind = PT_SCHED_LINEAR, .base_lr = a.lr,
                       .warmup_steps = (int64_t)(a.warmup_frac * (double)total + 0.5),
                       .total_steps = total};
  snprintf(path, sizeof path, "%s/metrics.jsonl", a.out);
  if (st == PT_OK) {
    st = metrics_log_open(&metrics, path, resumed ? step : -1);
  }
  progress prog;
  progress_init(&prog, stderr, total, step, a.quiet);
  double train_time = 0, lsum = 0, asum = 0, gnorm = 0;
  int64_t lcount = 0;
  heldout_score hs = {NAN, NAN, NAN};
  if (st == PT_OK && step == 0 && held.n > 0) { /* the untrained model, the curve's first point */
    st = evaluate(&model, &held, B, &hs);
    char am[32];
    if (st == PT_OK)
      metrics_log_printf(&metrics,
                            "{\"step\":0,\"heldout_loss\":%.6f,\"heldout_acc\":%.5f,"
                            "\"heldout_acc_mask\":%s}\n",
                            hs.loss, hs.acc, jnum(am, "%.5f", hs.acc_mask));
  }
  while (st == PT_OK && step < total) {
    double t0 = seconds_now();
    double lr = pt_schedule_lr(&sched, step);
    pt_optim_set_lr(opt, lr);
    make_batch(&corpus, &mk, a.seed, step, B, ids, labels, &perm, &perm_epoch);
    st = train_step(&model, ids, labels, B, S, &rng, &loss, &acc);
    if (st == PT_OK && a.clip > 0) st = pt_optim_clip_grad_norm(opt, a.clip, &gnorm);
    if (st == PT_OK) st = pt_optim_step(opt);
    pt_optim_zero_grad(opt);
    if (st != PT_OK) break;
    step++;
    train_time += seconds_now() - t0;
    prog.tokens += B * S;
    lsum += loss;
    asum += acc;
    lcount++;
    bool logit = step % (a.log_every > 0 ? a.log_every : 1) == 0 || step == total;
    if (logit) {
      metrics_log_printf(&metrics,
              "{\"step\":%lld,\"loss\":%.6f,\"mlm_acc\":%.5f,\"lr\":%.6g,\"grad_norm\":%.4f,"
              "\"tokens\":%lld,\"tokens_per_s\":%.1f}\n",
              (long long)step, lsum / (double)lcount, asum / (double)lcount, lr, gnorm,
              (long long)(step * B * S), (double)prog.tokens / train_time);
      progress_update(&prog, step, lsum / (double)lcount, lr, true);
      lsum = asum = 0;
      lcount = 0;
    }
    if (held.n > 0 && (step % eval_every == 0 || step == total)) {
      st = evaluate(&model, &held, B, &hs);
      if (st == PT_OK) {
        char am[32];
        metrics_log_printf(&metrics,
                              "{\"step\":%lld,\"heldout_loss\":%.6f,\"heldout_acc\":%.5f,"
                              "\"heldout_acc_mask\":%s}\n",
                              (long long)step, hs.loss, hs.acc, jnum(am, "%.5f", hs.acc_mask));
        progress_line(&prog,
                         "step %lld: held-out MLM loss %.4f, accuracy %.4f ([MASK] positions %.4f)",
                         (long long)step, hs.loss, hs.acc, hs.acc_mask);
      }
    }
    bool stop = a.stop_after > 0 && step >= a.stop_after && step < total;
    if (st == PT_OK && ((a.save_every > 0 && step % a.save_every == 0) || stop || step == total))
      st = ckpt_save(a.out, &model, opt, step, total, &rng, prior_time + train_time, fp);
    if (stop) break;
  }
  progress_done(&prog);
  metrics_log_close(&metrics);
  bool finished = st == PT_OK && step >= total;
  if (finished && held.n > 0 && isnan(hs.loss)) st = evaluate(&model, &held, B, &hs);
  if (finished && st == PT_OK) st = pt_mlm_save_pretrained(&model, a.out, vfile, a.seed, a.save_dtype);
  if (finished && st == PT_OK) st = plot_curves(a.out);
  if (finished && st == PT_OK) {
    double seconds = prior_time + train_time;
    double tps = seconds > 0 ? (double)(step * B * S) / seconds : 0;
    char *js = NULL;
    size_t jn = 0;
    FILE *j = open_memstream(&js, &jn);
    if (!j) st = pt_error(PT_ERR_NOMEM, "pretrain: out of memory");
    else {
      const char *ut = pt_tokenizer_id_to_token(tok, held.unigram_id);
      char nums[6][32];
      const double vals[6] = {hs.loss, hs.acc, hs.acc_mask,
                              held.unigram_loss, held.unigram_acc, held.unigram_acc_mask};
      for (int k = 0; k < 6; k++) jnum(nums[k], "%.6f", vals[k]); /* null: no held-out set */
      fprintf(j,
              "{\"steps\":%lld,\"tokens\":%lld,\"train_seconds\":%.1f,\"tokens_per_s\":%.1f,"
              "\"heldout_loss\":%s,\"heldout_acc\":%s,\"heldout_acc_mask\":%s,"
              "\"heldout_masked\":%lld,\"heldout_mask_tokens\":%lld,"
              "\"unigram_loss\":%s,\"unigram_acc\":%s,\"unigram_acc_mask\":%s,"
              "\"unigram_token\":\"%s\","
              "\"params\":%lld,\"sequences\":%lld,\"train_sequences\":%lld,"
              "\"heldout_sequences\":%lld,\"wordpieces\":%lld,\"epochs\":%.3f,"
              "\"layers\":%lld,\"hidden\":%lld,\"max_seq_len\":%lld,\"batch_size\":%lld,"
              "\"lr\":%g,\"warmup_frac\":%g,\"dropout\":%g,\"whole_word_mask\":%s,\"bias_init\":\"%s\",\"position_init\":\"%s\","
              "\"attention_init\":\"%s\"}\n",
              (long long)step, (long long)(step * B * S), seconds, tps, nums[0], nums[1], nums[2],
              (long long)held.n_masked, (long long)held.n_mask_token, nums[3], nums[4], nums[5],
              ut && !strpbrk(ut, "\"\\") ? ut : "?", (long long)pt_params_numel(&model.params, false),
              (long long)corpus.n_seq, (long long)corpus.n_train, (long long)corpus.n_heldout,
              (long long)corpus.n_pieces, (double)(step * B) / (double)corpus.n_train,
              (long long)a.layers, (long long)a.hidden, (long long)S, (long long)B, a.lr,
              a.warmup_frac, a.dropout, a.whole_word ? "true" : "false", a.bias_zero ? "zero" : "unigram",
              a.pos_sinusoid ? "sinusoid" : "normal", a.attn_offset ? "offset" : "normal");
      fclose(j);
      snprintf(path, sizeof path, "%s/summary.json", a.out);
      st = pt_write_file_atomic(path, js, jn);
      if (st == PT_OK && log)
        fprintf(log,
                "held-out MLM loss %.4f, accuracy %.4f, on [MASK] positions %.4f (unigram "
                "baseline: %.4f, %.4f, %.4f); %.0f tokens/s\n",
                hs.loss, hs.acc, hs.acc_mask, held.unigram_loss, held.unigram_acc,
                held.unigram_acc_mask, tps);
      if (st == PT_OK) fputs(js, stdout);
      free(js);
    }
  }
  free(ids);
  free(labels);
  free(perm);
  pt_optim_free(opt);
  if (model_ok) pt_mlm_free(&model);
  heldout_free(&held);
  masker_free(&mk);
  mlm_corpus_free(&corpus);
  pt_tokenizer_free(tok);
  return st == PT_OK ? 0 : fail(st);
}
