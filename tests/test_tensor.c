/* tensor/: creation, views, copies, broadcasting, kernels, RNG, halves. */
#include <check.h>
#include <stdio.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ptune.h"
#include "tensor/pt_file.h"

#include <sys/stat.h>
#include <unistd.h>

static pt_tensor *ramp(pt_dtype dt, int ndim, const int64_t *shape) {
  pt_tensor *t = pt_empty(dt, ndim, shape);
  for (int64_t i = 0; i < pt_numel(t); i++) pt_set(t, i, (double)i);
  return t;
}

START_TEST(views_share_storage_and_index_right) {
  pt_tensor *t = ramp(PT_F32, PT_DIMS(2, 3, 4));
  pt_tensor *p = pt_raw_permute(t, (const int[]){2, 0, 1}); /* [4,2,3] */
  ck_assert_int_eq(p->shape[0], 4);
  ck_assert(!pt_is_contiguous(p));
  ck_assert_ptr_eq(p->storage, t->storage);
  /* p[k,i,j] = t[i,j,k] = 12i + 4j + k; p[1,1,2] has flat index 11 */
  ck_assert_double_eq(pt_get(p, 11), 1 * 12 + 2 * 4 + 1);
  pt_tensor *n = pt_raw_narrow(t, 2, 1, 2); /* [2,3,2] */
  ck_assert_double_eq(pt_get(n, 0), 1);
  ck_assert_double_eq(pt_get(n, 3), 6);
  pt_tensor *c = pt_raw_contiguous(p);
  ck_assert(pt_is_contiguous(c));
  for (int64_t i = 0; i < 24; i++) ck_assert_double_eq(pt_get(c, i), pt_get(p, i));
  pt_tensor *first = pt_raw_narrow(t, 0, 0, 1);
  pt_tensor *e = pt_raw_expand(first, 3, PT_SHAPE(5, 3, 4));
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(e->strides[0], 0);
  ck_assert_double_eq(pt_get(e, 4 * 12 + 5), 5);
  ck_assert_ptr_null(pt_raw_expand(t, 3, PT_SHAPE(5, 3, 4)));
  ck_assert(strstr(pt_error_message(), "expand") != NULL);
  pt_tensor *v = pt_raw_view(n, 1, PT_SHAPE(12));
  ck_assert_ptr_null(v); /* a narrowed tensor cannot be flattened without a copy */
  pt_tensor *u = pt_raw_unsqueeze(t, 1);
  ck_assert_int_eq(u->ndim, 4);
  ck_assert_int_eq(u->shape[1], 1);
  pt_tensor *s = pt_raw_squeeze(u, 1);
  ck_assert(pt_same_shape(s, t));
  pt_tensor *f[] = {t, p, n, c, first, e, u, s};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) pt_tensor_free(f[i]);
}
END_TEST

START_TEST(view_infers_and_splits_dims) {
  pt_tensor *t = ramp(PT_F64, PT_DIMS(4, 6));
  pt_tensor *v = pt_raw_view(t, 3, PT_SHAPE(2, -1, 3));
  ck_assert_int_eq(v->shape[1], 4);
  ck_assert_double_eq(pt_get(v, 23), 23);
  ck_assert_ptr_null(pt_raw_view(t, 2, PT_SHAPE(5, -1)));
  pt_tensor *tt = pt_raw_transpose(t, 0, 1); /* [6,4] */
  pt_tensor *w = pt_raw_view(tt, 3, PT_SHAPE(2, 3, 4)); /* splitting dim 0 works */
  ck_assert_ptr_nonnull(w);
  ck_assert_double_eq(pt_get(w, 5), pt_get(tt, 5));
  pt_tensor_free(t);
  pt_tensor_free(v);
  pt_tensor_free(tt);
  pt_tensor_free(w);
}
END_TEST

START_TEST(binary_broadcasts_like_numpy) {
  pt_tensor *a = ramp(PT_F32, PT_DIMS(2, 1, 3));
  pt_tensor *b = ramp(PT_F32, PT_DIMS(4, 1));
  pt_tensor *c = pt_raw_binary(PT_BIN_MUL, a, b); /* [2,4,3] */
  ck_assert_int_eq(c->ndim, 3);
  ck_assert_int_eq(c->shape[1], 4);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++)
      for (int k = 0; k < 3; k++)
        ck_assert_double_eq(pt_get(c, i * 12 + j * 3 + k), (double)(i * 3 + k) * j);
  pt_tensor *bad = ramp(PT_F32, PT_DIMS(3, 2));
  ck_assert_ptr_null(pt_raw_binary(PT_BIN_ADD, a, bad));
  ck_assert_int_eq(pt_error_code(), PT_ERR_SHAPE);
  ck_assert(strstr(pt_error_message(), "[2,1,3] and [3,2]") != NULL);
  pt_tensor_free(a);
  pt_tensor_free(b);
  pt_tensor_free(c);
  pt_tensor_free(bad);
}
END_TEST

