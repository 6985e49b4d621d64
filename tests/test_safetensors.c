/* nn/safetensors: round trips of every dtype and of strided tensors, files
 * from the PyTorch reference writer, a corpus of broken files, and a writer
 * that never leaves a half-written file. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ptune.h"

/* ---- helpers ---- */

static const char *fixtures(void) {
  const char *d = getenv("PT_FIXTURES");
  return d ? d : "tests/fixtures";
}

static char tmpdir[256];

static void tmpdir_make(void) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/pt_st_XXXXXX", base ? base : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Removes every file in tmpdir (and empty subdirectories), then tmpdir. */
static void tmpdir_remove(void) {
  DIR *d = opendir(tmpdir);
  if (!d) return;
  struct dirent *e;
  char p[600];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
    chmod(p, 0700);
    if (unlink(p) != 0) rmdir(p);
  }
  closedir(d);
  rmdir(tmpdir);
}

static char *tmp_path(const char *name) {
  static char p[512];
  snprintf(p, sizeof p, "%s/%s", tmpdir, name);
  return p;
}

/* Number of entries in dir whose name contains ".tmp.". */
static int count_temp_files(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) n++;
  closedir(d);
  return n;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
  fclose(fp);
}

/* A file with the given header text, a declared header length (the real one
 * when declared < 0) and `ndata` bytes of data (all 0x3f). */
static void write_st(const char *path, const char *header, int64_t declared, size_t ndata) {
  size_t hl = strlen(header);
  uint64_t n = declared >= 0 ? (uint64_t)declared : hl;
  size_t total = 8 + hl + ndata;
  unsigned char *buf = malloc(total);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(n >> (8 * i));
  memcpy(buf + 8, header, hl);
  memset(buf + 8 + hl, 0x3f, ndata);
  write_bytes(path, buf, total);
  free(buf);
}

/* Bytes of element `flat` (row-major) of t, any strides; exact for I64
 * (pt_get goes through double). */
static const unsigned char *elem(const pt_tensor *t, int64_t flat) {
  int64_t off = t->offset;
  for (int d = t->ndim - 1; d >= 0; d--) {
    off += (flat % t->shape[d]) * t->strides[d];
    flat /= t->shape[d];
  }
  return (const unsigned char *)t->storage->data + (size_t)off * pt_dtype_size(t->dtype);
}

static void assert_bits_equal(const pt_tensor *a, const pt_tensor *b) {
  ck_assert_int_eq(a->dtype, b->dtype);
  ck_assert_int_eq(a->ndim, b->ndim);
  for (int d = 0; d < a->ndim; d++) ck_assert_int_eq(a->shape[d], b->shape[d]);
  size_t es = pt_dtype_size(a->dtype);
  for (int64_t i = 0; i < pt_numel(a); i++)
    ck_assert_msg(memcmp(elem(a, i), elem(b, i), es) == 0, "element %lld differs", (long long)i);
}

static pt_tensor *ramp(pt_dtype dt, int ndim, const int64_t *shape, double scale) {
  pt_tensor *t = pt_empty(dt, ndim, shape);
  for (int64_t i = 0; i < pt_numel(t); i++) pt_set(t, i, (double)i * scale - 3.0);
  return t;
}

/* ---- round trips ---- */

