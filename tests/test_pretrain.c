/* ptune pretrain: text decoding (Latin-1 fallback, CRLF/CR), packing into
 * [CLS] ... [SEP] sequences and the held-out split, BERT and whole-word
 * masking statistics, the masked-rows-only MLM head against the full head,
 * gradient into the tied word embedding from the lookup and the decoder,
 * parity of loss and every gradient with PyTorch (tests/fixtures/mlm), the
 * --attention-init offset start,
 * and a tiny pretraining run on tests/fixtures/data/corpus (held-out loss
 * falls, the directory loads as a backbone with a ptv2 model on it, a
 * resumed run ends with the uninterrupted run's weights). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/cmd/commands.h"
#include "apps/pretrain/pretrain.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_norm.h"
#include "models/pt_hf.h"
#include "models/pt_mlm.h"
#include "models/pt_model.h"
#include "nn/pt_params_io.h"
#include "nn/pt_safetensors.h"
#include "tensor/pt_file.h"

static char root[256];
static char corpus_dir[4096], vocab_dir[4096];

static void write_bytes(const char *path, const char *s, size_t n) {
  ck_assert_int_eq(pt_write_file_atomic(path, s, n), PT_OK);
}

static void setup(void) {
  snprintf(root, sizeof root, "/tmp/ptune_pretrain_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(root));
  const char *fix = getenv("PT_FIXTURES");
  ck_assert_ptr_nonnull(fix);
  snprintf(corpus_dir, sizeof corpus_dir, "%s/data/corpus", fix);
  snprintf(vocab_dir, sizeof vocab_dir, "%s/vocab/bert-base-uncased", fix);
}

static void teardown(void) {
  if (getenv("PT_KEEP")) return;
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  ck_assert_int_eq(system(cmd), 0);
}

static int run(const char *const *args) {
  int argc = 0;
  while (args[argc]) argc++;
  fflush(stdout);
  int saved = dup(1);
  FILE *devnull = fopen("/dev/null", "w");
  dup2(fileno(devnull), 1);
  int rc = cli_run(argc, (char **)args);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  fclose(devnull);
  return rc;
}

START_TEST(test_text_normalize) {
  char *o;
  size_t n;
  bool l1;
  const char lat[] = "caf\xe9\r\nna\xefve\rend\n";
  ck_assert_int_eq(text_normalize(lat, sizeof lat - 1, &o, &n, &l1), PT_OK);
  ck_assert(l1);
  ck_assert_str_eq(o, "caf\xc3\xa9\nna\xc3\xafve\nend\n");
  ck_assert_uint_eq(n, strlen(o));
  free(o);
  const char utf[] = "caf\xc3\xa9\r\n\r\n\xe2\x82\xac";
  ck_assert_int_eq(text_normalize(utf, sizeof utf - 1, &o, &n, &l1), PT_OK);
  ck_assert(!l1);
  ck_assert_str_eq(o, "caf\xc3\xa9\n\n\xe2\x82\xac");
  free(o);
  /* a truncated UTF-8 sequence makes the file Latin-1 */
  const char bad[] = "ok \xe2\x82";
  ck_assert_int_eq(text_normalize(bad, sizeof bad - 1, &o, &n, &l1), PT_OK);
  ck_assert(l1);
  ck_assert_str_eq(o, "ok \xc3\xa2\xc2\x82");
  free(o);

  /* through the corpus reader: a Latin-1 CRLF file gives the same ids as
   * its UTF-8 LF version */
  pt_tokenizer *tok = pt_tokenizer_load(vocab_dir);
  ck_assert_ptr_nonnull(tok);
  char d1[400], d2[400];
  snprintf(d1, sizeof d1, "%s/l1.txt", root);
  snprintf(d2, sizeof d2, "%s/u8.txt", root);
  const char l1text[] = "The caf\xe9 was na\xefve.\r\nIt rained; the caf\xe9 closed early.\r\n"
                        "Nobody minded the rain.\rThe end of the story.\r\n";
  const char u8text[] = "The caf\xc3\xa9 was na\xc3\xafve.\nIt rained; the caf\xc3\xa9 closed early.\n"
                        "Nobody minded the rain.\nThe end of the story.\n";
  write_bytes(d1, l1text, sizeof l1text - 1);
  write_bytes(d2, u8text, sizeof u8text - 1);
  const char *p1[] = {d1}, *p2[] = {d2};
  mlm_corpus c1, c2;
  ck_assert_int_eq(mlm_corpus_read(p1, 1, tok, 8, 0.0, 1, &c1), PT_OK);
  ck_assert_int_eq(mlm_corpus_read(p2, 1, tok, 8, 0.0, 1, &c2), PT_OK);
  ck_assert_int_eq(c1.n_latin1, 1);
  ck_assert_int_eq(c2.n_latin1, 0);
  ck_assert_int_eq(c1.n_unk, 0);
  ck_assert_int_eq(c1.n_seq, c2.n_seq);
  ck_assert_int_ge(c1.n_seq, 2);
  ck_assert_int_eq(memcmp(c1.ids, c2.ids, (size_t)(c1.n_seq * 8) * sizeof *c1.ids), 0);
  ck_assert_int_eq(c1.ids[1], pt_tokenizer_token_id(tok, "the"));
  ck_assert_int_eq(c1.ids[2], pt_tokenizer_token_id(tok, "cafe"));
  mlm_corpus_free(&c1);
  mlm_corpus_free(&c2);
  pt_tokenizer_free(tok);
}
END_TEST

static int64_t *encode_file(const pt_tokenizer *tok, const char *path, int64_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  static char buf[1 << 16];
  size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  pt_encode_opts o = {.no_special_tokens = true};
  pt_encoding e = {0};
  ck_assert_int_eq(pt_tokenizer_encode(tok, buf, len, NULL, 0, &o, &e), PT_OK);
  int64_t *ids = malloc((size_t)e.n * sizeof *ids);
  memcpy(ids, e.ids, (size_t)e.n * sizeof *ids);
  *n = e.n;
  pt_encoding_free(&e);
  return ids;
}

