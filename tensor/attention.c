/* Scaled dot-product attention with optional prefix keys/values: forward
 * and backward on data, one OpenMP iteration per (batch, head), each running
 * single-threaded GEMMs straight on the operands' strides.
 *
 * Letters: B batch, NH heads, S queries, T token keys, P prefix keys,
 * L = P+T, HD head dim. The prefix is never concatenated to the tokens: the
 * [S, L] scores buffer takes q·prefix_kᵀ in columns [0, P) and q·kᵀ in
 * columns [P, L) (two GEMMs with ldc = L), and every product with the
 * probabilities splits the same way. */
#include "tensor/pt_attention.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "tensor/pt_matmul.h"
#include "tensor/pt_rng.h"
#include "tensor/pt_vmath.h"

/* A [B, NH, R, C] operand as BLAS reads it per (b, h): row-major with
 * leading dimension ld, or column-major (tr: a transposed view, read with the
 * opposite transpose flag). `hold` is a copy made when neither fits. */
typedef struct {
  const char *base; /* element (0, 0, 0, 0); NULL for an absent operand */
  int64_t sb, sh, ld;
  bool tr;
  pt_tensor *hold;
} mat;

static pt_status mat_of(const pt_tensor *t, mat *m) {
  memset(m, 0, sizeof *m);
  if (!t) return PT_OK;
  for (int pass = 0; pass < 2; pass++) {
    int64_t rows = t->shape[2], cols = t->shape[3], rs = t->strides[2], cs = t->strides[3];
    bool ok = false;
    if ((cs == 1 || cols == 1) && rs >= (cols > 1 ? cols : 1)) {
      ok = true;
      m->ld = rs;
    } else if ((rs == 1 || rows == 1) && cs >= (rows > 1 ? rows : 1)) {
      ok = true;
      m->tr = true;
      m->ld = cs;
    }
    if (ok) {
      if (m->ld < 1) m->ld = 1;
      m->base = pt_data(t);
      m->sb = t->strides[0];
      m->sh = t->strides[1];
      return PT_OK;
    }
    m->hold = pt_raw_clone(t); /* contiguous: the second pass accepts it */
    if (!m->hold) return pt_error_code();
    t = m->hold;
  }
  return PT_OK;
}

static inline const void *mat_at(const mat *m, int64_t b, int64_t h, size_t esz) {
  return m->base ? m->base + (b * m->sb + h * m->sh) * (int64_t)esz : NULL;
}

/* C[M,N] = alpha·op(A)·op(B) + beta·C where op(X) reads X transposed when
 * `tx` differs from X's own storage flag. An empty sum (K = 0) leaves C
 * alone when beta is 1 and zeroes it when beta is 0. */