START_TEST(round_trip_every_dtype) {
  int64_t live = pt_live_allocations();
  tmpdir_make();
  const pt_dtype dts[] = {PT_F32, PT_F64, PT_I64, PT_I32, PT_F16, PT_BF16};
  const char *names[] = {"f32", "f64", "i64", "i32", "f16", "bf16", "scalar", "empty"};
  const pt_tensor *ts[8];
  for (int i = 0; i < 6; i++) ts[i] = ramp(dts[i], PT_DIMS(3, 5), 0.25);
  /* a value only an exact byte copy of I64 keeps */
  int64_t big = ((int64_t)1 << 60) + 7;
  memcpy((int64_t *)pt_data(ts[2]) + 4, &big, 8);
  ts[6] = pt_scalar(PT_F32, 2.5);
  ts[7] = pt_zeros(PT_F32, PT_DIMS(0, 4));
  const char *keys[] = {"format", "note"}, *vals[] = {"pt", "round trip"};
  char *path = tmp_path("all.safetensors");
  ck_assert_int_eq(pt_safetensors_write(path, 8, names, ts, 2, keys, vals), PT_OK);
  ck_assert_int_eq(count_temp_files(tmpdir), 0);

  /* header: 8-byte aligned data start, __metadata__ first */
  FILE *fp = fopen(path, "rb");
  unsigned char head[64];
  ck_assert_uint_eq(fread(head, 1, sizeof head, fp), sizeof head);
  fclose(fp);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = (hl << 8) | head[i];
  ck_assert_uint_eq((8 + hl) % 8, 0);
  ck_assert_int_eq(memcmp(head + 8, "{\"__metadata__\"", 15), 0);

  pt_safetensors *f;
  ck_assert_int_eq(pt_safetensors_open(path, &f), PT_OK);
  ck_assert_int_eq(pt_safetensors_count(f), 8);
  for (int i = 0; i < 8; i++) ck_assert_str_eq(pt_safetensors_name(f, i), names[i]);
  ck_assert_str_eq(pt_safetensors_metadata(f, "note"), "round trip");
  ck_assert_ptr_null(pt_safetensors_metadata(f, "missing"));
  ck_assert_int_eq(pt_safetensors_metadata_count(f), 2);
  ck_assert_str_eq(pt_safetensors_metadata_key(f, 0), "format");
  for (int i = 0; i < 8; i++) {
    pt_tensor *t = pt_safetensors_get(f, names[i]);
    ck_assert_ptr_nonnull(t);
    assert_bits_equal(t, ts[i]);
    ck_assert(t->flags & PT_READONLY);
    pt_tensor_free(t);
  }
  /* zero-copy: two views share the one mapping; every tensor is aligned */
  pt_tensor *a = pt_safetensors_get(f, "f64"), *b = pt_safetensors_get(f, "bf16");
  ck_assert_ptr_eq(a->storage, b->storage);
  ck_assert_uint_eq((uintptr_t)pt_data(a) % 8, 0);
  pt_tensor_free(a);
  pt_tensor_free(b);
  /* conversions: halves to F32 match the library's own conversion */
  pt_tensor *h = pt_safetensors_load(f, "f16", PT_F32);
  pt_tensor *bh = pt_safetensors_load(f, "bf16", PT_F32);
  for (int64_t i = 0; i < 15; i++) {
    ck_assert_float_eq(((float *)pt_data(h))[i], (float)pt_get(ts[4], i));
    ck_assert_float_eq(((float *)pt_data(bh))[i], (float)pt_get(ts[5], i));
  }
  ck_assert_float_eq(((float *)pt_data(h))[13], 13 * 0.25 - 3.0);
  pt_tensor *i32 = pt_safetensors_load(f, "i32", PT_I64);
  ck_assert_int_eq(((int64_t *)pt_data(i32))[14], (int64_t)(14 * 0.25 - 3.0));
  pt_tensor *d = pt_safetensors_load(f, "f32", PT_F64);
  ck_assert_double_eq(((double *)pt_data(d))[5], 5 * 0.25 - 3.0);
  /* floats never become integers; I64 that do not fit I32 are refused */
  ck_assert_ptr_null(pt_safetensors_load(f, "f32", PT_I64));
  ck_assert_int_eq(pt_error_code(), PT_ERR_DTYPE);
  ck_assert_ptr_null(pt_safetensors_load(f, "i64", PT_I32));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "does not fit I32"));
  ck_assert_ptr_null(pt_safetensors_get(f, "nope"));
  ck_assert_int_eq(pt_error_code(), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "all.safetensors: no tensor named 'nope'"));
  pt_tensor_free(h);
  pt_tensor_free(bh);
  pt_tensor_free(i32);
  pt_tensor_free(d);
  ck_assert_int_eq(pt_safetensors_check_all_finite(f), PT_OK);

  /* a view outlives its file handle */
  pt_tensor *v = pt_safetensors_get(f, "f32");
  pt_safetensors_close(f);
  ck_assert_double_eq(pt_get(v, 14), 14 * 0.25 - 3.0);
  pt_tensor_free(v);
  for (int i = 0; i < 8; i++) pt_tensor_free((pt_tensor *)ts[i]);
  ck_assert_int_eq(pt_live_allocations(), live);
  tmpdir_remove();
}
END_TEST

