/* LSTM layer kernels (see pt_lstm.h). Every operand is read into a
 * contiguous double copy first: B·T·4H·(I + H) multiply-adds for prompt
 * encoders are small, and double keeps the rounding below float32's. */
#include "tensor/pt_lstm.h"

#include <math.h>
#include <string.h>

/* A contiguous F64 copy of t (new reference), or NULL. */
static pt_tensor *f64(const pt_tensor *t) { return t ? pt_to_dtype(t, PT_F64) : NULL; }

static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

static pt_status check_shapes(const pt_tensor *x, const pt_tensor *w_ih, const pt_tensor *w_hh,
                              const pt_tensor *b_ih, const pt_tensor *b_hh) {
  char s1[96], s2[96], s3[96];
  if (x->ndim != 3 || w_ih->ndim != 2 || w_hh->ndim != 2)
    return pt_error(PT_ERR_SHAPE, "lstm: want x [B, T, I], w_ih [4H, I], w_hh [4H, H]; got %s, %s, %s",
                    pt_shape_str(x, s1, sizeof s1), pt_shape_str(w_ih, s2, sizeof s2),
                    pt_shape_str(w_hh, s3, sizeof s3));
  int64_t H4 = w_hh->shape[0], H = w_hh->shape[1];
  if (H4 != 4 * H || w_ih->shape[0] != H4 || w_ih->shape[1] != x->shape[2])
    return pt_error(PT_ERR_SHAPE, "lstm: want x [B, T, I], w_ih [4H, I], w_hh [4H, H]; got %s, %s, %s",
                    pt_shape_str(x, s1, sizeof s1), pt_shape_str(w_ih, s2, sizeof s2),
                    pt_shape_str(w_hh, s3, sizeof s3));
  const pt_tensor *bs[2] = {b_ih, b_hh};
  for (int i = 0; i < 2; i++)
    if (bs[i] && (bs[i]->ndim != 1 || bs[i]->shape[0] != H4))
      return pt_error(PT_ERR_SHAPE, "lstm: biases must be [4H] = [%lld], got %s", (long long)H4,
                      pt_shape_str(bs[i], s1, sizeof s1));
  const pt_tensor *all[5] = {x, w_ih, w_hh, b_ih, b_hh};
  for (int i = 0; i < 5; i++)
    if (all[i] && (!pt_dtype_is_float(all[i]->dtype) || all[i]->dtype != x->dtype))
      return pt_error(PT_ERR_DTYPE, "lstm: inputs must all be F32 or all F64");
  return PT_OK;
}

pt_tensor *pt_raw_lstm(const pt_tensor *x, const pt_tensor *w_ih, const pt_tensor *w_hh,
                       const pt_tensor *b_ih, const pt_tensor *b_hh, bool reverse,
                       pt_tensor **gates_out, pt_tensor **cells_out) {
  if (check_shapes(x, w_ih, w_hh, b_ih, b_hh) != PT_OK) return NULL;
  int64_t B = x->shape[0], T = x->shape[1], I = x->shape[2], H = w_hh->shape[1], G = 4 * H;
  pt_tensor *xd = f64(x), *wi = f64(w_ih), *wh = f64(w_hh), *bi = f64(b_ih), *bh = f64(b_hh);
  pt_tensor *gates = pt_empty(PT_F64, 3, PT_SHAPE(B, T, G));
  pt_tensor *cells = pt_empty(PT_F64, 3, PT_SHAPE(B, T, H));
  pt_tensor *h = pt_empty(PT_F64, 3, PT_SHAPE(B, T, H));
  pt_tensor *out = NULL;
  if (xd && wi && wh && (bi || !b_ih) && (bh || !b_hh) && gates && cells && h) {
    const double *X = pt_data(xd), *Wi = pt_data(wi), *Wh = pt_data(wh);
    const double *Bi = bi ? pt_data(bi) : NULL, *Bh = bh ? pt_data(bh) : NULL;
    double *Gt = pt_data(gates), *C = pt_data(cells), *Hd = pt_data(h);
    for (int64_t b = 0; b < B; b++)
      for (int64_t k = 0; k < T; k++) {
        int64_t t = reverse ? T - 1 - k : k, prev = reverse ? t + 1 : t - 1;
        const double *xt = X + (b * T + t) * I;
        const double *hp = k ? Hd + (b * T + prev) * H : NULL;
        const double *cp = k ? C + (b * T + prev) * H : NULL;
        double *g = Gt + (b * T + t) * G;
        for (int64_t r = 0; r < G; r++) {
          double a = (Bi ? Bi[r] : 0.0) + (Bh ? Bh[r] : 0.0);
          for (int64_t j = 0; j < I; j++) a += Wi[r * I + j] * xt[j];
          for (int64_t j = 0; hp && j < H; j++) a += Wh[r * H + j] * hp[j];
          g[r] = a;
        }
        double *ct = C + (b * T + t) * H, *ht = Hd + (b * T + t) * H;
        for (int64_t j = 0; j < H; j++) {
          double ig = sigmoid(g[j]), fg = sigmoid(g[H + j]), gg = tanh(g[2 * H + j]),
                 og = sigmoid(g[3 * H + j]);
          g[j] = ig, g[H + j] = fg, g[2 * H + j] = gg, g[3 * H + j] = og;
          ct[j] = fg * (cp ? cp[j] : 0.0) + ig * gg;
          ht[j] = og * tanh(ct[j]);
        }
      }
    out = pt_to_dtype(h, x->dtype);
  } /* else an allocation failed and recorded why */
  if (out && gates_out && cells_out) {
    *gates_out = pt_tensor_ref(gates);
    *cells_out = pt_tensor_ref(cells);
  }
  pt_tensor *tmp[] = {xd, wi, wh, bi, bh, gates, cells, h};
  for (int i = 0; i < 8; i++) pt_tensor_free(tmp[i]);
  return out;
}

