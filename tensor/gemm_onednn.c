/* The oneDNN side of pt_gemm_run: one matmul primitive per GEMM shape,
 * created on first use and kept in a small cache (oneDNN caches the JIT
 * kernels itself, but building the primitive descriptor each call costs
 * tens of microseconds of a BERT layer's few milliseconds).
 *
 * Debian's oneDNN is built on libgomp (DNNL_CPU_RUNTIME OMP), so its
 * kernels run on the same OpenMP pool as ptune's loops and OpenBLAS: one
 * threading owner. A primitive is made for the thread count of the moment
 * (the count is part of the cache key). All calls are serialized by one
 * mutex: oneDNN's default scratchpad belongs to the library, and the cache
 * is shared. */
#include "tensor/gemm_internal.h"

#include <dnnl.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int64_t M, N, K, lda, ldb, ldc;
  bool ta, tb, bias, gelu;
  pt_dtype a_dt, b_dt, c_dt;
  float alpha, beta;
  int threads;
} mm_key;

typedef struct {
  mm_key key;
  dnnl_primitive_t prim; /* NULL: oneDNN has no implementation for the key */
  dnnl_memory_desc_t a, b, c, bias;
  char impl[48];
  uint64_t last_use;
} mm_entry;

enum { CACHE_SLOTS = 96 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static bool ready;
static mm_entry cache[CACHE_SLOTS];
static int cache_used;
static uint64_t clock_ticks;

static void start(void) {
  /* oneDNN keeps the kernels of its last 1024 primitives besides ours; with
   * GEMM shapes that change every batch (a server's passes) that cache alone
   * grew a process by 400 MB. It keeps as many as ours, unless the
   * environment says otherwise. */
  if (!getenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY") && !getenv("DNNL_PRIMITIVE_CACHE_CAPACITY"))
    dnnl_set_primitive_cache_capacity(CACHE_SLOTS);
  if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return;
  if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
    dnnl_engine_destroy(engine);
    return;
  }
  ready = true;
}

bool pt_onednn_available(void) {
  pthread_once(&once, start);
  return ready;
}

static dnnl_data_type_t dnnl_type(pt_dtype dt) {
  return dt == PT_BF16 ? dnnl_bf16 : dnnl_f32;
}

/* dims {rows, cols} of op(X) read with leading dimension ld from a matrix
 * stored row-major, transposed or not. */
static bool matrix_md(dnnl_memory_desc_t *md, int64_t rows, int64_t cols, int64_t ld, bool trans,
                      pt_dtype dt) {
  dnnl_dims_t dims = {rows, cols};
  dnnl_dims_t strides = {trans ? 1 : ld, trans ? ld : 1};
  return dnnl_memory_desc_init_by_strides(md, 2, dims, dnnl_type(dt), strides) == dnnl_success;
}

/* Builds the primitive for e->key; e->prim stays NULL when oneDNN has none. */
static void build(mm_entry *e) {
  const mm_key *k = &e->key;
  e->prim = NULL;
  snprintf(e->impl, sizeof e->impl, "none");
  if (!matrix_md(&e->a, k->M, k->K, k->lda, k->ta, k->a_dt) ||
      !matrix_md(&e->b, k->K, k->N, k->ldb, k->tb, k->b_dt) ||
      !matrix_md(&e->c, k->M, k->N, k->ldc, false, k->c_dt) ||
      !matrix_md(&e->bias, 1, k->N, k->N, false, k->c_dt))
    return;
  dnnl_matmul_desc_t desc;
  if (dnnl_matmul_desc_init(&desc, &e->a, &e->b, k->bias ? &e->bias : NULL, &e->c) != dnnl_success)
    return;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t ops = NULL;
  bool ok = dnnl_primitive_attr_create(&attr) == dnnl_success &&
            dnnl_post_ops_create(&ops) == dnnl_success;
  /* dst = alpha·(A·B) [+ bias] [→ gelu] [+ beta·dst] */
  if (ok && k->alpha != 1.0f)
    ok = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha) == dnnl_success;
  if (ok && k->gelu)
    ok = dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_gelu_erf, 0.0f, 0.0f) == dnnl_success;
  if (ok && k->beta != 0.0f) ok = dnnl_post_ops_append_sum(ops, k->beta) == dnnl_success;
  if (ok) ok = dnnl_primitive_attr_set_post_ops(attr, ops) == dnnl_success;
  dnnl_primitive_desc_t pd = NULL;
  if (ok) ok = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) == dnnl_success;
  if (ok) {
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
      snprintf(e->impl, sizeof e->impl, "%s", impl);
    if (dnnl_primitive_create(&e->prim, pd) != dnnl_success) e->prim = NULL;
  }
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (ops) dnnl_post_ops_destroy(ops);
  if (attr) dnnl_primitive_attr_destroy(attr);
}