static double naive(const pt_tensor *a, const pt_tensor *b, int64_t i, int64_t j, int64_t K) {
  double s = 0;
  for (int64_t k = 0; k < K; k++) s += pt_get(a, i * K + k) * pt_get(b, k * b->shape[1] + j);
  return s;
}

START_TEST(matmul_matches_naive_in_every_layout) {
  pt_rng rng;
  pt_rng_init(&rng, 5);
  pt_tensor *a = pt_randn(&rng, PT_F32, PT_DIMS(7, 5));
  pt_tensor *b = pt_randn(&rng, PT_F32, PT_DIMS(5, 3));
  pt_tensor *c = pt_raw_matmul(a, b, false, false);
  for (int i = 0; i < 7; i++)
    for (int j = 0; j < 3; j++) ck_assert_double_eq_tol(pt_get(c, i * 3 + j), naive(a, b, i, j, 5), 1e-5);
  pt_tensor *a_view = pt_raw_transpose(a, 0, 1), *b_view = pt_raw_transpose(b, 0, 1);
  pt_tensor *at = pt_raw_contiguous(a_view); /* [5,7] data */
  pt_tensor *bt = pt_raw_clone(b_view);
  pt_tensor *c2 = pt_raw_matmul(at, bt, true, true);
  for (int64_t i = 0; i < 21; i++) ck_assert_double_eq_tol(pt_get(c2, i), pt_get(c, i), 1e-5);
  ck_assert_ptr_null(pt_raw_matmul(a, a, false, false));
  ck_assert_str_eq(pt_error_message(), "matmul: inner dimensions differ: [7,5] x [7,5]");
  pt_tensor *f[] = {a, b, c, at, bt, c2, a_view, b_view};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) pt_tensor_free(f[i]);
}
END_TEST

START_TEST(sum_over_dims) {
  pt_tensor *t = ramp(PT_F32, PT_DIMS(2, 3, 4));
  pt_tensor *s = pt_raw_sum(t, 2, (const int[]){0, 2}, false); /* [3] */
  ck_assert_int_eq(s->ndim, 1);
  for (int j = 0; j < 3; j++) {
    double want = 0;
    for (int i = 0; i < 2; i++)
      for (int k = 0; k < 4; k++) want += i * 12 + j * 4 + k;
    ck_assert_double_eq(pt_get(s, j), want);
  }
  pt_tensor *all = pt_raw_sum(t, 0, NULL, false);
  ck_assert_int_eq(all->ndim, 0);
  ck_assert_double_eq(pt_get(all, 0), 276);
  pt_tensor *bias = pt_raw_sum_to_shape(t, 1, PT_SHAPE(4));
  ck_assert_double_eq(pt_get(bias, 1), 1 + 5 + 9 + 13 + 17 + 21);
  pt_tensor_free(t);
  pt_tensor_free(s);
  pt_tensor_free(all);
  pt_tensor_free(bias);
}
END_TEST

START_TEST(rng_is_reproducible_and_sane) {
  pt_rng r1, r2;
  pt_rng_init(&r1, 42);
  pt_rng_init(&r2, 42);
  pt_tensor *a = pt_randn(&r1, PT_F32, PT_DIMS(100000));
  pt_tensor *b = pt_randn(&r2, PT_F32, PT_DIMS(100000));
  ck_assert_int_eq(memcmp(pt_data(a), pt_data(b), 400000), 0);
  double mean = 0, var = 0;
  for (int64_t i = 0; i < 100000; i++) mean += pt_get(a, i);
  mean /= 100000;
  for (int64_t i = 0; i < 100000; i++) var += pow(pt_get(a, i) - mean, 2);
  var /= 100000;
  ck_assert_double_lt(fabs(mean), 0.02);
  ck_assert_double_lt(fabs(var - 1), 0.03);
  pt_tensor *c = pt_randn(&r1, PT_F32, PT_DIMS(10)); /* the stream continues */
  ck_assert_double_ne(pt_get(c, 0), pt_get(a, 0));
  pt_tensor_free(a);
  pt_tensor_free(b);
  pt_tensor_free(c);
}
END_TEST