static void mm(pt_dtype dt, int64_t M, int64_t N, int64_t K, double alpha, const void *A,
               int64_t lda, bool ta, const void *B, int64_t ldb, bool tb, double beta, void *C,
               int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    size_t esz = pt_dtype_size(dt);
    if (beta == 0.0)
      for (int64_t r = 0; r < M; r++) memset((char *)C + (size_t)(r * ldc) * esz, 0, (size_t)N * esz);
    return;
  }
  pt_gemm(dt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Draws of pt_rng_bits >> 11 at or above this survive dropout p (the rule
 * of pt_dropout_keep, inlined). */
static uint64_t keep_threshold(double p) { return (uint64_t)ceil(p * 9007199254740992.0); }

/* Row kernels on one (b, h) block. Layout: sc, dr, ds, pr are [S, L]
 * row-major (ld L); the mask block m is read with strides ms2, ms3; flat0
 * is the dropout counter of element (s = 0, j = 0). Each pass over a row is
 * its own loop so gcc vectorizes it (pt_expf for F32, the seed hashed once
 * with pt_rng_key, sums in double). */
#define ATTN_ROWS(T, SUF, EXP)                                                          \
  /* sc = softmax(sc + m) per row; dr = dropout(sc) when dr != sc. */                  \
  static void fwd_rows_##SUF(T *sc, T *dr, int64_t S, int64_t L, const T *m, int64_t ms2,  \
                             int64_t ms3, double p, uint64_t seed, uint64_t flat0) {      \
    uint64_t thr = keep_threshold(p), key = pt_rng_key(seed);                          \
    T inv = p < 1.0 ? (T)(1.0 / (1.0 - p)) : (T)0;                                     \
    for (int64_t s = 0; s < S; s++) {                                                  \
      T *row = sc + s * L;                                                             \
      if (m && ms3 == 1) {                                                             \
        const T *mr = m + s * ms2;                                                     \
        for (int64_t j = 0; j < L; j++) row[j] += mr[j];                               \
      } else if (m) {                                                                  \
        const T *mr = m + s * ms2;                                                     \
        for (int64_t j = 0; j < L; j++) row[j] += mr[j * ms3];                         \
      }                                                                                \
      T mx = (T)-INFINITY;                                                             \
      _Pragma("omp simd reduction(max : mx)")                                          \
      for (int64_t j = 0; j < L; j++) mx = row[j] > mx ? row[j] : mx;                  \
      for (int64_t j = 0; j < L; j++) row[j] = EXP(row[j] - mx);                       \
      double sum = 0.0;                                                                \
      _Pragma("omp simd reduction(+ : sum)")                                           \
      for (int64_t j = 0; j < L; j++) sum += row[j];                                   \
      T r = (T)(1.0 / sum);                                                            \
      for (int64_t j = 0; j < L; j++) row[j] *= r;                                     \
      if (dr != sc) {                                                                  \
        T *d = dr + s * L;                                                             \
        uint64_t f = flat0 + (uint64_t)(s * L);                                        \
        for (int64_t j = 0; j < L; j++)                                                \
          d[j] = (pt_rng_bits_keyed(key, f + (uint64_t)j) >> 11) >= thr ? row[j] * inv : (T)0; \
      }                                                                                \
    }                                                                                  \
  }                                                                                    \
  /* dr = dropout(pr): the forward's dropped probabilities, regenerated. */            \
  static void drop_rows_##SUF(T *dr, const T *pr, int64_t n, double p, uint64_t seed,     \
                              uint64_t flat0) {                                        \
    uint64_t thr = keep_threshold(p), key = pt_rng_key(seed);                          \
    T inv = p < 1.0 ? (T)(1.0 / (1.0 - p)) : (T)0;                                     \
    for (int64_t i = 0; i < n; i++)                                                    \
      dr[i] = (pt_rng_bits_keyed(key, flat0 + (uint64_t)i) >> 11) >= thr ? pr[i] * inv : (T)0; \
  }                                                                                    \
  /* ds holds d(dropped probs); becomes d(scores)·scale: dropout backward     \
   * (same mask), then softmax backward dx = y·(dy − Σ dy·y). */                        \
  static void bwd_rows_##SUF(T *ds, const T *pr, int64_t S, int64_t L, double p,          \
                             uint64_t seed, uint64_t flat0, double scale) {             \
    uint64_t thr = keep_threshold(p), key = pt_rng_key(seed);                          \
    T inv = p < 1.0 ? (T)(1.0 / (1.0 - p)) : (T)0;                                     \
    for (int64_t s = 0; s < S; s++) {                                                  \
      T *row = ds + s * L;                                                             \
      const T *y = pr + s * L;                                                         \
      if (p > 0.0) {                                                                   \
        uint64_t f = flat0 + (uint64_t)(s * L);                                        \
        for (int64_t j = 0; j < L; j++)                                                \
          row[j] = (pt_rng_bits_keyed(key, f + (uint64_t)j) >> 11) >= thr ? row[j] * inv : (T)0; \
      }                                                                                \
      double dot = 0.0;                                                                \
      _Pragma("omp simd reduction(+ : dot)")                                           \
      for (int64_t j = 0; j < L; j++) dot += (double)row[j] * (double)y[j];            \
      T td = (T)dot, sc = (T)scale;                                                    \
      for (int64_t j = 0; j < L; j++) row[j] = sc * y[j] * (row[j] - td);              \
    }                                                                                  \
  }

ATTN_ROWS(float, f32, pt_expf)
ATTN_ROWS(double, f64, exp)

