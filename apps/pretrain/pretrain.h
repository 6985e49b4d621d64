/* The pieces behind `ptune pretrain`: a plain-text corpus packed into
 * fixed-length sequences with a held-out split (pretrain_data.c), BERT
 * masking (pretrain_data.c), starting points for the weights
 * (pretrain_init.c) and an SVG line plot (plot_svg.c).
 *
 * Packing (documented choice, as the PyTorch anchor did): the text is
 * tokenized into one stream of wordpieces, file after file in the order
 * given (directories: their *.txt files in name order), and cut into chunks
 * of max_len − 2 wordpieces, each becoming [CLS] chunk [SEP]: every sequence
 * is exactly max_len long, so no padding and no attention mask. A chunk may
 * span the end of one file and the start of the next; only the final short
 * remainder of the whole stream is dropped.
 *
 * Ownership: structs are caller-owned and released with their *_free
 * (which also accept a zeroed struct). */
#ifndef APPS_PRETRAIN_PRETRAIN_H
#define APPS_PRETRAIN_PRETRAIN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "apps/cli/options.h"
#include "models/pt_mlm.h"
#include "models/pt_tokenizer.h"
#include "nn/pt_params.h"
#include "tensor/pt_tensor.h"

/* Decodes a file's bytes to UTF-8 text with LF line ends: kept as is when
 * valid UTF-8, else read as Latin-1 (*latin1 set); CRLF and lone CR become
 * LF. *out is malloc'ed (free()), NUL-terminated, *out_n bytes long. */
pt_status text_normalize(const char *bytes, size_t n, char **out, size_t *out_n, bool *latin1);

typedef struct {
  int64_t max_len;        /* S */
  int64_t n_seq;          /* sequences */
  int64_t *ids;           /* [n_seq, S] */
  int64_t n_train, n_heldout;
  int64_t *train, *heldout; /* sequence indices (train in file order) */
  int64_t n_pieces;       /* wordpieces read (before the remainder is dropped) */
  int64_t n_files, n_latin1, n_unk;
  int64_t *counts;        /* [V] occurrences of each id in the train sequences, specials excluded */
  int64_t vocab_size;
} mlm_corpus;

/* Reads every file (or directory's *.txt files) of paths[0..n), tokenizes
 * and packs it, and holds out round(heldout_frac · n_seq) random sequences
 * (seeded; at least one when heldout_frac > 0). Errors name the path. */
pt_status mlm_corpus_read(const char *const *paths, int n, const pt_tokenizer *tok,
                             int64_t max_len, double heldout_frac, uint64_t seed,
                             mlm_corpus *c);
void mlm_corpus_free(mlm_corpus *c);

/* BERT masking: `prob` of the non-special tokens are chosen (each one, or
 * with whole_word each word: a piece starting with "##" joins the word
 * before it and shares its decision); a chosen token becomes [MASK] with
 * probability 0.8, a uniformly random id in [0, V) with 0.1, and stays with
 * 0.1; its label is the original id, every other label -100. Special tokens
 * ([CLS], [SEP], [PAD], [UNK], [MASK]) are never chosen. */
typedef struct {
  int64_t vocab_size, mask_id;
  uint8_t *special; /* [V] */
  uint8_t *cont;    /* [V] 1 for "##" pieces */
  double prob;
  bool whole_word;
} masker;

pt_status masker_init(masker *mk, const pt_tokenizer *tok, double prob, bool whole_word);
void masker_free(masker *mk);
/* Masks one sequence of S ids. The draws are a pure function of (seed,
 * stream): the same stream masks the same way, whatever came before. */
void masker_apply(const masker *mk, const int64_t *ids, int64_t S, uint64_t seed,
                     uint64_t stream, int64_t *ids_out, int64_t *labels);

/* The training sequence at global position p (0, 1, 2, ... over all
 * epochs): epoch p / n_train visits the train sequences in a random order
 * drawn from (seed, epoch). Returns the index into c->ids. *perm_cache
 * (n_train entries, malloc'ed on first use, free() it) and *perm_epoch
 * (start at -1) cache the current epoch's order. */
int64_t mlm_train_seq(const mlm_corpus *c, uint64_t seed, int64_t p, int64_t **perm_cache,
                         int64_t *perm_epoch);

/* ---- pretrain_init.c: weight starting points (the model keeps HF's
 * architecture and names; only the initial values differ) ---- */

/* The decoder bias set to the add-one smoothed log frequencies of the
 * training tokens: the model starts out predicting the unigram
 * distribution (loss ~6.7 nats instead of ln V ~10.3) instead of spending
 * its first few hundred steps learning it through Adam steps of size lr. */
void pretrain_bias_unigram(const mlm_corpus *c, pt_tensor *bias);

/* The learned position table [P, H] started as the Transformer's sin/cos
 * waves (even dimensions sin, odd cos; pair k shifted by phase k times the
 * golden angle, so rows have near-zero mean), scaled to the RMS of HF's
 * N(0, std) init: the embedding of position p + d is then a fixed rotation
 * of that of p, so attention by relative offset is one linear map away. */
void pretrain_position_sinusoid(pt_tensor *pos, double std);

/* The relative offset head h of every layer attends to at the start under
 * pretrain_attention_offset: -1, +1, -2, +2, -3, ... */
int64_t pretrain_head_offset(int64_t h);

/* Sets the query and key weights of every layer's heads so that head h
 * starts out attending around position i + pretrain_head_offset(h)
 * from position i, given a sinusoid position table (see above): MLM at a
 * [MASK] can only beat the unigram guess by reading its neighbours, and
 * with near-uniform attention over 128 positions the gradient towards
 * doing so is ~1/128 as strong: the plateau small BERTs sit on. The
 * heads read dimensions [0, head size), which the word and token-type
 * embeddings leave at zero to start with. Biases stay zero; value/output
 * weights keep their random start. Fails (status and message) for an odd
 * head size or missing weights. */
pt_status pretrain_attention_offset(pt_params *ps, int64_t layers, int64_t heads, int64_t hidden);

/* ---- heldout.c: the held-out set ---- */

typedef struct {
  int64_t n, S;
  int64_t *ids, *labels; /* [n, S] */
  int64_t *mask_labels;  /* [n, S]: labels only where the input is [MASK] */
  int64_t n_masked, n_mask_token;
  double unigram_loss, unigram_acc, unigram_acc_mask;
  int64_t unigram_id;
} heldout_set;

/* The held-out sequences of c masked once with eval_seed, and the unigram
 * baseline (always the most frequent training token; its loss from the
 * add-one smoothed training frequencies). Free with heldout_free. */
pt_status heldout_make(const mlm_corpus *c, const masker *mk, uint64_t eval_seed, heldout_set *h);
void heldout_free(heldout_set *h);

/* The held-out scores: loss and accuracy over every chosen position (the
 * 10% kept ones can be copied from the input), and accuracy over the [MASK]
 * positions alone, the part that only context can predict. */
typedef struct {
  double loss, acc, acc_mask;
} heldout_score;

/* The model's scores on h, in batches of B (eval mode). */
pt_status heldout_evaluate(const pt_mlm_model *m, const heldout_set *h, int64_t B,
                           heldout_score *r);

/* ---- mlm.c: the job ---- */

/* `ptune pretrain` with its parsed options: a bert model directory in
 * --out, with metrics.jsonl, loss.svg, summary.json and checkpoints. */
pt_status pretrain_run(run_args *a);

#endif