/* Forward was c_t = f·c_{t−1} + i·g, h_t = o·tanh(c_t), with the gates
 * activated from a_t = x_t·W_ihᵀ + h_{t−1}·W_hhᵀ + b. So, walking the
 * steps backwards with dh carrying dh_t = dL/dh_t + (from step t+1)
 * da_{t+1}·W_hh and dc carrying f_{t+1}·dc_{t+1}:
 *   do = dh·tanh(c),  dc += dh·o·(1 − tanh²c),
 *   di = dc·g, df = dc·c_{t−1}, dg = dc·i,  then dc ← dc·f for step t−1;
 *   da = [di·i(1−i), df·f(1−f), dg·(1−g²), do·o(1−o)];
 *   dx_t = da·W_ih, dW_ih += daᵀx_t, dW_hh += daᵀh_{t−1}, db_ih = db_hh = Σ da. */
pt_status pt_raw_lstm_backward(const pt_tensor *dh, const pt_tensor *x, const pt_tensor *w_ih,
                               const pt_tensor *w_hh, const pt_tensor *h, const pt_tensor *gates,
                               const pt_tensor *cells, bool reverse, const bool needs[5],
                               pt_tensor **grads) {
  for (int i = 0; i < 5; i++) grads[i] = NULL;
  int64_t B = x->shape[0], T = x->shape[1], I = x->shape[2], H = w_hh->shape[1], G = 4 * H;
  pt_tensor *dhd = f64(dh), *xd = f64(x), *wi = f64(w_ih), *wh = f64(w_hh), *hd = f64(h);
  pt_tensor *dx = pt_zeros(PT_F64, 3, PT_SHAPE(B, T, I));
  pt_tensor *dwi = pt_zeros(PT_F64, 2, PT_SHAPE(G, I));
  pt_tensor *dwh = pt_zeros(PT_F64, 2, PT_SHAPE(G, H));
  pt_tensor *db = pt_zeros(PT_F64, 1, PT_SHAPE(G));
  double *carry_h = pt_alloc(sizeof(double) * (size_t)(3 * H + G));
  pt_status st = PT_OK;
  if (!dhd || !xd || !wi || !wh || !hd || !dx || !dwi || !dwh || !db || !carry_h) {
    st = pt_error_code(); /* the allocation that failed recorded why */
  } else {
    const double *DH = pt_data(dhd), *X = pt_data(xd), *Wi = pt_data(wi), *Wh = pt_data(wh);
    const double *Hs = pt_data(hd), *Gt = pt_data(gates), *C = pt_data(cells);
    double *DX = pt_data(dx), *DWi = pt_data(dwi), *DWh = pt_data(dwh), *DB = pt_data(db);
    double *carry_c = carry_h + H, *dhs = carry_c + H, *da = dhs + H;
    for (int64_t b = 0; b < B; b++) {
      memset(carry_h, 0, sizeof(double) * (size_t)(2 * H));
      for (int64_t k = T - 1; k >= 0; k--) { /* reverse of the forward's step order */
        int64_t t = reverse ? T - 1 - k : k, prev = reverse ? t + 1 : t - 1;
        const double *g = Gt + (b * T + t) * G, *ct = C + (b * T + t) * H;
        const double *cp = k ? C + (b * T + prev) * H : NULL;
        const double *hp = k ? Hs + (b * T + prev) * H : NULL;
        for (int64_t j = 0; j < H; j++) {
          double ig = g[j], fg = g[H + j], gg = g[2 * H + j], og = g[3 * H + j];
          double th = tanh(ct[j]);
          double dht = DH[(b * T + t) * H + j] + carry_h[j];
          double dc = carry_c[j] + dht * og * (1.0 - th * th);
          da[j] = dc * gg * ig * (1.0 - ig);
          da[H + j] = dc * (cp ? cp[j] : 0.0) * fg * (1.0 - fg);
          da[2 * H + j] = dc * ig * (1.0 - gg * gg);
          da[3 * H + j] = dht * th * og * (1.0 - og);
          carry_c[j] = dc * fg;
        }
        for (int64_t j = 0; j < H; j++) { /* dh_{t−1} = da·W_hh */
          double s = 0;
          for (int64_t r = 0; r < G; r++) s += da[r] * Wh[r * H + j];
          dhs[j] = s;
        }
        memcpy(carry_h, dhs, sizeof(double) * (size_t)H);
        const double *xt = X + (b * T + t) * I;
        double *dxt = DX + (b * T + t) * I;
        for (int64_t r = 0; r < G; r++) {
          double a = da[r];
          DB[r] += a;
          for (int64_t j = 0; j < I; j++) {
            dxt[j] += a * Wi[r * I + j];
            DWi[r * I + j] += a * xt[j];
          }
          for (int64_t j = 0; hp && j < H; j++) DWh[r * H + j] += a * hp[j];
        }
      }
    }
    pt_tensor *src[5] = {dx, dwi, dwh, db, db};
    pt_dtype dt = x->dtype;
    for (int i = 0; i < 5 && st == PT_OK; i++) {
      if (!needs[i]) continue;
      grads[i] = pt_to_dtype(src[i], dt);
      if (!grads[i]) st = pt_error_code();
    }
  }
  pt_free_bytes(carry_h);
  pt_tensor *tmp[] = {dhd, xd, wi, wh, hd, dx, dwi, dwh, db};
  for (int i = 0; i < 9; i++) pt_tensor_free(tmp[i]);
  if (st != PT_OK)
    for (int i = 0; i < 5; i++) {
      pt_tensor_free(grads[i]);
      grads[i] = NULL;
    }
  return st;
}