int pt_attn_layout_code(const pt_tensor *t) {
  if (!t || t->ndim != 4) return PT_ATTN_LAYOUT_CONTIGUOUS;
  int order[4] = {0, 1, 2, 3};
  /* insertion sort: larger stride first, ties keep dim order */
  for (int i = 1; i < 4; i++)
    for (int j = i; j > 0 && t->strides[order[j]] > t->strides[order[j - 1]]; j--) {
      int tmp = order[j];
      order[j] = order[j - 1];
      order[j - 1] = tmp;
    }
  if (order[3] != 3 || t->strides[3] != 1) return PT_ATTN_LAYOUT_CONTIGUOUS;
  return order[0] | order[1] << 2 | order[2] << 4 | order[3] << 6;
}

/* A new [shape] tensor whose memory is dense in the dim order `code`
 * (outermost first): a permuted view of a contiguous buffer. */
static pt_tensor *empty_in_layout(pt_dtype dt, const int64_t *shape, int code) {
  int order[4], inv[4];
  int64_t pshape[4];
  for (int i = 0; i < 4; i++) {
    order[i] = (code >> (2 * i)) & 3;
    pshape[i] = shape[order[i]];
    inv[order[i]] = i;
  }
  pt_tensor *base = pt_empty(dt, 4, pshape);
  if (!base || code == PT_ATTN_LAYOUT_CONTIGUOUS) return base;
  pt_tensor *t = pt_raw_permute(base, inv);
  pt_tensor_free(base);
  return t;
}

/* Element (b, h, 0, 0) of a result tensor (row stride t->strides[2]). */
static inline char *out_at(pt_tensor *t, int64_t b, int64_t h, size_t esz) {
  return (char *)pt_data(t) + (b * t->strides[0] + h * t->strides[1]) * (int64_t)esz;
}

static bool dims_are(const pt_tensor *t, int64_t b, int64_t nh, int64_t r, int64_t c) {
  return t->ndim == 4 && t->shape[0] == b && t->shape[1] == nh && (r < 0 || t->shape[2] == r) &&
         t->shape[3] == c;
}

static void mats_free(mat *m, int n) {
  for (int i = 0; i < n; i++) pt_tensor_free(m[i].hold);
}