START_TEST(test_packing) {
  pt_tokenizer *tok = pt_tokenizer_load(vocab_dir);
  ck_assert_ptr_nonnull(tok);
  const char *paths[] = {corpus_dir};
  mlm_corpus c;
  ck_assert_int_eq(mlm_corpus_read(paths, 1, tok, 32, 0.1, 5, &c), PT_OK);
  ck_assert_int_eq(c.n_files, 2);
  /* the stream: 1945-Truman then 1961-Kennedy (name order) */
  char p[4300];
  int64_t n1, n2;
  snprintf(p, sizeof p, "%s/1945-Truman.txt", corpus_dir);
  int64_t *a = encode_file(tok, p, &n1);
  snprintf(p, sizeof p, "%s/1961-Kennedy.txt", corpus_dir);
  int64_t *b = encode_file(tok, p, &n2);
  ck_assert_int_eq(c.n_pieces, n1 + n2);
  ck_assert_int_eq(c.n_seq, (n1 + n2) / 30);
  for (int64_t s = 0; s < c.n_seq; s++) {
    const int64_t *row = c.ids + s * 32;
    ck_assert_int_eq(row[0], pt_tokenizer_cls_id(tok));
    ck_assert_int_eq(row[31], pt_tokenizer_sep_id(tok));
    for (int64_t j = 0; j < 30; j++) {
      int64_t k = s * 30 + j;
      ck_assert_int_eq(row[1 + j], k < n1 ? a[k] : b[k - n1]);
    }
  }
  /* split: 10% held out, disjoint, covering */
  ck_assert_int_eq(c.n_heldout, (int64_t)(0.1 * (double)c.n_seq + 0.5));
  ck_assert_int_eq(c.n_train + c.n_heldout, c.n_seq);
  char *seen = calloc((size_t)c.n_seq, 1);
  for (int64_t i = 0; i < c.n_train; i++) seen[c.train[i]]++;
  for (int64_t i = 0; i < c.n_heldout; i++) seen[c.heldout[i]]++;
  for (int64_t i = 0; i < c.n_seq; i++) ck_assert_int_eq(seen[i], 1);
  free(seen);
  /* the same seed gives the same split, another seed another one */
  mlm_corpus c2, c3;
  ck_assert_int_eq(mlm_corpus_read(paths, 1, tok, 32, 0.1, 5, &c2), PT_OK);
  ck_assert_int_eq(mlm_corpus_read(paths, 1, tok, 32, 0.1, 6, &c3), PT_OK);
  ck_assert_int_eq(memcmp(c.heldout, c2.heldout, (size_t)c.n_heldout * sizeof(int64_t)), 0);
  ck_assert_int_ne(memcmp(c.heldout, c3.heldout, (size_t)c.n_heldout * sizeof(int64_t)), 0);
  /* every epoch visits each train sequence once, in a new order */
  int64_t *perm = NULL, pe = -1, first[2] = {0};
  char *hit = calloc((size_t)c.n_seq, 1);
  for (int64_t e = 0; e < 2; e++) {
    memset(hit, 0, (size_t)c.n_seq);
    for (int64_t i = 0; i < c.n_train; i++) {
      int64_t s = mlm_train_seq(&c, 3, e * c.n_train + i, &perm, &pe);
      if (i == 0) first[e] = s;
      hit[s]++;
    }
    for (int64_t i = 0; i < c.n_train; i++) ck_assert_int_eq(hit[c.train[i]], 1);
    for (int64_t i = 0; i < c.n_heldout; i++) ck_assert_int_eq(hit[c.heldout[i]], 0);
  }
  (void)first;
  free(hit);
  free(perm);
  mlm_corpus_free(&c3);
  /* too little text is an error */
  ck_assert_int_ne(mlm_corpus_read(paths, 1, tok, 100000, 0.1, 5, &c3), PT_OK);
  mlm_corpus_free(&c2);
  mlm_corpus_free(&c);
  free(a);
  free(b);
  pt_tokenizer_free(tok);
}
END_TEST

START_TEST(test_masking_stats) {
  pt_tokenizer *tok = pt_tokenizer_load(vocab_dir);
  ck_assert_ptr_nonnull(tok);
  const char *paths[] = {corpus_dir};
  mlm_corpus c;
  const int64_t S = 32;
  ck_assert_int_eq(mlm_corpus_read(paths, 1, tok, S, 0.0, 5, &c), PT_OK);
  for (int ww = 0; ww < 2; ww++) {
    masker mk;
    ck_assert_int_eq(masker_init(&mk, tok, 0.15, ww), PT_OK);
    int64_t out[32], lab[32], out2[32], lab2[32];
    int64_t eligible = 0, chosen = 0, masked = 0, random = 0, kept = 0, words = 0, words_chosen = 0;
    for (int64_t it = 0; it < 4000; it++) {
      const int64_t *row = c.ids + (it % c.n_seq) * S;
      masker_apply(&mk, row, S, 11, (uint64_t)it, out, lab);
      masker_apply(&mk, row, S, 11, (uint64_t)it, out2, lab2);
      ck_assert_int_eq(memcmp(out, out2, sizeof out), 0); /* a pure function of the stream */
      ck_assert_int_eq(memcmp(lab, lab2, sizeof lab), 0);
      for (int64_t i = 0; i < S; i++) {
        bool special = mk.special[row[i]];
        if (special) {
          ck_assert_int_eq(lab[i], -100);
          ck_assert_int_eq(out[i], row[i]);
          continue;
        }
        eligible++;
        bool cont = i > 0 && mk.cont[row[i]] && !mk.special[row[i - 1]];
        if (ww && cont) /* a word's pieces share the decision */
          ck_assert_int_eq(lab[i] >= 0, lab[i - 1] >= 0);
        if (!cont) {
          words++;
          words_chosen += lab[i] >= 0;
        }
        if (lab[i] < 0) {
          ck_assert_int_eq(out[i], row[i]);
          continue;
        }
        ck_assert_int_eq(lab[i], row[i]);
        chosen++;
        if (out[i] == mk.mask_id)
          masked++;
        else if (out[i] == row[i])
          kept++;
        else
          random++;
      }
    }
    double fc = (double)chosen / (double)eligible;
    double fw = (double)words_chosen / (double)words;
    ck_assert_msg(fabs((ww ? fw : fc) - 0.15) < 0.01, "chosen share %.4f (words %.4f)", fc, fw);
    ck_assert_msg(fabs((double)masked / (double)chosen - 0.8) < 0.02, "mask %lld/%lld",
                  (long long)masked, (long long)chosen);
    ck_assert_msg(fabs((double)random / (double)chosen - 0.1) < 0.015, "random");
    ck_assert_msg(fabs((double)kept / (double)chosen - 0.1) < 0.015, "kept");
    ck_assert_msg(fabs(fc - 0.15) < 0.02, "token share %.4f", fc);
    masker_free(&mk);
  }
  mlm_corpus_free(&c);
  pt_tokenizer_free(tok);
}
END_TEST

static void tiny_config(pt_bert_config *cfg) {
  pt_bert_config_default(cfg, PT_ARCH_BERT);
  cfg->vocab_size = 40;
  cfg->hidden_size = 16;
  cfg->num_layers = 1;
  cfg->num_heads = 2;
  cfg->intermediate_size = 32;
  cfg->max_position = 16;
  cfg->hidden_dropout = cfg->attention_dropout = 0;
}

/* ids [2, 8] drawn from 1..29 (so rows 0 and 30..39 never appear), labels
 * at 5 positions. */
static void tiny_batch(pt_tensor **ids, pt_tensor **labels) {
  int64_t id[16], lab[16];
  for (int i = 0; i < 16; i++) {
    id[i] = 1 + (i * 7 + 3) % 29;
    lab[i] = -100;
  }
  int pos[] = {1, 4, 6, 9, 14};
  for (int k = 0; k < 5; k++) lab[pos[k]] = 30 + k; /* labels outside the input ids */
  *ids = pt_from_buffer(PT_I64, 2, PT_SHAPE(2, 8), id);
  *labels = pt_from_buffer(PT_I64, 2, PT_SHAPE(2, 8), lab);
}