START_TEST(half_conversions_round_trip) {
  const float vals[] = {0.f, 1.f, -2.5f, 65504.f, 6.1035156e-05f, 5.9604645e-08f, 0.333251953125f};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
    ck_assert_float_eq(pt_f16_to_f32(pt_f32_to_f16(vals[i])), vals[i]);
  ck_assert(isinf(pt_f16_to_f32(pt_f32_to_f16(1e6f))));
  ck_assert_float_eq(pt_bf16_to_f32(pt_f32_to_bf16(1.5f)), 1.5f);
  ck_assert_float_eq(pt_bf16_to_f32(pt_f32_to_bf16(3.14159f)), 3.140625f);
  uint16_t h[3] = {0x3c00, 0xc000, 0x7bff}; /* 1, -2, 65504 */
  pt_tensor *t = pt_from_buffer(PT_F16, 1, PT_SHAPE(3), h);
  pt_tensor *f = pt_to_dtype(t, PT_F32);
  ck_assert_float_eq(((float *)pt_data(f))[2], 65504.f);
  ck_assert_float_eq(((float *)pt_data(f))[1], -2.f);
  pt_tensor_free(t);
  pt_tensor_free(f);
}
END_TEST

START_TEST(no_leaks_in_live_counter) {
  int64_t before = pt_live_allocations();
  pt_tensor *t = pt_zeros(PT_F32, PT_DIMS(3, 3));
  pt_tensor *v = pt_raw_transpose(t, 0, 1);
  pt_tensor_free(t);
  ck_assert_int_gt(pt_live_allocations(), before);
  pt_tensor_free(v);
  ck_assert_int_eq(pt_live_allocations(), before);
}
END_TEST

/* Atomic writes replace regular files whole, and write devices in place
 * (renaming over /dev/null would turn it into a regular file). */
START_TEST(atomic_writes_keep_devices_devices) {
  ck_assert_int_eq(pt_write_file_atomic("/dev/null", "x", 1), PT_OK);
  struct stat sb;
  ck_assert_int_eq(stat("/dev/null", &sb), 0);
  ck_assert(S_ISCHR(sb.st_mode));
  char path[64];
  snprintf(path, sizeof path, "/tmp/pt_atomic_%ld", (long)getpid());
  ck_assert_int_eq(pt_write_file_atomic(path, "old", 3), PT_OK);
  ck_assert_int_eq(pt_write_file_atomic(path, "new!", 4), PT_OK);
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert(S_ISREG(sb.st_mode));
  ck_assert_int_eq(sb.st_size, 4);
  unlink(path);
  ck_assert_int_eq(pt_write_file_atomic("/tmp", "x", 1), PT_ERR_IO);
}
END_TEST

/* Flushing is per thread: after pt_set_flush_denormal(true) every OpenMP
 * thread reads a denormal input as 0 (DAZ) and rounds a denormal result to
 * 0 (FTZ), and a GEMM on denormal operands returns exact zeros; switched
 * off, the same arithmetic gives the IEEE denormals again. */
static int denormal_survivors(void) {
  int survivors = 0;
#pragma omp parallel reduction(+ : survivors)
  {
    volatile float tiny = 1e-40f, normal_min = 1.17549435e-38f;
    float in = tiny * 1.0f, out = normal_min * 0.25f;
    survivors += (in != 0.0f) + (out != 0.0f);
  }
  return survivors;
}

START_TEST(flush_denormal_applies_to_every_thread) {
  int threads = omp_get_max_threads();
  /* made before flushing is on: a holds real denormals */
  pt_tensor *a = pt_full(PT_F32, PT_DIMS(64, 64), 1e-39), *b = pt_full(PT_F32, PT_DIMS(64, 64), 1.0);
  ck_assert(pt_get(a, 0) > 0.0);
  ck_assert_int_eq(denormal_survivors(), 2 * threads);
  ck_assert(pt_set_flush_denormal(true));
  ck_assert(pt_flush_denormal());
  ck_assert_int_eq(denormal_survivors(), 0);
  pt_tensor *c = pt_raw_matmul(a, b, false, false);
  for (int64_t i = 0; i < 64 * 64; i++) ck_assert_float_eq(pt_get(c, i), 0.0);
  pt_tensor_free(c);
  ck_assert(pt_set_flush_denormal(false));
  ck_assert(!pt_flush_denormal());
  ck_assert_int_eq(denormal_survivors(), 2 * threads);
  c = pt_raw_matmul(a, b, false, false);
  ck_assert_float_eq_tol(pt_get(c, 0), 64e-39, 64e-42); /* 1e-39 is a denormal: ~20 bits */
  pt_tensor_free(a);
  pt_tensor_free(b);
  pt_tensor_free(c);
}
END_TEST