pt_tensor *pt_raw_attention(const pt_tensor *q, const pt_tensor *k, const pt_tensor *v,
                            const pt_tensor *pk, const pt_tensor *pv, const pt_tensor *mask,
                            const pt_attn_params *prm, pt_tensor **probs) {
  char s1[96], s2[96], s3[96];
  if (probs) *probs = NULL;
  if (!pt_dtype_is_float(q->dtype) || k->dtype != q->dtype || v->dtype != q->dtype ||
      (pk && pk->dtype != q->dtype) || (pv && pv->dtype != q->dtype)) {
    pt_error(PT_ERR_DTYPE, "attention: q, k, v (and prefix) must share F32 or F64, got %s, %s, %s",
             pt_dtype_name(q->dtype), pt_dtype_name(k->dtype), pt_dtype_name(v->dtype));
    return NULL;
  }
  if (q->ndim != 4) {
    pt_error(PT_ERR_SHAPE, "attention: q %s must be [B, NH, S, HD]", pt_shape_str(q, s1, sizeof s1));
    return NULL;
  }
  int64_t B = q->shape[0], NH = q->shape[1], S = q->shape[2], HD = q->shape[3];
  if (!dims_are(k, B, NH, -1, HD) || !pt_same_shape(k, v)) {
    pt_error(PT_ERR_SHAPE, "attention: k %s and v %s must be [B, NH, T, HD] for q %s",
             pt_shape_str(k, s1, sizeof s1), pt_shape_str(v, s2, sizeof s2),
             pt_shape_str(q, s3, sizeof s3));
    return NULL;
  }
  if (!pk != !pv || (pk && (!dims_are(pk, B, NH, -1, HD) || !pt_same_shape(pk, pv)))) {
    pt_error(PT_ERR_SHAPE, "attention: prefix_k %s and prefix_v %s must both be [B, NH, P, HD] for q %s",
             pk ? pt_shape_str(pk, s1, sizeof s1) : "NULL", pv ? pt_shape_str(pv, s2, sizeof s2) : "NULL",
             pt_shape_str(q, s3, sizeof s3));
    return NULL;
  }
  double p = prm->dropout_p;
  if (!(p >= 0.0 && p <= 1.0)) {
    pt_error(PT_ERR_ARG, "attention: dropout p must be in [0, 1], got %g", p);
    return NULL;
  }
  int64_t T = k->shape[2], P = pk ? pk->shape[2] : 0, L = P + T;
  int64_t full[4] = {B, NH, S, L};
  pt_dtype dt = q->dtype;
  size_t esz = pt_dtype_size(dt);

  /* The mask as a [B, NH, S, L] view (stride 0 on broadcast dims). */
  pt_tensor *mconv = NULL, *mexp = NULL;
  if (mask) {
    if (!pt_dtype_is_float(mask->dtype) && mask->dtype != PT_F16 && mask->dtype != PT_BF16) {
      pt_error(PT_ERR_DTYPE, "attention: mask must be a float tensor, got %s",
               pt_dtype_name(mask->dtype));
      return NULL;
    }
    mconv = mask->dtype == dt ? pt_raw_alias(mask) : pt_to_dtype(mask, dt);
    if (!mconv) return NULL;
    if (mask->ndim <= 4) mexp = pt_raw_expand(mconv, 4, full);
    pt_tensor_free(mconv);
    if (!mexp && (mask->ndim > 4 || pt_error_code() != PT_ERR_NOMEM)) {
      pt_error(PT_ERR_SHAPE, "attention: mask %s does not broadcast to [B, NH, S, P+T] = %s",
               pt_shape_str(mask, s1, sizeof s1), pt_dims_str(4, full, s2, sizeof s2));
      return NULL;
    }
    if (!mexp) return NULL;
  }

  mat mq, mk, mv, mpk, mpv;
  mat all[5];
  pt_status st = mat_of(q, &all[0]);
  if (st == PT_OK) st = mat_of(k, &all[1]);
  if (st == PT_OK) st = mat_of(v, &all[2]);
  if (st == PT_OK) st = mat_of(pk, &all[3]);
  if (st == PT_OK) st = mat_of(pv, &all[4]);
  mq = all[0], mk = all[1], mv = all[2], mpk = all[3], mpv = all[4];
  pt_tensor *out =
      st == PT_OK ? empty_in_layout(dt, PT_SHAPE(B, NH, S, HD), pt_attn_layout_code(q)) : NULL;
  pt_tensor *pr = out && probs ? pt_empty(dt, 4, full) : NULL;
  int nt = omp_get_max_threads();
  int64_t per = (pr ? 0 : S * L) + (p > 0.0 ? S * L : 0);
  char *scratch = out && (!probs || pr) && per > 0 ? pt_alloc((size_t)(nt * per) * esz) : NULL;
  if (!out || (probs && !pr) || (per > 0 && !scratch)) {
    mats_free(all, 5); /* what failed recorded why */
    pt_tensor_free(mexp);
    pt_tensor_free(out);
    pt_tensor_free(pr);
    pt_free_bytes(scratch);
    return NULL;
  }

  char *pdata = pr ? pt_data(pr) : NULL;
  int64_t ldo = out->strides[2];
  const char *mbase = mexp ? pt_data(mexp) : NULL;
  int64_t ms[4] = {0, 0, 0, 0};
  if (mexp) memcpy(ms, mexp->strides, sizeof ms);
  double scale = prm->scale;
#pragma omp parallel for schedule(static) num_threads(nt) if (B * NH > 1)
  for (int64_t bh = 0; bh < B * NH; bh++) {
    int64_t b = bh / NH, h = bh % NH;
    char *mine = scratch ? scratch + (size_t)(omp_get_thread_num() * per) * esz : NULL;
    char *sc = pdata ? pdata + (size_t)(bh * S * L) * esz : mine;
    char *dr = p > 0.0 ? (pdata ? mine : mine + (size_t)(S * L) * esz) : sc;
    const void *Q = mat_at(&mq, b, h, esz);
    /* scores [S, L]: columns [0, P) from the prefix, [P, L) from the tokens */
    mm(dt, S, P, HD, scale, Q, mq.ld, mq.tr, mat_at(&mpk, b, h, esz), mpk.ld, !mpk.tr, 0.0, sc, L);
    mm(dt, S, T, HD, scale, Q, mq.ld, mq.tr, mat_at(&mk, b, h, esz), mk.ld, !mk.tr, 0.0,
       sc + (size_t)P * esz, L);
    const char *m = mbase ? mbase + (b * ms[0] + h * ms[1]) * (int64_t)esz : NULL;
    uint64_t flat0 = prm->base + (uint64_t)(bh * S * L);
    if (dt == PT_F32)
      fwd_rows_f32((float *)sc, (float *)dr, S, L, (const float *)m, ms[2], ms[3], p, prm->seed, flat0);
    else
      fwd_rows_f64((double *)sc, (double *)dr, S, L, (const double *)m, ms[2], ms[3], p, prm->seed,
                   flat0);
    /* out [S, HD] = dropped[:, :P]·prefix_v + dropped[:, P:]·v */
    char *o = out_at(out, b, h, esz);
    mm(dt, S, HD, P, 1.0, dr, L, false, mat_at(&mpv, b, h, esz), mpv.ld, mpv.tr, 0.0, o, ldo);
    mm(dt, S, HD, T, 1.0, dr + (size_t)P * esz, L, false, mat_at(&mv, b, h, esz), mv.ld, mv.tr,
       1.0, o, ldo);
  }
  mats_free(all, 5);
  pt_tensor_free(mexp);
  pt_free_bytes(scratch);
  if (probs) *probs = pr;
  return out;
}