START_TEST(test_head_masked_rows_equals_full) {
  pt_bert_config cfg;
  tiny_config(&cfg);
  pt_mlm_model m;
  ck_assert_int_eq(pt_mlm_init(&m, &cfg, 3), PT_OK);
  /* give the LayerNorm and the bias non-trivial values */
  pt_rng r;
  pt_rng_init(&r, 9);
  ck_assert_int_eq(pt_rng_fill_normal(&r, m.decoder_bias, 0, 0.5), PT_OK);
  pt_tensor *ids, *labels;
  tiny_batch(&ids, &labels);
  pt_tensor *gw[2] = {0}, *gb[2] = {0};
  double loss[2];
  int64_t ok[2], nm[2];
  for (int full = 0; full < 2; full++) {
    pt_mlm_outputs o;
    ck_assert_int_eq(pt_mlm_forward(&m, ids, NULL, labels, (pt_nn_mode){0}, full, &o), PT_OK);
    loss[full] = pt_get(o.loss, 0);
    ok[full] = o.n_correct;
    nm[full] = o.n_masked;
    ck_assert_int_eq(pt_backward(o.loss, NULL, false), PT_OK);
    gw[full] = pt_raw_clone(m.bert.word.weight->grad);
    gb[full] = pt_raw_clone(m.decoder_bias->grad);
    pt_params_zero_grad(&m.params);
    pt_mlm_outputs_free(&o);
  }
  ck_assert_int_eq(nm[0], 5);
  ck_assert_int_eq(nm[1], 5);
  ck_assert_int_eq(ok[0], ok[1]);
  ck_assert_msg(fabs(loss[0] - loss[1]) < 1e-6, "%g vs %g", loss[0], loss[1]);
  ck_assert(loss[0] > 1.0);
  for (int64_t i = 0; i < pt_numel(gw[0]); i++)
    ck_assert_msg(fabs(pt_get(gw[0], i) - pt_get(gw[1], i)) < 1e-6, "word grad %lld", (long long)i);
  for (int64_t i = 0; i < pt_numel(gb[0]); i++)
    ck_assert(fabs(pt_get(gb[0], i) - pt_get(gb[1], i)) < 1e-6);
  /* the loss is the mean of -log softmax at the labels over the masked rows:
   * recompute it from the full head's logits */
  pt_bert_inputs in = {.input_ids = ids};
  pt_bert_outputs eo;
  ck_assert_int_eq(pt_bert_forward(&m.bert, &in, (pt_nn_mode){0}, &eo), PT_OK);
  pt_tensor *h = pt_reshape(eo.last_hidden, 2, PT_SHAPE(16, 16));
  pt_tensor *lg = pt_mlm_head(&m, h);
  double nll = 0;
  for (int64_t row = 0; row < 16; row++) {
    int64_t l = (int64_t)pt_get(labels, row);
    if (l < 0) continue;
    double mx = -INFINITY, se = 0;
    for (int64_t v = 0; v < 40; v++) mx = fmax(mx, pt_get(lg, row * 40 + v));
    for (int64_t v = 0; v < 40; v++) se += exp(pt_get(lg, row * 40 + v) - mx);
    nll += -(pt_get(lg, row * 40 + l) - mx - log(se));
  }
  ck_assert_msg(fabs(nll / 5 - loss[0]) < 1e-5, "%g vs %g", nll / 5, loss[0]);
  pt_tensor_free(lg);
  pt_tensor_free(h);
  pt_bert_outputs_free(&eo);
  for (int k = 0; k < 2; k++) {
    pt_tensor_free(gw[k]);
    pt_tensor_free(gb[k]);
  }
  /* no masked position: an error, no crash */
  pt_tensor *none = pt_full(PT_I64, 2, PT_SHAPE(2, 8), -100);
  pt_mlm_outputs o;
  ck_assert_int_ne(pt_mlm_forward(&m, ids, NULL, none, (pt_nn_mode){0}, false, &o), PT_OK);
  pt_tensor_free(none);
  pt_tensor_free(ids);
  pt_tensor_free(labels);
  pt_mlm_free(&m);
}
END_TEST

static double loss_of(const pt_mlm_model *m, const pt_tensor *ids, const pt_tensor *labels) {
  pt_mlm_outputs o;
  pt_no_grad_enter();
  ck_assert_int_eq(pt_mlm_forward(m, ids, NULL, labels, (pt_nn_mode){0}, false, &o), PT_OK);
  pt_no_grad_exit();
  double l = pt_get(o.loss, 0);
  pt_mlm_outputs_free(&o);
  return l;
}

/* Parity with PyTorch (tests/fixtures/mlm, made by make_fixture.py there
 * from torch_ptv2.MaskedLM = HF BertForMaskedLM): the masked-rows loss, the
 * accuracy count, and the gradient of every parameter, including the tied
 * word embedding (lookup + decoder) and the decoder bias; padded row and
 * 80/10/10 replaced inputs included. The full-sequence head gives the same
 * loss. */
static double max_abs_diff(const pt_tensor *got, const pt_tensor *want) {
  ck_assert_int_eq(pt_numel(got), pt_numel(want));
  double worst = 0;
  for (int64_t i = 0; i < pt_numel(want); i++) {
    double d = fabs(pt_get(got, i) - pt_get(want, i));
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

/* The inputs of tests/fixtures/mlm (and its open inputs/outputs files). */
static void open_mlm_fixture(const char *dir, pt_safetensors **in, pt_safetensors **out,
                             pt_tensor **ids, pt_tensor **mask, pt_tensor **labels) {
  char p[4400];
  snprintf(p, sizeof p, "%s/inputs.safetensors", dir);
  ck_assert_int_eq(pt_safetensors_open(p, in), PT_OK);
  snprintf(p, sizeof p, "%s/outputs.safetensors", dir);
  ck_assert_int_eq(pt_safetensors_open(p, out), PT_OK);
  *ids = pt_safetensors_load(*in, "input_ids", PT_I64);
  *mask = pt_safetensors_load(*in, "attention_mask", PT_I64);
  *labels = pt_safetensors_load(*in, "labels", PT_I64);
  ck_assert_ptr_nonnull(*ids);
  ck_assert_ptr_nonnull(*mask);
  ck_assert_ptr_nonnull(*labels);
}

START_TEST(test_mlm_parity) {
  char dir[4200], p[4400];
  snprintf(dir, sizeof dir, "%s/mlm", getenv("PT_FIXTURES"));
  pt_bert_config cfg;
  ck_assert_msg(pt_bert_config_load(dir, &cfg) == PT_OK, "%s", pt_error_message());
  pt_mlm_model m;
  ck_assert_int_eq(pt_mlm_init(&m, &cfg, 1), PT_OK);
  bool filled[64] = {false};
  ck_assert_int_le(m.params.count, 64);
  pt_load_report rep;
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  ck_assert_msg(pt_params_load_safetensors(&m.params, p, NULL, NULL, filled, &rep) == PT_OK, "%s",
                pt_error_message());
  ck_assert_int_eq(rep.unused, 0);
  for (int i = 0; i < m.params.count; i++) ck_assert_msg(filled[i], "%s not in the fixture", m.params.items[i]->name);
  pt_safetensors *in, *out;
  pt_tensor *ids, *mask, *labels;
  open_mlm_fixture(dir, &in, &out, &ids, &mask, &labels);
  pt_tensor *want_loss = pt_safetensors_load(out, "loss", PT_F64);
  pt_tensor *want_correct = pt_safetensors_load(out, "n_correct", PT_I64);
  ck_assert_ptr_nonnull(want_correct);

  pt_mlm_outputs o;
  ck_assert_int_eq(pt_mlm_forward(&m, ids, mask, labels, (pt_nn_mode){0}, false, &o), PT_OK);
  ck_assert_double_le(fabs(pt_get(o.loss, 0) - pt_get(want_loss, 0)), 1e-5);
  ck_assert_int_eq(o.n_correct, (int64_t)pt_get(want_correct, 0));
  ck_assert_int_gt(o.n_correct, 0);
  ck_assert_int_lt(o.n_correct, o.n_masked);
  ck_assert_int_eq(pt_backward(o.loss, NULL, false), PT_OK);
  double worst = 0;
  for (int i = 0; i < m.params.count; i++) {
    const pt_tensor *w = m.params.items[i];
    char name[256];
    snprintf(name, sizeof name, "grad.%s", w->name);
    pt_tensor *want = pt_safetensors_load(out, name, PT_F64);
    ck_assert_msg(want != NULL && w->grad != NULL, "%s", name);
    double d = max_abs_diff(w->grad, want);
    ck_assert_msg(d <= 1e-5, "%s differs by %.3g", name, d);
    if (d > worst) worst = d;
    pt_tensor_free(want);
  }
  pt_mlm_outputs_free(&o);
  pt_params_zero_grad(&m.params);
  ck_assert_int_eq(pt_mlm_forward(&m, ids, mask, labels, (pt_nn_mode){0}, true, &o), PT_OK);
  ck_assert_double_le(fabs(pt_get(o.loss, 0) - pt_get(want_loss, 0)), 1e-5);
  printf("mlm parity: loss %.7f (torch %.7f), %lld/%lld correct, worst gradient difference %.2e\n",
         pt_get(o.loss, 0), pt_get(want_loss, 0), (long long)o.n_correct, (long long)o.n_masked, worst);
  pt_mlm_outputs_free(&o);
  pt_tensor *t[] = {ids, mask, labels, want_loss, want_correct};
  for (int i = 0; i < 5; i++) pt_tensor_free(t[i]);
  pt_safetensors_close(in);
  pt_safetensors_close(out);
  pt_mlm_free(&m);
}
END_TEST

static void ignore_warning(const char *line, void *ctx) {
  (void)line;
  (void)ctx;
}

/* The inference side of the MLM model: pt_mlm_from_pretrained on the
 * parity fixture gives PyTorch's logits at the labelled rows through
 * pt_mlm_logits_at; a checkpoint without the MLM head is refused naming
 * the missing tensors; `ptune fill-mask --json` on the bundled model prints
 * top-k guesses in falling order that are real vocabulary entries, the
 * first being the one a model of this corpus must give. */
START_TEST(test_fill_mask) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/mlm", getenv("PT_FIXTURES"));
  pt_mlm_model m;
  ck_assert_msg(pt_mlm_from_pretrained(&m, dir) == PT_OK, "%s", pt_error_message());
  pt_safetensors *in, *out;
  pt_tensor *ids, *mask, *labels;
  open_mlm_fixture(dir, &in, &out, &ids, &mask, &labels);
  pt_tensor *want = pt_safetensors_load(out, "logits", PT_F64);
  int64_t rows[64], n = 0;
  for (int64_t i = 0; i < pt_numel(labels) && n < 64; i++)
    if (pt_get(labels, i) != -100) rows[n++] = i;
  pt_no_grad_enter();
  pt_tensor *got = pt_mlm_logits_at(&m, ids, mask, rows, n);
  pt_no_grad_exit();
  ck_assert_ptr_nonnull(got);
  ck_assert_double_le(max_abs_diff(got, want), 1e-5);
  ck_assert_ptr_null(pt_mlm_logits_at(&m, ids, mask, (int64_t[]){999}, 1)); /* row out of range */
  pt_tensor *t[] = {ids, mask, labels, want, got};
  for (int i = 0; i < 5; i++) pt_tensor_free(t[i]);
  pt_safetensors_close(in);
  pt_safetensors_close(out);
  pt_mlm_free(&m);

  snprintf(dir, sizeof dir, "%s/ptv2/bert_finetune_seqcls", getenv("PT_FIXTURES"));
  pt_warn_set_handler(ignore_warning, NULL);
  ck_assert_int_ne(pt_mlm_from_pretrained(&m, dir), PT_OK);
  pt_warn_reset_handler();
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "cls.predictions"));

  char model[4200], outp[400];
  snprintf(model, sizeof model, "%s/../../assets/tiny-bert-uncased", getenv("PT_FIXTURES"));
  snprintf(outp, sizeof outp, "%s/fill.jsonl", root);
  const char *a[] = {"fill-mask", "--model", model, "--json", "--top-k", "3", "--threads", "1",
                     "the united [MASK] of america .", NULL};
  fflush(stdout);
  int saved = dup(1);
  FILE *f = fopen(outp, "w");
  dup2(fileno(f), 1);
  pt_warn_set_handler(ignore_warning, NULL);
  int rc = cli_run(9, (char **)a);
  pt_warn_reset_handler();
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  fclose(f);
  ck_assert_int_eq(rc, 0);
  json_error_t err;
  json_t *j = json_load_file(outp, 0, &err);
  ck_assert_msg(j != NULL, "%s", err.text);
  json_t *masks = json_object_get(j, "masks");
  ck_assert_int_eq(json_array_size(masks), 1);
  json_t *g = json_array_get(masks, 0);
  ck_assert_int_eq(json_array_size(g), 3);
  pt_tokenizer *tok = pt_tokenizer_load(model);
  ck_assert_ptr_nonnull(tok);
  double prev = 1.0, sum = 0;
  for (size_t k = 0; k < 3; k++) {
    json_t *e = json_array_get(g, k);
    double score = json_real_value(json_object_get(e, "score"));
    ck_assert(score > 0 && score <= prev);
    prev = score;
    sum += score;
    const char *s = pt_tokenizer_id_to_token(tok, json_integer_value(json_object_get(e, "token")));
    ck_assert_str_eq(json_string_value(json_object_get(e, "token_str")), s);
  }
  ck_assert_double_le(sum, 1.0 + 1e-9);
  /* the bundled model knows its corpus (65 State of the Union addresses):
   * a wrong weight mapping (tied decoder, bias, LayerNorm names) or a
   * tokenizer mismatch would not give this */
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(g, 0), "token_str")), "states");
  pt_tokenizer_free(tok);
  json_decref(j);
  const char *b[] = {"fill-mask", "--model", model, "no mask here", NULL};
  pt_warn_set_handler(ignore_warning, NULL);
  ck_assert_int_eq(cli_run(4, (char **)b), 1);
  pt_warn_reset_handler();
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "no [MASK] in"));
}
END_TEST