/* Bulk bf16 conversions round like the scalar ones (ties to even, NaN
 * kept, infinities, signed zero, denormals), and pt_tensor_convert_inplace
 * to BF16 and back keeps the tensor and rounds its values to nearest even. */
START_TEST(bf16_bulk_conversion_and_in_place_retype) {
  const float edge[] = {0.0f, -0.0f, 1.0f, 1.00390625f, 1.01171875f, 1.0078125f, -3.3e38f,
                        INFINITY, -INFINITY, NAN, 1e-40f, -2.5e-39f, 3.14159265f, 65504.0f,
                        0x1.fffffep127f, 0x1.01p0f, 0x1.03p0f};
  int n = (int)(sizeof edge / sizeof edge[0]);
  uint16_t bulk[32];
  float back[32];
  pt_f32_to_bf16_rows(edge, n, 1, n, bulk);
  pt_bf16_to_f32_rows(bulk, n, 1, n, back);
  for (int i = 0; i < n; i++) {
    uint16_t one = pt_f32_to_bf16(edge[i]);
    ck_assert_msg(isnan(edge[i]) ? isnan(back[i]) : bulk[i] == one, "element %d: %04x vs %04x", i,
                  bulk[i], one);
    ck_assert(isnan(edge[i]) || back[i] == pt_bf16_to_f32(one));
  }
  /* a strided block: leading dimension 5, 3 columns */
  float block[10] = {1, 2, 3, 99, 99, 4, 5, 6, 99, 99};
  uint16_t packed[6];
  pt_f32_to_bf16_rows(block, 5, 2, 3, packed);
  for (int i = 0; i < 6; i++) ck_assert(pt_bf16_to_f32(packed[i]) == (float)(i + 1));

  pt_rng rng;
  pt_rng_init(&rng, 3);
  pt_tensor *t = pt_randn(&rng, PT_F32, PT_DIMS(4, 6));
  pt_tensor *orig = pt_raw_clone(t);
  pt_tensor *view = pt_raw_narrow(t, 0, 1, 2); /* keeps the old storage and values */
  ck_assert_int_eq(pt_tensor_convert_inplace(t, PT_BF16), PT_OK);
  ck_assert_int_eq(t->dtype, PT_BF16);
  ck_assert_ptr_ne(t->storage, view->storage);
  ck_assert_uint_eq(t->storage->nbytes, 24 * 2);
  for (int64_t i = 0; i < 24; i++)
    ck_assert(pt_get(t, i) == pt_bf16_to_f32(pt_f32_to_bf16((float)pt_get(orig, i))));
  ck_assert(pt_get(view, 0) == pt_get(orig, 6));
  ck_assert_int_eq(pt_tensor_convert_inplace(t, PT_F32), PT_OK);
  ck_assert_int_eq(t->dtype, PT_F32);
  ck_assert(pt_get(t, 5) == pt_bf16_to_f32(pt_f32_to_bf16((float)pt_get(orig, 5))));
  pt_tensor_free(view);
  pt_tensor_free(t);
  pt_tensor_free(orig);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tensor");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, views_share_storage_and_index_right);
  tcase_add_test(tc, view_infers_and_splits_dims);
  tcase_add_test(tc, binary_broadcasts_like_numpy);
  tcase_add_test(tc, matmul_matches_naive_in_every_layout);
  tcase_add_test(tc, sum_over_dims);
  tcase_add_test(tc, rng_is_reproducible_and_sane);
  tcase_add_test(tc, half_conversions_round_trip);
  tcase_add_test(tc, no_leaks_in_live_counter);
  tcase_add_test(tc, atomic_writes_keep_devices_devices);
  tcase_add_test(tc, flush_denormal_applies_to_every_thread);
  tcase_add_test(tc, bf16_bulk_conversion_and_in_place_retype);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}