START_TEST(round_trip_strided) {
  int64_t live = pt_live_allocations();
  tmpdir_make();
  pt_tensor *base = ramp(PT_F32, PT_DIMS(4, 6), 1.5);
  pt_tensor *tr = pt_raw_transpose(base, 0, 1);          /* [6,4] */
  pt_tensor *nr = pt_raw_narrow(tr, 0, 1, 3);            /* [3,4], offset */
  pt_tensor *ib = ramp(PT_I64, PT_DIMS(2, 3, 4), 1.0);
  int64_t big = -(((int64_t)1 << 55) + 3);
  memcpy((int64_t *)pt_data(ib) + 23, &big, 8);
  pt_tensor *ip = pt_raw_permute(ib, (const int[]){2, 0, 1}); /* [4,2,3] */
  pt_tensor *row = pt_raw_narrow(base, 0, 0, 1);
  pt_tensor *ex = pt_raw_expand(row, 2, PT_SHAPE(3, 6)); /* stride 0 */
  ck_assert(!pt_is_contiguous(nr) && !pt_is_contiguous(ip));
  const char *names[] = {"narrowed", "permuted", "expanded"};
  const pt_tensor *ts[] = {nr, ip, ex};
  char *path = tmp_path("strided.safetensors");
  ck_assert_int_eq(pt_safetensors_write(path, 3, names, ts, 0, NULL, NULL), PT_OK);
  pt_safetensors *f;
  ck_assert_int_eq(pt_safetensors_open(path, &f), PT_OK);
  for (int k = 0; k < 3; k++) {
    pt_tensor *t = pt_safetensors_get(f, names[k]);
    ck_assert(pt_is_contiguous(t));
    assert_bits_equal(t, ts[k]);
    pt_tensor_free(t);
  }
  /* the big I64 is element [3,1,2] of the permuted view: flat 3*6+1*3+2 */
  pt_tensor *p = pt_safetensors_get(f, "permuted");
  ck_assert_int_eq(((int64_t *)pt_data(p))[23], big);
  pt_tensor_free(p);
  pt_safetensors_close(f);
  pt_tensor_free(ex);
  pt_tensor_free(row);
  pt_tensor_free(ip);
  pt_tensor_free(ib);
  pt_tensor_free(nr);
  pt_tensor_free(tr);
  pt_tensor_free(base);
  tmpdir_remove();
  ck_assert_int_eq(pt_live_allocations(), live);
}
END_TEST

/* ---- files written by PyTorch ---- */