START_TEST(test_tied_embedding_gradient) {
  pt_bert_config cfg;
  tiny_config(&cfg);
  pt_mlm_model m;
  ck_assert_int_eq(pt_mlm_init(&m, &cfg, 4), PT_OK);
  /* the decoder weight is the word embedding itself: no separate tensor */
  ck_assert_ptr_null(pt_params_find(&m.params, "cls.predictions.decoder.weight"));
  ck_assert_ptr_nonnull(pt_params_find(&m.params, "cls.predictions.bias"));
  pt_tensor *ids, *labels;
  tiny_batch(&ids, &labels);
  pt_mlm_outputs o;
  ck_assert_int_eq(pt_mlm_forward(&m, ids, NULL, labels, (pt_nn_mode){0}, false, &o), PT_OK);
  ck_assert_int_eq(pt_backward(o.loss, NULL, false), PT_OK);
  pt_mlm_outputs_free(&o);
  pt_tensor *W = m.bert.word.weight, *g = pt_raw_clone(W->grad);
  int64_t H = cfg.hidden_size;
  /* row 4: looked up and decoded; row 33: a label, decoded only; row 0
   * (the padding row, never looked up): the decoder still updates it */
  int rows[] = {4, 33, 0};
  for (int k = 0; k < 3; k++) {
    int64_t r = rows[k];
    double gn = 0;
    for (int64_t j = 0; j < H; j++) gn += fabs(pt_get(g, r * H + j));
    ck_assert_msg(gn > 1e-6, "row %lld has no gradient", (long long)r);
    /* central differences in F32 on two elements of the row */
    for (int64_t j = 0; j < 2; j++) {
      float *w = (float *)pt_data(W) + r * H + j, w0 = *w;
      const float eps = 1e-2f;
      *w = w0 + eps;
      double lp = loss_of(&m, ids, labels);
      *w = w0 - eps;
      double lm = loss_of(&m, ids, labels);
      *w = w0;
      double fd = (lp - lm) / (2 * (double)eps), an = pt_get(g, r * H + j);
      ck_assert_msg(fabs(fd - an) <= 0.03 * fabs(an) + 2e-4, "row %lld col %lld: fd %g analytic %g",
                    (long long)r, (long long)j, fd, an);
    }
  }
  /* row 4's gradient has both parts: without the lookup (the decoder part
   * alone, computed with the encoder output detached) it differs */
  pt_params_zero_grad(&m.params);
  pt_bert_inputs in = {.input_ids = ids};
  pt_bert_outputs eo;
  ck_assert_int_eq(pt_bert_forward(&m.bert, &in, (pt_nn_mode){0}, &eo), PT_OK);
  pt_tensor *hd = pt_detach(eo.last_hidden);
  pt_tensor *h2 = pt_reshape(hd, 2, PT_SHAPE(16, H));
  pt_tensor *lg = pt_mlm_head(&m, h2);
  pt_tensor *tl = pt_reshape((pt_tensor *)labels, 1, PT_SHAPE(16));
  pt_tensor *l = pt_cross_entropy(lg, tl, -100, 0);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  double diff5 = 0, diff33 = 0;
  for (int64_t j = 0; j < H; j++) {
    diff5 += fabs(pt_get(W->grad, 4 * H + j) - pt_get(g, 4 * H + j));
    diff33 += fabs(pt_get(W->grad, 33 * H + j) - pt_get(g, 33 * H + j));
  }
  ck_assert_msg(diff5 > 1e-6, "the lookup adds nothing to row 4");
  ck_assert_msg(diff33 < 1e-6, "row 33 is not looked up: decoder gradient only (%g)", diff33);
  pt_tensor_free(l);
  pt_tensor_free(tl);
  pt_tensor_free(lg);
  pt_tensor_free(h2);
  pt_tensor_free(hd);
  pt_bert_outputs_free(&eo);
  pt_tensor_free(g);
  pt_tensor_free(ids);
  pt_tensor_free(labels);
  pt_mlm_free(&m);
}
END_TEST