/* The cache entry for `k` (built on a miss; the least recently used slot
 * goes when the cache is full). Called with the lock held. */
static mm_entry *lookup(const mm_key *k) {
  mm_entry *victim = NULL;
  for (int i = 0; i < cache_used; i++) {
    if (!memcmp(&cache[i].key, k, sizeof *k)) {
      cache[i].last_use = ++clock_ticks;
      return &cache[i];
    }
    if (!victim || cache[i].last_use < victim->last_use) victim = &cache[i];
  }
  if (cache_used < CACHE_SLOTS) victim = &cache[cache_used++];
  else if (victim->prim) dnnl_primitive_destroy(victim->prim);
  memset(victim, 0, sizeof *victim);
  victim->key = *k;
  victim->last_use = ++clock_ticks;
  build(victim);
  return victim;
}

static void key_of(const pt_gemm_desc *g, mm_key *k) {
  memset(k, 0, sizeof *k); /* padding too: keys compare with memcmp */
  k->M = g->M;
  k->N = g->N;
  k->K = g->K;
  k->lda = g->lda;
  k->ldb = g->ldb;
  k->ldc = g->ldc;
  k->ta = g->trans_a;
  k->tb = g->trans_b;
  k->bias = g->bias != NULL;
  k->gelu = g->gelu;
  k->a_dt = g->a_dtype;
  k->b_dt = g->b_dtype;
  k->c_dt = PT_F32;
  k->alpha = (float)g->alpha;
  k->beta = (float)g->beta;
  k->threads = omp_in_parallel() ? 1 : omp_get_max_threads();
}

bool pt_onednn_gemm(const pt_gemm_desc *g) {
  if (g->a_dtype == PT_F64 || !pt_onednn_available()) return false; /* oneDNN has no f64 */
  mm_key k;
  key_of(g, &k);
  pthread_mutex_lock(&lock);
  mm_entry *e = lookup(&k);
  bool ok = e->prim != NULL;
  dnnl_memory_t m[4] = {NULL, NULL, NULL, NULL};
  if (ok)
    ok = dnnl_memory_create(&m[0], &e->a, engine, (void *)g->A) == dnnl_success &&
         dnnl_memory_create(&m[1], &e->b, engine, (void *)g->B) == dnnl_success &&
         dnnl_memory_create(&m[2], &e->c, engine, g->C) == dnnl_success &&
         (!g->bias || dnnl_memory_create(&m[3], &e->bias, engine, (void *)g->bias) == dnnl_success);
  if (ok) {
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, m[0]}, {DNNL_ARG_WEIGHTS, m[1]},
                               {DNNL_ARG_DST, m[2]}, {DNNL_ARG_BIAS, m[3]}};
    ok = dnnl_primitive_execute(e->prim, stream, g->bias ? 4 : 3, args) == dnnl_success &&
         dnnl_stream_wait(stream) == dnnl_success;
  }
  for (int i = 0; i < 4; i++)
    if (m[i]) dnnl_memory_destroy(m[i]);
  pthread_mutex_unlock(&lock);
  return ok;
}

const char *pt_onednn_impl(const pt_gemm_desc *g, char *buf, size_t cap) {
  if (g->a_dtype == PT_F64 || !pt_onednn_available()) {
    snprintf(buf, cap, "none");
    return buf;
  }
  mm_key k;
  key_of(g, &k);
  pthread_mutex_lock(&lock);
  snprintf(buf, cap, "%s", lookup(&k)->impl);
  pthread_mutex_unlock(&lock);
  return buf;
}

const char *pt_onednn_isa(void) {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

bool pt_onednn_native_bf16(void) {
  unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), bf16 = dnnl_cpu_isa_avx512_core_bf16;
  return pt_onednn_available() && (isa & bf16) == bf16;
}