START_TEST(reads_pytorch_reference_file) {
  int64_t live = pt_live_allocations();
  char path[512];
  snprintf(path, sizeof path, "%s/safetensors/reference.safetensors", fixtures());
  pt_safetensors *f;
  ck_assert_msg(pt_safetensors_open(path, &f) == PT_OK, "%s", pt_error_message());
  const char *order[] = {"weight", "ids", "counts", "scalar", "empty", "double", "transposed"};
  ck_assert_int_eq(pt_safetensors_count(f), 7);
  for (int i = 0; i < 7; i++) ck_assert_str_eq(pt_safetensors_name(f, i), order[i]);
  ck_assert_str_eq(pt_safetensors_metadata(f, "format"), "pt");

  pt_tensor *w = pt_safetensors_get(f, "weight");
  ck_assert_int_eq(w->shape[0], 3);
  for (int i = 0; i < 12; i++) ck_assert_float_eq(((float *)pt_data(w))[i], i * 0.5f - 1.0f);
  pt_tensor *ids = pt_safetensors_get(f, "ids");
  ck_assert_int_eq(((int64_t *)pt_data(ids))[0], -2);
  ck_assert_int_eq(((int64_t *)pt_data(ids))[4], ((int64_t)1 << 40) + 1);
  pt_tensor *c = pt_safetensors_get(f, "counts");
  ck_assert_int_eq(c->dtype, PT_I32);
  ck_assert_int_eq(((int32_t *)pt_data(c))[5], 5 * 7 - 3);
  pt_tensor *s = pt_safetensors_get(f, "scalar");
  ck_assert_int_eq(s->ndim, 0);
  ck_assert_double_eq(pt_get(s, 0), 1.5);
  pt_tensor *e = pt_safetensors_get(f, "empty");
  ck_assert_int_eq(pt_numel(e), 0);
  ck_assert_int_eq(e->shape[1], 3);
  /* "double" starts 4 bytes off an 8-byte boundary in this file: the reader
   * hands out an aligned copy instead of a misaligned view */
  pt_tensor *d = pt_safetensors_get(f, "double");
  ck_assert_ptr_ne(d->storage, w->storage);
  ck_assert_uint_eq((uintptr_t)pt_data(d) % 8, 0);
  for (int i = 0; i < 24; i++) ck_assert_double_eq(((double *)pt_data(d))[i], i / 7.0);
  pt_tensor *t = pt_safetensors_get(f, "transposed"); /* arange(6).view(2,3).t() */
  ck_assert_int_eq(t->shape[0], 3);
  ck_assert_float_eq(((float *)pt_data(t))[1], 3.0f); /* t[0,1] = a[1,0] */
  ck_assert_float_eq(((float *)pt_data(t))[4], 2.0f); /* t[2,0] = a[0,2] */

  /* and our writer reproduces the same tensors, readable again */
  tmpdir_make();
  const pt_tensor *all[] = {w, ids, c, s, e, d, t};
  char *out = tmp_path("rewritten.safetensors");
  ck_assert_int_eq(pt_safetensors_write(out, 7, order, all, 0, NULL, NULL), PT_OK);
  pt_safetensors *g;
  ck_assert_int_eq(pt_safetensors_open(out, &g), PT_OK);
  for (int i = 0; i < 7; i++) {
    pt_tensor *x = pt_safetensors_get(g, order[i]);
    assert_bits_equal(x, all[i]);
    pt_tensor_free(x);
  }
  pt_safetensors_close(g);
  tmpdir_remove();

  pt_tensor *tensors[] = {w, ids, c, s, e, d, t};
  for (int i = 0; i < 7; i++) pt_tensor_free(tensors[i]);
  pt_safetensors_close(f);
  ck_assert_int_eq(pt_live_allocations(), live);
}
END_TEST

START_TEST(reads_ptv2_fixture_case) {
  int64_t live = pt_live_allocations();
  const char *files[] = {"model", "prefix", "inputs", "outputs", "full_ft_grads"};
  int64_t total = 0;
  for (int k = 0; k < 5; k++) {
    char path[512];
    snprintf(path, sizeof path, "%s/ptv2/bert_seqcls_p4_proj/%s.safetensors", fixtures(),
             files[k]);
    pt_safetensors *f;
    ck_assert_msg(pt_safetensors_open(path, &f) == PT_OK, "%s", pt_error_message());
    ck_assert_int_eq(pt_safetensors_check_all_finite(f), PT_OK);
    for (int i = 0; i < pt_safetensors_count(f); i++) {
      pt_tensor *t = pt_safetensors_load(f, pt_safetensors_name(f, i), PT_F64);
      ck_assert_ptr_nonnull(t);
      total += pt_numel(t);
      pt_tensor_free(t);
    }
    if (k == 0) {
      int64_t shape[PT_MAX_DIMS];
      int nd;
      pt_dtype dt;
      ck_assert_int_eq(pt_safetensors_info(f, "bert.embeddings.word_embeddings.weight", &dt,
                                           &nd, shape),
                       PT_OK);
      ck_assert_int_eq(dt, PT_F32);
      ck_assert_int_eq(nd, 2);
      ck_assert_int_eq(shape[0], 100);
      ck_assert_int_eq(shape[1], 32);
    }
    if (k == 3) {
      pt_tensor *lg = pt_safetensors_get(f, "logits");
      ck_assert_int_eq(lg->ndim, 2);
      ck_assert_int_eq(lg->shape[0], 3);
      ck_assert_int_eq(lg->shape[1], 3);
      pt_tensor_free(lg);
      pt_tensor *pos = pt_safetensors_get(f, "position_ids");
      ck_assert_int_eq(pos->dtype, PT_I64);
      ck_assert_int_eq(((int64_t *)pt_data(pos))[0], 4); /* BERT: offset by P = 4 */
      pt_tensor_free(pos);
      ck_assert_ptr_nonnull(strstr(pt_safetensors_metadata(f, "trainable"),
                                   "prefix_encoder.embedding.weight"));
    }
    pt_safetensors_close(f);
  }
  ck_assert_int_gt(total, 10000);
  ck_assert_int_eq(pt_live_allocations(), live);
}
END_TEST