/* A vocabulary of the special tokens plus every wordpiece the corpus
 * uses (same segmentation, ~1k entries, so a tiny run is fast). */
static void make_small_vocab(const char *dir) {
  pt_tokenizer *tok = pt_tokenizer_load(vocab_dir);
  ck_assert_ptr_nonnull(tok);
  const char *paths[] = {corpus_dir};
  mlm_corpus c;
  ck_assert_int_eq(mlm_corpus_read(paths, 1, tok, 32, 0.0, 1, &c), PT_OK);
  int64_t V = pt_tokenizer_vocab_size(tok);
  char *used = calloc((size_t)V, 1);
  for (int64_t i = 0; i < 104; i++) used[i] = 1; /* [PAD], [unused*], [UNK] [CLS] [SEP] [MASK] */
  for (int64_t i = 0; i < c.n_seq * 32; i++) used[c.ids[i]] = 1;
  ck_assert_int_eq(pt_mkdirs(dir), PT_OK);
  char p[4400];
  snprintf(p, sizeof p, "%s/vocab.txt", dir);
  FILE *f = fopen(p, "w");
  ck_assert_ptr_nonnull(f);
  for (int64_t v = 0; v < V; v++)
    if (used[v]) fprintf(f, "%s\n", pt_tokenizer_id_to_token(tok, v));
  fclose(f);
  free(used);
  mlm_corpus_free(&c);
  pt_tokenizer_free(tok);
}

static json_t *load_json(const char *dir, const char *name) {
  char p[4400];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  json_error_t e;
  json_t *j = json_load_file(p, 0, &e);
  ck_assert_msg(j != NULL, "%s: %s", p, e.text);
  return j;
}

static int n_load_warnings;
static char last_load_warning[512];
static void count_warning(const char *line, void *ctx) {
  (void)ctx;
  snprintf(last_load_warning, sizeof last_load_warning, "%s", line);
  n_load_warnings++;
}

/* Every tensor of a's model.safetensors equals b's. */
static void same_weights(const char *a, const char *b) {
  char pa[4400], pb[4400];
  snprintf(pa, sizeof pa, "%s/model.safetensors", a);
  snprintf(pb, sizeof pb, "%s/model.safetensors", b);
  pt_safetensors *fa, *fb;
  ck_assert_int_eq(pt_safetensors_open(pa, &fa), PT_OK);
  ck_assert_int_eq(pt_safetensors_open(pb, &fb), PT_OK);
  ck_assert_int_eq(pt_safetensors_count(fa), pt_safetensors_count(fb));
  for (int i = 0; i < pt_safetensors_count(fa); i++) {
    const char *n = pt_safetensors_name(fa, i);
    pt_tensor *x = pt_safetensors_get(fa, n), *y = pt_safetensors_get(fb, n);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(pt_numel(x), pt_numel(y));
    ck_assert_msg(!memcmp(pt_data(x), pt_data(y), (size_t)pt_numel(x) * 4), "%s differs", n);
    pt_tensor_free(x);
    pt_tensor_free(y);
  }
  pt_safetensors_close(fa);
  pt_safetensors_close(fb);
}

/* Loads DIR as the backbone of a P-Tuning v2 model (prefix P, `labels`
 * labels) for `task`, counting the loader's warnings in n_load_warnings
 * (none is due: the MLM head, cls.*, and the pooler a token classifier
 * does not read go unmentioned). */
static pt_status load_ptv2(pt_backbone *bb, pt_model *m, const char *dir, int64_t P,
                           pt_task_kind task, int64_t labels) {
  const pt_method *me = pt_method_find("ptv2");
  ck_assert_ptr_nonnull(me);
  void *opts = calloc(1, me->opts_size);
  char text[32];
  snprintf(text, sizeof text, "%lld", (long long)P);
  ck_assert_int_eq(pt_options_init(me->options, opts), PT_OK);
  ck_assert_int_eq(pt_option_set_text(pt_option_find_flag(me->options, "pre-seq-len"), opts, text),
                   PT_OK);
  n_load_warnings = 0;
  pt_warn_set_handler(count_warning, NULL);
  pt_status st = pt_backbone_load(bb, dir, pt_backbone_parts_for(task, PT_HEAD_LINEAR), false, -1, 1);
  pt_warn_reset_handler();
  pt_model_config mc = {{task, PT_HEAD_LINEAR, labels, NULL, -1}, 1, NULL, NULL, false};
  if (st == PT_OK) {
    st = pt_model_new(m, bb, me, opts, &mc);
    if (st != PT_OK) pt_backbone_free(bb);
  }
  pt_options_free(me->options, opts);
  free(opts);
  return st;
}

static void free_ptv2(pt_backbone *bb, pt_model *m) {
  pt_model_free(m);
  pt_backbone_free(bb);
}

/* Loads DIR as a P-Tuning v2 token-classification backbone (prefix P,
 * `labels` labels); returns how many warnings named the unused cls.* head. */
static int load_as_backbone(const char *dir, int64_t P, int64_t labels) {
  pt_backbone bb;
  pt_model m;
  pt_status st = load_ptv2(&bb, &m, dir, P, PT_TASK_TOKEN_CLASSIFICATION, labels);
  ck_assert_msg(st == PT_OK, "%s", pt_error_message());
  free_ptv2(&bb, &m);
  return n_load_warnings;
}