pt_status pt_raw_attention_backward(const pt_tensor *g, const pt_tensor *q, const pt_tensor *k,
                                    const pt_tensor *v, const pt_tensor *pk, const pt_tensor *pv,
                                    const pt_tensor *probs_in, int64_t P,
                                    const pt_attn_params *prm, const bool need[5],
                                    const int *layout, pt_tensor *grads[5]) {
  char s1[96], s2[96];
  for (int i = 0; i < 5; i++) grads[i] = NULL;
  if (g->ndim != 4 || probs_in->ndim != 4 || probs_in->shape[0] != g->shape[0] ||
      probs_in->shape[1] != g->shape[1] || probs_in->shape[2] != g->shape[2] ||
      probs_in->shape[3] < P || g->dtype != probs_in->dtype)
    return pt_error(PT_ERR_SHAPE, "attention backward: gradient %s does not fit probs %s",
                    pt_shape_str(g, s1, sizeof s1), pt_shape_str(probs_in, s2, sizeof s2));
  int64_t B = g->shape[0], NH = g->shape[1], S = g->shape[2], HD = g->shape[3];
  int64_t L = probs_in->shape[3], T = L - P;
  bool need_scores = need[0] || need[1] || need[3];
  if ((need[0] && (!k || (P && !pk))) || ((need[1] || need[3]) && !q) ||
      (need_scores && (!v || (P && !pv))))
    return pt_error(PT_ERR_ARG, "attention backward: an operand the requested gradients need is missing");
  pt_dtype dt = g->dtype;
  size_t esz = pt_dtype_size(dt);
  double p = prm->dropout_p;

  mat all[6];
  memset(all, 0, sizeof all);
  pt_status st = mat_of(g, &all[0]);
  if (st == PT_OK && need[0]) st = mat_of(k, &all[2]);
  if (st == PT_OK && need[0] && P) st = mat_of(pk, &all[4]);
  if (st == PT_OK && (need[1] || need[3])) st = mat_of(q, &all[1]);
  if (st == PT_OK && need_scores) st = mat_of(v, &all[3]);
  if (st == PT_OK && need_scores && P) st = mat_of(pv, &all[5]);
  mat mg = all[0], mq = all[1], mk = all[2], mv = all[3], mpk = all[4], mpv = all[5];
  pt_tensor *probs = st == PT_OK ? pt_raw_contiguous(probs_in) : NULL;
  const int64_t rows[5] = {S, T, T, P, P};
  for (int i = 0; i < 5 && probs; i++)
    if (need[i] &&
        !(grads[i] = empty_in_layout(dt, PT_SHAPE(B, NH, rows[i], HD),
                                     layout ? layout[i] : PT_ATTN_LAYOUT_CONTIGUOUS)))
      st = pt_error_code();
  int nt = omp_get_max_threads();
  int64_t per = (p > 0.0 ? S * L : 0) + (need_scores ? S * L : 0);
  char *scratch = probs && st == PT_OK && per > 0 ? pt_alloc((size_t)(nt * per) * esz) : NULL;
  if (!probs || st != PT_OK || (per > 0 && !scratch)) {
    if (st == PT_OK) st = pt_error_code(); /* what failed recorded why */
    for (int i = 0; i < 5; i++) {
      pt_tensor_free(grads[i]);
      grads[i] = NULL;
    }
    mats_free(all, 6);
    pt_tensor_free(probs);
    return st;
  }
  int64_t ldg[5];
  for (int i = 0; i < 5; i++) ldg[i] = grads[i] ? grads[i]->strides[2] : 1;
  const char *pdata = pt_data(probs);
  double scale = prm->scale;
#pragma omp parallel for schedule(static) num_threads(nt) if (B * NH > 1)
  for (int64_t bh = 0; bh < B * NH; bh++) {
    int64_t b = bh / NH, h = bh % NH;
    char *mine = scratch ? scratch + (size_t)(omp_get_thread_num() * per) * esz : NULL;
    const char *pr = pdata + (size_t)(bh * S * L) * esz;
    uint64_t flat0 = prm->base + (uint64_t)(bh * S * L);
    /* the forward's dropped probabilities D [S, L] */
    const char *D = pr;
    if (p > 0.0) {
      if (dt == PT_F32)
        drop_rows_f32((float *)mine, (const float *)pr, S * L, p, prm->seed, flat0);
      else
        drop_rows_f64((double *)mine, (const double *)pr, S * L, p, prm->seed, flat0);
      D = mine;
    }
    const void *G = mat_at(&mg, b, h, esz);
    /* forward was out = D[:, P:]·v + D[:, :P]·prefix_v, so dv = D[:, P:]ᵀ·g
     * and dprefix_v = D[:, :P]ᵀ·g */
    if (need[2])
      mm(dt, T, HD, S, 1.0, D + (size_t)P * esz, L, true, G, mg.ld, mg.tr, 0.0,
         out_at(grads[2], b, h, esz), ldg[2]);
    if (need[4])
      mm(dt, P, HD, S, 1.0, D, L, true, G, mg.ld, mg.tr, 0.0, out_at(grads[4], b, h, esz), ldg[4]);
    if (!need_scores) continue;
    /* dD = g·[prefix_v ; v]ᵀ, written in two column blocks of one buffer,
     * then through dropout and softmax into dscores·scale */
    char *dS = mine + (size_t)(p > 0.0 ? S * L : 0) * esz;
    mm(dt, S, P, HD, 1.0, G, mg.ld, mg.tr, mat_at(&mpv, b, h, esz), mpv.ld, !mpv.tr, 0.0, dS, L);
    mm(dt, S, T, HD, 1.0, G, mg.ld, mg.tr, mat_at(&mv, b, h, esz), mv.ld, !mv.tr, 0.0,
       dS + (size_t)P * esz, L);
    if (dt == PT_F32)
      bwd_rows_f32((float *)dS, (const float *)pr, S, L, p, prm->seed, flat0, scale);
    else
      bwd_rows_f64((double *)dS, (const double *)pr, S, L, p, prm->seed, flat0, scale);
    /* forward was scores = scale·q·[prefix_k ; k]ᵀ, so dq = dS·[prefix_k ; k]
     * (two GEMMs, the second accumulating), dk = dS[:, P:]ᵀ·q and
     * dprefix_k = dS[:, :P]ᵀ·q */
    if (need[0]) {
      char *dq = out_at(grads[0], b, h, esz);
      mm(dt, S, HD, P, 1.0, dS, L, false, mat_at(&mpk, b, h, esz), mpk.ld, mpk.tr, 0.0, dq, ldg[0]);
      mm(dt, S, HD, T, 1.0, dS + (size_t)P * esz, L, false, mat_at(&mk, b, h, esz), mk.ld, mk.tr,
         1.0, dq, ldg[0]);
    }
    const void *Q = mat_at(&mq, b, h, esz);
    if (need[1])
      mm(dt, T, HD, S, 1.0, dS + (size_t)P * esz, L, true, Q, mq.ld, mq.tr, 0.0,
         out_at(grads[1], b, h, esz), ldg[1]);
    if (need[3])
      mm(dt, P, HD, S, 1.0, dS, L, true, Q, mq.ld, mq.tr, 0.0, out_at(grads[3], b, h, esz), ldg[3]);
  }
  mats_free(all, 6);
  pt_tensor_free(probs);
  pt_free_bytes(scratch);
  return PT_OK;
}