/* ---- broken files ---- */

typedef struct {
  const char *label;
  const char *header; /* NULL: raw bytes below */
  int64_t declared;   /* header length written, -1 for the real one */
  size_t ndata;
  pt_status code;
  const char *expect; /* substring of the message */
} bad_case;

static const bad_case bad_cases[] = {
    {"invalid_json", "{\"a\": {\"dtype\":", -1, 0, PT_ERR_FORMAT, "header JSON"},
    {"not_object", "[1, 2, 3]", -1, 0, PT_ERR_FORMAT, "header is not a JSON object"},
    {"length_past_end", "{}", 1000, 8, PT_ERR_FORMAT, "runs past the end"},
    {"length_over_limit", "{}", 200000000, 8, PT_ERR_FORMAT, "over the"},
    {"length_huge", "{}", INT64_MAX, 0, PT_ERR_FORMAT, "over the"},
    {"unknown_dtype", "{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", -1, 2,
     PT_ERR_DTYPE, "tensor 'x' has dtype 'U8'"},
    {"shape_offset_mismatch", "{\"x\":{\"dtype\":\"F32\",\"shape\":[4,4],\"data_offsets\":[0,12]}}",
     -1, 16, PT_ERR_FORMAT, "tensor 'x' data_offsets [0,12] span 12 bytes but F32 [4,4] needs 64"},
    {"offsets_past_end", "{\"x\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]}}", -1,
     16, PT_ERR_FORMAT, "past the end of the 16-byte data section"},
    {"begin_after_end", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", -1, 16,
     PT_ERR_FORMAT, "end before begin"},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
     -1, 24, PT_ERR_FORMAT, "tensors 'a' [0,16] and 'b' [8,24] overlap"},
    {"duplicate_name",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     -1, 8, PT_ERR_FORMAT, "duplicate"},
    {"negative_shape", "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,0]}}", -1,
     0, PT_ERR_FORMAT, "negative size -1 in dim 0"},
    {"real_shape", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,0]}}", -1, 0,
     PT_ERR_FORMAT, "not an integer"},
    {"shape_overflow",
     "{\"x\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}",
     -1, 8, PT_ERR_FORMAT, "overflows"},
    {"too_many_dims",
     "{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", -1, 4,
     PT_ERR_FORMAT, "9 dimensions"},
    {"negative_offset", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", -1,
     4, PT_ERR_FORMAT, "data_offsets"},
    {"missing_offsets", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", -1, 4, PT_ERR_FORMAT,
     "data_offsets"},
    {"entry_not_object", "{\"x\":3}", -1, 0, PT_ERR_FORMAT, "tensor 'x' is not a JSON object"},
    {"metadata_non_string", "{\"__metadata__\":{\"k\":1}}", -1, 0, PT_ERR_FORMAT,
     "metadata 'k' is not a string"},
    {"metadata_not_object", "{\"__metadata__\":[\"k\"]}", -1, 0, PT_ERR_FORMAT,
     "\"__metadata__\" is not a JSON object"},
    {"empty_header", "", -1, 0, PT_ERR_FORMAT, "header JSON"},
    {"control_chars_in_name",
     "{\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", -1, 4,
     PT_ERR_FORMAT, "tensor 'a?b'"},
};

START_TEST(rejects_broken_files) {
  const bad_case *c = &bad_cases[_i];
  tmpdir_make();
  char name[128];
  snprintf(name, sizeof name, "%s.safetensors", c->label);
  char *path = tmp_path(name);
  write_st(path, c->header, c->declared, c->ndata);
  pt_safetensors *f = (pt_safetensors *)1;
  pt_status s = pt_safetensors_open(path, &f);
  const char *msg = pt_error_message();
  ck_assert_msg(s == c->code, "%s: code %d, want %d (%s)", c->label, s, c->code, msg);
  ck_assert_ptr_null(f);
  ck_assert_msg(strncmp(msg, path, strlen(path)) == 0, "%s: message '%s' does not start with the path",
                c->label, msg);
  ck_assert_msg(strstr(msg, c->expect) != NULL, "%s: '%s' lacks '%s'", c->label, msg,
                c->expect);
  ck_assert_ptr_null(strchr(msg, '\n'));
  tmpdir_remove();
}
END_TEST