START_TEST(test_tiny_pretrain_run) {
  char vdir[400], vfile[420], out[400], outa[400], outb[400];
  snprintf(vdir, sizeof vdir, "%s/vocab", root);
  snprintf(vfile, sizeof vfile, "%s/vocab.txt", vdir);
  snprintf(out, sizeof out, "%s/run", root);
  snprintf(outa, sizeof outa, "%s/full", root);
  snprintf(outb, sizeof outb, "%s/resumed", root);
  make_small_vocab(vdir);
  const char *args[] = {"pretrain", "--corpus", corpus_dir, "--vocab", vfile, "--out", out,
                        "--layers", "2", "--hidden", "32", "--heads", "2", "--intermediate", "64",
                        "--max-seq-len", "32", "--batch-size", "16", "--lr", "1e-3",
                        "--dropout", "0.1", "--heldout-frac", "0.25", "--steps", "300",
                        "--eval-every", "30", "--log-every", "10", "--threads", "2", "--quiet",
                        "--bias-init", "zero", NULL};
  ck_assert_msg(run(args) == 0, "%s", pt_error_message());
  json_t *s = load_json(out, "summary.json");
  double hl = json_number_value(json_object_get(s, "heldout_loss"));
  double ul = json_number_value(json_object_get(s, "unigram_loss"));
  double ha = json_number_value(json_object_get(s, "heldout_acc"));
  double ua = json_number_value(json_object_get(s, "unigram_acc"));
  ck_assert_int_eq(json_integer_value(json_object_get(s, "steps")), 300);
  /* the held-out loss falls from the untrained model's (step 0, about
   * ln V) by more than half a nat. (On 2.7k wordpieces it does not get below
   * the add-one unigram baseline, which is only reported.) */
  char p[4400];
  pt_bert_config bc;
  ck_assert_int_eq(pt_bert_config_load(out, &bc), PT_OK);
  ck_assert_int_eq(bc.num_layers, 2);
  ck_assert_int_eq(bc.hidden_size, 32);
  ck_assert(isfinite(ul) && ul > 0);
  ck_assert(ha >= 0 && ha <= 1 && ua >= 0 && ua <= 1);
  /* the [MASK]-only accuracy counts the 80% of chosen positions shown as
   * [MASK] (the rest are random or kept tokens) */
  int64_t n_sel = json_integer_value(json_object_get(s, "heldout_masked"));
  int64_t n_mask = json_integer_value(json_object_get(s, "heldout_mask_tokens"));
  double ham = json_number_value(json_object_get(s, "heldout_acc_mask"));
  double uam = json_number_value(json_object_get(s, "unigram_acc_mask"));
  ck_assert_msg(n_mask > 0.6 * (double)n_sel && n_mask < 0.95 * (double)n_sel, "%lld of %lld",
                (long long)n_mask, (long long)n_sel);
  ck_assert(ham >= 0 && ham <= 1 && uam >= 0 && uam <= 1);
  json_decref(s);
  /* metrics.jsonl: 30 train lines + 11 held-out lines; plot written */
  snprintf(p, sizeof p, "%s/metrics.jsonl", out);
  FILE *f = fopen(p, "r");
  ck_assert_ptr_nonnull(f);
  char line[512];
  int nt = 0, nh = 0;
  double first_train = 0, last_train = 0, h0 = 0;
  while (fgets(line, sizeof line, f)) {
    json_t *j = json_loads(line, 0, NULL);
    ck_assert_ptr_nonnull(j);
    if (json_object_get(j, "loss")) {
      double l = json_number_value(json_object_get(j, "loss"));
      if (!nt) first_train = l;
      last_train = l;
      nt++;
    }
    if (json_object_get(j, "heldout_loss")) {
      double l = json_number_value(json_object_get(j, "heldout_loss"));
      if (!nh) h0 = l;
      nh++;
    }
    json_decref(j);
  }
  fclose(f);
  ck_assert_int_eq(nt, 30);
  ck_assert_int_eq(nh, 11); /* step 0 and every 30 steps */
  ck_assert_msg(fabs(h0 - log((double)bc.vocab_size)) < 0.3, "untrained %g", h0);
  ck_assert_msg(hl < h0 - 0.5, "held-out loss %g (untrained %g)", hl, h0);
  ck_assert_msg(last_train < first_train - 1, "train loss %g -> %g", first_train, last_train);
  snprintf(p, sizeof p, "%s/loss.svg", out);
  f = fopen(p, "r");
  ck_assert_ptr_nonnull(f);
  char svg[8192];
  size_t n = fread(svg, 1, sizeof svg - 1, f);
  svg[n] = 0;
  fclose(f);
  ck_assert_ptr_nonnull(strstr(svg, "<svg"));
  ck_assert_ptr_nonnull(strstr(svg, "<polyline"));
  ck_assert_ptr_nonnull(strstr(svg, "held-out"));

  /* the directory loads as a bert model: encoder weights equal, quietly
   * (the MLM head and the pooler are parts a token classifier leaves) */
  pt_backbone pbb;
  pt_model pm;
  pt_status st = load_ptv2(&pbb, &pm, out, 4, PT_TASK_TOKEN_CLASSIFICATION, 3);
  ck_assert_msg(st == PT_OK, "%s", pt_error_message());
  ck_assert_msg(n_load_warnings == 0, "%s", last_load_warning);
  snprintf(p, sizeof p, "%s/model.safetensors", out);
  pt_safetensors *sf;
  ck_assert_int_eq(pt_safetensors_open(p, &sf), PT_OK);
  ck_assert_int_lt(pt_safetensors_find(sf, "cls.predictions.decoder.weight"), 0);
  ck_assert_int_ge(pt_safetensors_find(sf, "cls.predictions.transform.LayerNorm.weight"), 0);
  const char *check[] = {"bert.embeddings.word_embeddings.weight",
                         "bert.encoder.layer.1.output.dense.weight"};
  for (int k = 0; k < 2; k++) {
    pt_tensor *x = pt_safetensors_load(sf, check[k], PT_F32), *y = pt_params_find(&pbb.params, check[k]);
    ck_assert_ptr_nonnull(y);
    ck_assert(!memcmp(pt_data(x), pt_data(y), (size_t)pt_numel(x) * 4));
    pt_tensor_free(x);
  }
  pt_safetensors_close(sf);
  free_ptv2(&pbb, &pm);
  /* a classification head (reads the pooler) loads too */
  st = load_ptv2(&pbb, &pm, out, 4, PT_TASK_SEQUENCE_CLASSIFICATION, 2);
  ck_assert_msg(st == PT_OK, "%s", pt_error_message());
  ck_assert(pbb.parts.pooler);
  free_ptv2(&pbb, &pm);

  /* resume: 40 steps at once == 20 steps, stop, --resume to 40 */
  const char *base[] = {"pretrain", "--corpus", corpus_dir, "--vocab", vfile, "--layers", "2",
                        "--hidden", "32", "--heads", "2", "--intermediate", "64", "--max-seq-len",
                        "32", "--batch-size", "8", "--dropout", "0.1", "--heldout-frac", "0.1",
                        "--steps", "40", "--save-every", "15", "--quiet", "--out"};
  int nb = (int)(sizeof base / sizeof *base);
  const char *a1[40], *a2[40], *a3[40];
  for (int i = 0; i < nb; i++) a1[i] = a2[i] = a3[i] = base[i];
  a1[nb] = outa;
  a1[nb + 1] = NULL;
  a2[nb] = outb;
  a2[nb + 1] = "--stop-after";
  a2[nb + 2] = "20";
  a2[nb + 3] = NULL;
  a3[nb] = outb;
  a3[nb + 1] = "--resume";
  a3[nb + 2] = NULL;
  ck_assert_msg(run(a1) == 0, "%s", pt_error_message());
  ck_assert_msg(run(a2) == 0, "%s", pt_error_message());
  snprintf(p, sizeof p, "%s/model.safetensors", outb);
  struct stat sb;
  ck_assert_int_ne(stat(p, &sb), 0); /* stopped early: no model yet */
  ck_assert_msg(run(a3) == 0, "%s", pt_error_message());
  same_weights(outa, outb);
  /* the resumed metrics have each step once */
  snprintf(p, sizeof p, "%s/metrics.jsonl", outb);
  f = fopen(p, "r");
  ck_assert_ptr_nonnull(f);
  int steps_seen[41] = {0};
  while (fgets(line, sizeof line, f)) {
    json_t *j = json_loads(line, 0, NULL);
    if (json_object_get(j, "loss")) steps_seen[json_integer_value(json_object_get(j, "step"))]++;
    json_decref(j);
  }
  fclose(f);
  for (int k = 10; k <= 40; k += 10) ck_assert_int_eq(steps_seen[k], 1);
  /* the training time survives a resume: stop at 20 (its checkpoint records
   * the seconds so far), resume with --steps 20 (nothing left to run): the
   * summary reports the first part's seconds */
  char oute[420];
  snprintf(oute, sizeof oute, "%s/timed", root);
  a2[nb] = oute;
  ck_assert_msg(run(a2) == 0, "%s", pt_error_message());
  double first_part;
  { /* the checkpoint (the shared format of apps/train/checkpoint.h) */
    json_t *ckpt = load_json(oute, "checkpoint.json");
    json_t *secs = json_object_get(ckpt, "train_seconds");
    ck_assert(json_is_number(secs));
    first_part = json_number_value(secs);
    json_decref(ckpt);
  }
  ck_assert(first_part > 0);
  const char *a4[40];
  for (int i = 0; i < nb; i++) a4[i] = base[i];
  a4[nb] = oute;
  a4[nb + 1] = "--resume";
  a4[nb + 2] = "--steps";
  a4[nb + 3] = "20";
  a4[nb + 4] = NULL;
  ck_assert_msg(run(a4) == 0, "%s", pt_error_message());
  s = load_json(oute, "summary.json");
  ck_assert_int_eq(json_integer_value(json_object_get(s, "steps")), 20);
  double secs_sum = json_number_value(json_object_get(s, "train_seconds"));
  ck_assert_msg(fabs(secs_sum - first_part) <= 0.051, "%g vs %g", secs_sum, first_part);
  json_decref(s);
  /* a checkpoint made with other sizes is refused */
  const char *bad[] = {"pretrain", "--corpus", corpus_dir, "--vocab", vfile, "--layers", "1",
                       "--hidden", "32", "--heads", "2", "--intermediate", "64", "--max-seq-len",
                       "32", "--batch-size", "8", "--steps", "40", "--quiet", "--resume", "--out",
                       outb, NULL};
  ck_assert_int_ne(run(bad), 0);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "other options"));
  /* no held-out set: the summary says null, and is still JSON */
  char outc[420];
  snprintf(outc, sizeof outc, "%s/noheld", root);
  const char *nh0[] = {"pretrain", "--corpus", corpus_dir, "--vocab", vfile, "--layers", "1",
                       "--hidden", "16", "--heads", "2", "--intermediate", "32", "--max-seq-len",
                       "32", "--batch-size", "4", "--steps", "3", "--heldout-frac", "0", "--quiet",
                       "--out", outc, NULL};
  ck_assert_msg(run(nh0) == 0, "%s", pt_error_message());
  s = load_json(outc, "summary.json");
  ck_assert(json_is_null(json_object_get(s, "heldout_loss")));
  ck_assert_int_eq(json_integer_value(json_object_get(s, "steps")), 3);
  json_decref(s);

  /* the default unigram decoder bias: the untrained model already scores
   * about the unigram baseline; --save-dtype f16 stores F16 tensors, says so
   * in config.json, and the directory still loads */
  char outd[420];
  snprintf(outd, sizeof outd, "%s/unigram", root);
  const char *ug[] = {"pretrain", "--corpus", corpus_dir, "--vocab", vfile, "--layers", "1",
                      "--hidden", "16", "--heads", "2", "--intermediate", "32", "--max-seq-len",
                      "32", "--batch-size", "4", "--steps", "1", "--heldout-frac", "0.25",
                      "--eval-every", "1", "--save-dtype", "f16", "--position-init", "sinusoid",
                      "--lr", "1e-6", "--quiet", "--out", outd, NULL};
  ck_assert_msg(run(ug) == 0, "%s", pt_error_message());
  s = load_json(outd, "summary.json");
  ul = json_number_value(json_object_get(s, "unigram_loss"));
  ck_assert_str_eq(json_string_value(json_object_get(s, "bias_init")), "unigram");
  json_decref(s);
  snprintf(p, sizeof p, "%s/metrics.jsonl", outd);
  f = fopen(p, "r");
  ck_assert_ptr_nonnull(f);
  h0 = NAN;
  while (fgets(line, sizeof line, f) && isnan(h0)) {
    json_t *j = json_loads(line, 0, NULL);
    if (json_object_get(j, "heldout_loss") && json_integer_value(json_object_get(j, "step")) == 0)
      h0 = json_number_value(json_object_get(j, "heldout_loss"));
    json_decref(j);
  }
  fclose(f);
  ck_assert_msg(fabs(h0 - ul) < 0.3, "untrained %g, unigram %g", h0, ul);
  json_t *cj = load_json(outd, "config.json");
  ck_assert_str_eq(json_string_value(json_object_get(cj, "torch_dtype")), "float16");
  json_decref(cj);
  snprintf(p, sizeof p, "%s/model.safetensors", outd);
  ck_assert_int_eq(pt_safetensors_open(p, &sf), PT_OK);
  pt_dtype dt;
  int64_t shape[PT_MAX_DIMS];
  int nd;
  ck_assert_int_eq(pt_safetensors_info(sf, "bert.embeddings.word_embeddings.weight", &dt, &nd, shape), PT_OK);
  ck_assert_int_eq(dt, PT_F16);
  /* --position-init sinusoid: row p is sin/cos of p times 10000^(-2k/H)
   * plus k times the golden angle for pair k, scaled to RMS 0.02 (one step
   * at lr 1e-6 moves nothing visible) */
  pt_tensor *pe = pt_safetensors_load(sf, "bert.embeddings.position_embeddings.weight", PT_F32);
  ck_assert_ptr_nonnull(pe);
  const float *w = pt_data(pe);
  int64_t H = pe->shape[1];
  for (int64_t q = 0; q < 3; q++)
    for (int64_t i = 0; i < H; i++) {
      double f = pow(10000.0, -(double)(i / 2 * 2) / (double)H);
      double a = (double)q * f + (double)(i / 2) * 2.399963229728653;
      double want = 0.02 * sqrt(2.0) * (i % 2 ? cos(a) : sin(a));
      ck_assert_msg(fabs(w[q * H + i] - want) < 1e-4, "pos %lld col %lld: %g vs %g", (long long)q,
                    (long long)i, w[q * H + i], want);
    }
  pt_tensor_free(pe);
  pt_safetensors_close(sf);
  st = load_ptv2(&pbb, &pm, outd, 4, PT_TASK_TOKEN_CLASSIFICATION, 3);
  ck_assert_msg(st == PT_OK, "%s", pt_error_message());
  free_ptv2(&pbb, &pm);
}
END_TEST

