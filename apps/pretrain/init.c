/* Starting points for `ptune pretrain` beyond Hugging Face's N(0, 0.02):
 * each skips part of a plateau that a small BERT otherwise spends its
 * budget on. All keep the architecture and the parameter names, so the
 * result is still a plain `bert` model directory. */
#include <math.h>
#include <stdio.h>

#include "apps/pretrain/pretrain.h"

void pretrain_bias_unigram(const mlm_corpus *c, pt_tensor *bias) {
  int64_t total = 0;
  for (int64_t v = 0; v < c->vocab_size; v++) total += c->counts[v];
  float *b = pt_data(bias);
  for (int64_t v = 0; v < c->vocab_size; v++)
    b[v] = (float)log((double)(c->counts[v] + 1) / (double)(total + c->vocab_size));
}

/* Angular frequency of sin/cos pair k (dimensions 2k, 2k+1) of an H-wide
 * table: the Transformer's 10000^(-2k/H), highest first. */
static double pair_freq(int64_t k, int64_t H) { return pow(10000.0, -(double)(2 * k) / (double)H); }

/* Pair k starts at phase k·(golden angle): with every pair at phase 0 the
 * slow pairs (cos ≈ 1 for all p) give each row a large mean that depends
 * on p, and the LayerNorm after the embeddings subtracts it, bending the
 * rotations the offset heads rely on. Spread phases cancel in the mean. */
#define GOLDEN_ANGLE 2.399963229728653

void pretrain_position_sinusoid(pt_tensor *pos, double std) {
  int64_t P = pos->shape[0], H = pos->shape[1];
  float *w = pt_data(pos);
  double scale = std * sqrt(2.0);
  for (int64_t p = 0; p < P; p++)
    for (int64_t i = 0; i < H; i++) {
      double a = (double)p * pair_freq(i / 2, H) + (double)(i / 2) * GOLDEN_ANGLE;
      w[p * H + i] = (float)(scale * (i % 2 ? cos(a) : sin(a)));
    }
}

int64_t pretrain_head_offset(int64_t h) { return (h / 2 + 1) * (h % 2 ? 1 : -1); }

/* Why this works: with the sinusoid table, position p + d is position p
 * rotated by d·ω_k in every pair k. A head whose key reads the pairs of
 * its input as they are and whose query reads them rotated by d scores
 * key position j against query position i by Σ_k cos((i + d − j)·ω_k):
 * largest at j = i + d. The heads read the dh fastest pairs (dimensions
 * [0, dh)); the word and token-type embeddings start at zero there, since
 * their content would otherwise add noise of the same size (the token at
 * i itself scores highest through the near-identity rotations of the slow
 * pairs, and the head looks at the [MASK] instead of its neighbour). With
 * that, a head puts about 58% of its weight on i + d at width 224
 * (test_attention_offset_init prints it).
 *
 * Scale: after the embedding LayerNorm (three N(0, σ²)-sized sources, the
 * sinusoid with amplitude σ√2), a pair's amplitude is about √(2/3). With
 * weight c on each selected dimension, the position score at the target is
 * c² · (2/3) · (dh/2) / √dh; c is chosen to make that PEAK_LOGIT, enough
 * to leave distant positions e^-8 of the weight while near ones still
 * compete with the content noise. */
#define PEAK_LOGIT 8.0

pt_status pretrain_attention_offset(pt_params *ps, int64_t layers, int64_t heads,
                                       int64_t hidden) {
  if (heads <= 0 || hidden % heads)
    return pt_error(PT_ERR_ARG, "pretrain: hidden %lld is not a multiple of %lld heads",
                    (long long)hidden, (long long)heads);
  int64_t dh = hidden / heads;
  if (dh % 2)
    return pt_error(PT_ERR_ARG,
                    "pretrain: --attention-init offset (the default) needs an even head size, "
                    "got %lld; add --attention-init normal",
                    (long long)dh);
  double c = sqrt(PEAK_LOGIT * sqrt((double)dh) / ((2.0 / 3.0) * (double)(dh / 2)));
  char name[128];
  const char *content[] = {"bert.embeddings.word_embeddings.weight",
                           "bert.embeddings.token_type_embeddings.weight"};
  for (int t = 0; t < 2; t++) {
    pt_tensor *e = pt_params_find(ps, content[t]);
    if (!e) return pt_error(PT_ERR_ARG, "pretrain: no %s", content[t]);
    float *w = pt_data(e);
    for (int64_t r = 0; r < e->shape[0]; r++)
      for (int64_t c2 = 0; c2 < dh; c2++) w[r * hidden + c2] = 0.0f;
  }
  for (int64_t l = 0; l < layers; l++) {
    snprintf(name, sizeof name, "bert.encoder.layer.%lld.attention.self.query.weight", (long long)l);
    pt_tensor *q = pt_params_find(ps, name);
    snprintf(name, sizeof name, "bert.encoder.layer.%lld.attention.self.key.weight", (long long)l);
    pt_tensor *k = pt_params_find(ps, name);
    if (!q || !k) return pt_error(PT_ERR_ARG, "pretrain: layer %lld has no query/key weights", (long long)l);
    float *wq = pt_data(q), *wk = pt_data(k); /* [out = hidden, in = hidden] */
    for (int64_t i = 0; i < hidden * hidden; i++) wq[i] = wk[i] = 0.0f;
    for (int64_t h = 0; h < heads; h++) {
      double d = (double)pretrain_head_offset(h);
      for (int64_t p = 0; p < dh / 2; p++) {
        double a = d * pair_freq(p, hidden);
        int64_t rs = (h * dh + 2 * p) * hidden, rc = rs + hidden; /* rows: sin, cos part */
        int64_t s = 2 * p, co = 2 * p + 1;                          /* input columns */
        /* query = the pair rotated forward by d: (sin(x+a), cos(x+a)) */
        wq[rs + s] = (float)(c * cos(a));
        wq[rs + co] = (float)(c * sin(a));
        wq[rc + s] = (float)(-c * sin(a));
        wq[rc + co] = (float)(c * cos(a));
        wk[rs + s] = (float)c;
        wk[rc + co] = (float)c;
      }
    }
  }
  return PT_OK;
}