START_TEST(rejects_short_missing_and_non_files) {
  tmpdir_make();
  pt_safetensors *f;
  const char *cases[] = {"truncated", "empty"};
  size_t sizes[] = {5, 0};
  for (int k = 0; k < 2; k++) {
    char *path = tmp_path(cases[k]);
    write_bytes(path, "\x10\0\0\0\0", sizes[k]);
    ck_assert_int_eq(pt_safetensors_open(path, &f), PT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(pt_error_message(), path));
    ck_assert_ptr_nonnull(strstr(pt_error_message(), "too short"));
  }
  /* a valid file cut short inside its data */
  const pt_tensor *t[] = {pt_ones(PT_F32, PT_DIMS(64))};
  const char *names[] = {"w"};
  char *path = tmp_path("cut.safetensors");
  ck_assert_int_eq(pt_safetensors_write(path, 1, names, t, 0, NULL, NULL), PT_OK);
  ck_assert_int_eq(truncate(path, 8 + 64 + 100), 0);
  ck_assert_int_eq(pt_safetensors_open(path, &f), PT_ERR_FORMAT);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "past the end"));
  pt_tensor_free((pt_tensor *)t[0]);

  ck_assert_int_eq(pt_safetensors_open(tmpdir, &f), PT_ERR_IO);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "not a regular file"));
  path = tmp_path("missing.safetensors");
  ck_assert_int_eq(pt_safetensors_open(path, &f), PT_ERR_IO);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "missing.safetensors: cannot open"));
  tmpdir_remove();
}
END_TEST

START_TEST(finds_nan_and_inf) {
  tmpdir_make();
  pt_tensor *a = pt_ones(PT_F32, PT_DIMS(2, 3));
  pt_tensor *b = pt_ones(PT_BF16, PT_DIMS(4));
  pt_tensor *ids = pt_zeros(PT_I64, PT_DIMS(3));
  pt_set(b, 2, INFINITY);
  const char *names[] = {"ids", "a", "b"};
  const pt_tensor *ts[] = {ids, a, b};
  char *path = tmp_path("inf.safetensors");
  ck_assert_int_eq(pt_safetensors_write(path, 3, names, ts, 0, NULL, NULL), PT_OK);
  pt_safetensors *f;
  ck_assert_int_eq(pt_safetensors_open(path, &f), PT_OK);
  ck_assert_int_eq(pt_safetensors_check_finite(f, "a"), PT_OK);
  ck_assert_int_eq(pt_safetensors_check_finite(f, "ids"), PT_OK);
  ck_assert_int_eq(pt_safetensors_check_all_finite(f), PT_ERR_NUMERIC);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "tensor 'b' [4] has Inf at element 2"));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), path));
  pt_safetensors_close(f);
  /* the tensor check on a strided view */
  pt_set(a, 4, NAN); /* a[1,1] */
  pt_tensor *tr = pt_raw_transpose(a, 0, 1); /* [3,2]: a[1,1] is flat 3 */
  ck_assert_int_eq(pt_tensor_check_finite(tr, "weights"), PT_ERR_NUMERIC);
  ck_assert_str_eq(pt_error_message(), "weights: NaN at element 3 of [3,2]");
  ck_assert_int_eq(pt_tensor_check_finite(ids, "ids"), PT_OK);
  pt_tensor_free(tr);
  pt_tensor_free(a);
  pt_tensor_free(b);
  pt_tensor_free(ids);
  tmpdir_remove();
}
END_TEST

/* ---- the writer never leaves a half-written file ---- */

static void write_old(const char *path) {
  const pt_tensor *t[] = {pt_full(PT_F32, PT_DIMS(4), 7.0)};
  const char *names[] = {"old"};
  ck_assert_int_eq(pt_safetensors_write(path, 1, names, t, 0, NULL, NULL), PT_OK);
  pt_tensor_free((pt_tensor *)t[0]);
}