/* The shared loop's micro-batches in pretraining: --grad-accum 2 runs (two
 * batches of 4 a step), and a run stopped after step 3 (pretrain writes a
 * checkpoint there, in the loop's one format: checkpoint.json + ckpt-3/)
 * and resumed ends with the uninterrupted run's weights. */
START_TEST(test_grad_accum_resume) {
  char vdir[400], vfile[420], full[400], parts[400];
  snprintf(vdir, sizeof vdir, "%s/vocab", root);
  snprintf(vfile, sizeof vfile, "%s/vocab.txt", vdir);
  snprintf(full, sizeof full, "%s/accum_full", root);
  snprintf(parts, sizeof parts, "%s/accum_parts", root);
  make_small_vocab(vdir);
  const char *base[] = {"pretrain", "--corpus", corpus_dir, "--vocab", vfile, "--layers", "1",
                        "--hidden", "16", "--heads", "2", "--intermediate", "32", "--max-seq-len",
                        "32", "--batch-size", "4", "--grad-accum", "2", "--dropout", "0.1",
                        "--heldout-frac", "0.1", "--steps", "8", "--save-every", "2", "--threads",
                        "1", "--quiet", "--out"};
  int nb = (int)(sizeof base / sizeof *base);
  const char *a[40];
  for (int i = 0; i < nb; i++) a[i] = base[i];
  a[nb] = full;
  a[nb + 1] = NULL;
  ck_assert_msg(run(a) == 0, "%s", pt_error_message());
  a[nb] = parts;
  a[nb + 1] = "--stop-after";
  a[nb + 2] = "3";
  a[nb + 3] = NULL;
  ck_assert_msg(run(a) == 0, "%s", pt_error_message());
  json_t *ck = load_json(parts, "checkpoint.json");
  ck_assert_int_eq(json_integer_value(json_object_get(ck, "step")), 3);
  ck_assert_str_eq(json_string_value(json_object_get(ck, "dir")), "ckpt-3");
  json_decref(ck);
  a[nb + 1] = "--resume";
  a[nb + 2] = NULL;
  ck_assert_msg(run(a) == 0, "%s", pt_error_message());
  same_weights(full, parts);
  /* the metrics: 8 steps, each logged once (log every 10: the last) */
  json_t *s = load_json(full, "summary.json");
  ck_assert_int_eq(json_integer_value(json_object_get(s, "steps")), 8);
  ck_assert_int_eq(json_integer_value(json_object_get(s, "tokens")), 8 * 2 * 4 * 32);
  json_decref(s);
}
END_TEST

/* The committed model (assets/tiny-bert-uncased): its files agree with each
 * other and with the summary of the run that made it, and it loads as a
 * backbone with every encoder tensor present and finite. */