static void assert_old(const char *path) {
  pt_safetensors *f;
  ck_assert_msg(pt_safetensors_open(path, &f) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(pt_safetensors_count(f), 1);
  pt_tensor *t = pt_safetensors_get(f, "old");
  ck_assert_double_eq(pt_get(t, 3), 7.0);
  pt_tensor_free(t);
  pt_safetensors_close(f);
}

START_TEST(writer_failures_keep_old_file) {
  tmpdir_make();
  pt_tensor *big = pt_ones(PT_F32, PT_DIMS(256, 1024)); /* 1 MiB */
  pt_tensor *bt = pt_raw_transpose(big, 0, 1);             /* strided path too */
  const char *names[] = {"big", "bigT"};
  const pt_tensor *ts[] = {big, bt};

  /* a directory that does not exist */
  char nodir[600];
  snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.safetensors", tmpdir);
  ck_assert_int_eq(pt_safetensors_write(nodir, 1, names, ts, 0, NULL, NULL), PT_ERR_IO);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), nodir));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "No such file or directory"));

  /* the target is a directory: refused before writing, the directory stays */
  char *dpath = tmp_path("adir.safetensors");
  ck_assert_int_eq(mkdir(dpath, 0700), 0);
  ck_assert_int_eq(pt_safetensors_write(dpath, 1, names, ts, 0, NULL, NULL), PT_ERR_IO);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "is a directory"));
  struct stat sb;
  ck_assert_int_eq(stat(dpath, &sb), 0);
  ck_assert(S_ISDIR(sb.st_mode));
  ck_assert_int_eq(count_temp_files(tmpdir), 0);

  /* a full disk, simulated by a file-size limit: the old file survives */
  char path[600];
  snprintf(path, sizeof path, "%s/ckpt.safetensors", tmpdir);
  write_old(path);
  struct rlimit old_lim, lim;
  getrlimit(RLIMIT_FSIZE, &old_lim);
  lim = old_lim;
  lim.rlim_cur = 64 * 1024;
  signal(SIGXFSZ, SIG_IGN);
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
  pt_status s = pt_safetensors_write(path, 2, names, ts, 0, NULL, NULL);
  setrlimit(RLIMIT_FSIZE, &old_lim);
  ck_assert_int_eq(s, PT_ERR_IO);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), path));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "writing"));
  ck_assert_int_eq(count_temp_files(tmpdir), 0);
  assert_old(path);

  /* a read-only directory (root ignores permissions, so only as a user) */
  if (geteuid() != 0) {
    ck_assert_int_eq(chmod(tmpdir, 0500), 0);
    ck_assert_int_eq(pt_safetensors_write(path, 1, names, ts, 0, NULL, NULL), PT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(pt_error_message(), "cannot create"));
    chmod(tmpdir, 0700);
    assert_old(path);
  }

  /* bad arguments are refused before anything touches the disk */
  const char *dup[] = {"w", "w"};
  ck_assert_int_eq(pt_safetensors_write(path, 2, dup, ts, 0, NULL, NULL), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "appears twice"));
  const char *meta[] = {"__metadata__"};
  ck_assert_int_eq(pt_safetensors_write(path, 1, meta, ts, 0, NULL, NULL), PT_ERR_ARG);
  assert_old(path);

  /* and a successful write replaces it whole */
  ck_assert_int_eq(pt_safetensors_write(path, 2, names, ts, 0, NULL, NULL), PT_OK);
  ck_assert_int_eq(count_temp_files(tmpdir), 0);
  pt_safetensors *f;
  ck_assert_int_eq(pt_safetensors_open(path, &f), PT_OK);
  pt_tensor *back = pt_safetensors_get(f, "bigT");
  assert_bits_equal(back, bt);
  pt_tensor_free(back);
  pt_safetensors_close(f);
  pt_tensor_free(bt);
  pt_tensor_free(big);
  tmpdir_remove();
}
END_TEST

int main(void) {
  Suite *s = suite_create("safetensors");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, round_trip_every_dtype);
  tcase_add_test(tc, round_trip_strided);
  tcase_add_test(tc, reads_pytorch_reference_file);
  tcase_add_test(tc, reads_ptv2_fixture_case);
  tcase_add_loop_test(tc, rejects_broken_files, 0,
                      (int)(sizeof bad_cases / sizeof bad_cases[0]));
  tcase_add_test(tc, rejects_short_missing_and_non_files);
  tcase_add_test(tc, finds_nan_and_inf);
  tcase_add_test(tc, writer_failures_keep_old_file);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