START_TEST(test_bundled_model) {
  char dir[4200], p[4400];
  snprintf(dir, sizeof dir, "%s/../../assets/tiny-bert-uncased", getenv("PT_FIXTURES"));
  json_t *sum = load_json(dir, "summary.json");
  pt_bert_config bc;
  ck_assert_msg(pt_bert_config_load(dir, &bc) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(bc.num_layers, json_integer_value(json_object_get(sum, "layers")));
  ck_assert_int_eq(bc.hidden_size, json_integer_value(json_object_get(sum, "hidden")));
  ck_assert_int_eq(bc.max_position,
                   json_integer_value(json_object_get(sum, "max_seq_len")));
  /* every stored tensor is F16 and they add up to the run's parameter count */
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  pt_safetensors *sf = NULL;
  ck_assert_msg(pt_safetensors_open(p, &sf) == PT_OK, "%s", pt_error_message());
  int64_t total = 0;
  for (int i = 0; i < pt_safetensors_count(sf); i++) {
    pt_dtype dt;
    int64_t shape[PT_MAX_DIMS], n = 1;
    int nd;
    ck_assert_int_eq(pt_safetensors_info(sf, pt_safetensors_name(sf, i), &dt, &nd, shape), PT_OK);
    ck_assert_int_eq(dt, PT_F16);
    for (int d = 0; d < nd; d++) n *= shape[d];
    total += n;
  }
  pt_safetensors_close(sf);
  /* the file also holds an untrained pooler (H x H + H) for BertModel */
  ck_assert_int_eq(total, json_integer_value(json_object_get(sum, "params")) +
                              bc.hidden_size * bc.hidden_size + bc.hidden_size);
  json_decref(sum);
  /* the vocabulary has a line per embedding row */
  pt_tokenizer *tok = pt_tokenizer_load(dir);
  ck_assert_msg(tok != NULL, "%s", pt_error_message());
  ck_assert_int_eq(pt_tokenizer_vocab_size(tok), bc.vocab_size);
  pt_tokenizer_free(tok);
  /* it loads as a task model's backbone without a warning */
  ck_assert_msg(load_as_backbone(dir, 16, 9) == 0, "%s", last_load_warning);
}
END_TEST

/* --attention-init offset: with the model's own embedding tables (random
 * tokens, token type 0, sinusoid positions) through a plain LayerNorm,
 * head h of every layer at query position i puts its largest weight on
 * key position i + offset(h) (in at least 90% of rows: content still adds
 * some noise) and on average a large share of it (uniform would be 1/32). */
START_TEST(test_attention_offset_init) {
  pt_bert_config cfg;
  tiny_config(&cfg);
  cfg.hidden_size = 224; /* the bundled model's width: 4 heads of 56 */
  cfg.num_heads = 4;
  cfg.num_layers = 2;
  cfg.max_position = 32;
  pt_mlm_model m;
  ck_assert_int_eq(pt_mlm_init(&m, &cfg, 5), PT_OK);
  pt_tensor *pos = pt_params_find(&m.params, "bert.embeddings.position_embeddings.weight");
  pretrain_position_sinusoid(pos, cfg.init_std);
  ck_assert_int_eq(pretrain_attention_offset(&m.params, 2, 4, 224), PT_OK);
  ck_assert_int_eq(pretrain_head_offset(0), -1);
  ck_assert_int_eq(pretrain_head_offset(3), 2);
  enum { P = 32, H = 224, NH = 4, DH = 56 };
  static double x[P][H], q[P][H], k[P][H];
  const float *pw = pt_data(pos);
  const float *ww = pt_data(pt_params_find(&m.params, "bert.embeddings.word_embeddings.weight"));
  const float *tw = pt_data(pt_params_find(&m.params, "bert.embeddings.token_type_embeddings.weight"));
  for (int i = 0; i < P; i++) {
    int64_t tok = 1 + (i * 13 + 5) % 39;
    double e[H], mean = 0, var = 0;
    for (int c = 0; c < H; c++) e[c] = ww[tok * H + c] + pw[i * H + c] + tw[c], mean += e[c] / H;
    for (int c = 0; c < H; c++) var += (e[c] - mean) * (e[c] - mean) / H;
    for (int c = 0; c < H; c++) x[i][c] = (e[c] - mean) / sqrt(var + 1e-12);
  }
  for (int l = 0; l < 2; l++) {
    char name[96];
    snprintf(name, sizeof name, "bert.encoder.layer.%d.attention.self.query.weight", l);
    const float *wq = pt_data(pt_params_find(&m.params, name));
    snprintf(name, sizeof name, "bert.encoder.layer.%d.attention.self.key.weight", l);
    const float *wk = pt_data(pt_params_find(&m.params, name));
    for (int i = 0; i < P; i++)
      for (int o = 0; o < H; o++) {
        q[i][o] = k[i][o] = 0;
        for (int c = 0; c < H; c++) {
          q[i][o] += wq[o * H + c] * x[i][c];
          k[i][o] += wk[o * H + c] * x[i][c];
        }
      }
    for (int h = 0; h < NH; h++) {
      int d = (int)pretrain_head_offset(h), rows = 0, hits = 0;
      double share = 0;
      for (int i = 0; i < P; i++) {
        if (i + d < 0 || i + d >= P) continue;
        double sc[P], mx = -1e300, z = 0;
        int best = -1;
        for (int j = 0; j < P; j++) {
          sc[j] = 0;
          for (int e = h * DH; e < (h + 1) * DH; e++) sc[j] += q[i][e] * k[j][e];
          sc[j] /= sqrt((double)DH);
          if (sc[j] > mx) mx = sc[j], best = j;
        }
        for (int j = 0; j < P; j++) z += exp(sc[j] - mx);
        rows++;
        hits += best == i + d;
        share += exp(sc[i + d] - mx) / z;
      }
      ck_assert_msg(hits >= rows * 9 / 10, "layer %d head %d (offset %d): %d of %d rows peak at the offset",
                    l, h, d, hits, rows);
      ck_assert_double_gt(share / rows, 0.3);
      printf("offset heads: layer %d head %d (offset %+d): peak at the offset in %d of %d rows, "
             "mean weight there %.2f\n", l, h, d, hits, rows, share / rows);
    }
  }
  pt_mlm_free(&m);
}
END_TEST

START_TEST(test_errors) {
  const char *a[] = {"pretrain", "--corpus", corpus_dir, "--out", root, "--steps", "1", NULL};
  ck_assert_int_ne(run(a), 0); /* no --vocab */
  char vf[4200];
  snprintf(vf, sizeof vf, "%s/vocab.txt", vocab_dir);
  const char *b[] = {"pretrain", "--corpus", corpus_dir, "--vocab", vf, "--out", root, NULL};
  ck_assert_int_ne(run(b), 0); /* neither --steps nor --minutes */
  const char *c[] = {"pretrain", "--corpus", "/nonexistent/x", "--vocab", vf, "--out", root,
                     "--steps", "1", "--quiet", NULL};
  ck_assert_int_ne(run(c), 0);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "/nonexistent/x"));
  const char *d[] = {"pretrain", "--corpus", corpus_dir, "--vocab", vf, "--out", root,
                     "--steps", "x", NULL};
  ck_assert_int_ne(run(d), 0);
  const char *e[] = {"pretrain", "--corpus", corpus_dir, "--vocab", vf, "--out", root,
                     "--steps", "1", "--position-init", "normal", NULL};
  ck_assert_int_ne(run(e), 0); /* the default offset heads need the sinusoid table */
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "--position-init sinusoid"));
  const char *h[] = {"pretrain", "--help", NULL};
  ck_assert_int_eq(run(h), 0);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("pretrain");
  TCase *tc = tcase_create("pretrain");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_text_normalize);
  tcase_add_test(tc, test_packing);
  tcase_add_test(tc, test_masking_stats);
  tcase_add_test(tc, test_head_masked_rows_equals_full);
  tcase_add_test(tc, test_tied_embedding_gradient);
  tcase_add_test(tc, test_mlm_parity);
  tcase_add_test(tc, test_fill_mask);
  tcase_add_test(tc, test_tiny_pretrain_run);
  tcase_add_test(tc, test_grad_accum_resume);
  tcase_add_test(tc, test_bundled_model);
  tcase_add_test(tc, test_attention_offset_init);
  tcase_add_test(tc, test_errors);
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
