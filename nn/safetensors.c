/* safetensors reader: mmap, validate the header, hand out zero-copy views
 * and converted copies. The writer is in safetensors_write.c. */
#include "nn/pt_safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data are little-endian; ptune reads them in place"
#endif

typedef struct {
  char *name;
  pt_dtype dtype;
  int ndim;
  int64_t shape[PT_MAX_DIMS];
  uint64_t begin, end; /* byte offsets in the data section */
} st_entry;

struct pt_safetensors {
  char *path;
  pt_storage *map; /* the whole file; views hold references to it */
  size_t data_start; /* byte offset of the data section in the file */
  int count;
  st_entry *entries;  /* file order */
  int *sorted;        /* entry indices sorted by name, for lookup */
  int nmeta;
  char **meta_keys, **meta_values;
};

/* A name fit for a one-line message: at most 80 bytes, control bytes as '?'. */
static const char *shown(const char *s, char *buf, size_t cap) {
  size_t n = 0;
  for (; s[n] && n + 4 < cap && n < 80; n++)
    buf[n] = ((unsigned char)s[n] < 0x20 || s[n] == 0x7f) ? '?' : s[n];
  if (s[n]) {
    memcpy(buf + n, "...", 3);
    n += 3;
  }
  buf[n] = '\0';
  return buf;
}

typedef struct {
  void *base;
  size_t len;
} st_mapping;

static void unmap_release(void *ctx) {
  st_mapping *m = ctx;
  munmap(m->base, m->len);
  free(m);
}

static bool dtype_from_name(const char *s, pt_dtype *dt) {
  static const struct {
    const char *name;
    pt_dtype dt;
  } known[] = {{"F32", PT_F32}, {"F16", PT_F16}, {"BF16", PT_BF16},
               {"F64", PT_F64}, {"I64", PT_I64}, {"I32", PT_I32}};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcmp(s, known[i].name) == 0) {
      *dt = known[i].dt;
      return true;
    }
  return false;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

void pt_safetensors_close(pt_safetensors *f) {
  if (!f) return;
  for (int i = 0; i < f->count; i++) free(f->entries[i].name);
  for (int i = 0; i < f->nmeta; i++) {
    free(f->meta_keys[i]);
    free(f->meta_values[i]);
  }
  free(f->entries);
  free(f->sorted);
  free(f->meta_keys);
  free(f->meta_values);
  pt_storage_unref(f->map);
  free(f->path);
  free(f);
}

/* Reads a non-negative JSON integer. */
static bool json_u64(const json_t *v, uint64_t *out) {
  if (!json_is_integer(v)) return false;
  json_int_t x = json_integer_value(v);
  if (x < 0) return false;
  *out = (uint64_t)x;
  return true;
}

static pt_status parse_entry(pt_safetensors *f, const char *name, json_t *v,
                             uint64_t data_len, st_entry *e) {
  const char *p = f->path;
  char nb[96];
  const char *sn = shown(name, nb, sizeof nb);
  if (!json_is_object(v))
    return pt_error(PT_ERR_FORMAT, "%s: tensor '%s' is not a JSON object", p, sn);
  json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
         *jo = json_object_get(v, "data_offsets");
  if (!json_is_string(jd))
    return pt_error(PT_ERR_FORMAT, "%s: tensor '%s' has no string \"dtype\"", p, sn);
  if (!dtype_from_name(json_string_value(jd), &e->dtype)) {
    char db[96];
    return pt_error(PT_ERR_DTYPE,
                    "%s: tensor '%s' has dtype '%s' (ptune reads F32, F16, BF16, F64, I64, I32)",
                    p, sn, shown(json_string_value(jd), db, sizeof db));
  }
  if (!json_is_array(js))
    return pt_error(PT_ERR_FORMAT, "%s: tensor '%s' has no \"shape\" array", p, sn);
  size_t nd = json_array_size(js);
  if (nd > PT_MAX_DIMS)
    return pt_error(PT_ERR_FORMAT, "%s: tensor '%s' has %zu dimensions (at most %d)", p, sn,
                    nd, PT_MAX_DIMS);
  e->ndim = (int)nd;
  uint64_t numel = 1;
  bool overflow = false;
  for (size_t d = 0; d < nd; d++) {
    uint64_t s;
    json_t *jv = json_array_get(js, d);
    if (!json_u64(jv, &s)) {
      if (json_is_integer(jv))
        return pt_error(PT_ERR_FORMAT, "%s: tensor '%s' has negative size %lld in dim %zu", p,
                        sn, (long long)json_integer_value(jv), d);
      return pt_error(PT_ERR_FORMAT, "%s: tensor '%s' shape entry %zu is not an integer", p,
                      sn, d);
    }
    e->shape[d] = (int64_t)s;
    if (__builtin_mul_overflow(numel, s, &numel)) overflow = true;
  }
  char shp[160];
  pt_dims_str(e->ndim, e->shape, shp, sizeof shp);
  size_t es = pt_dtype_size(e->dtype);
  uint64_t need;
  if (overflow || numel > (uint64_t)INT64_MAX || __builtin_mul_overflow(numel, es, &need))
    return pt_error(PT_ERR_FORMAT, "%s: tensor '%s' shape %s overflows", p, sn, shp);
  if (!json_is_array(jo) || json_array_size(jo) != 2 ||
      !json_u64(json_array_get(jo, 0), &e->begin) || !json_u64(json_array_get(jo, 1), &e->end))
    return pt_error(PT_ERR_FORMAT,
                    "%s: tensor '%s' \"data_offsets\" is not two non-negative integers", p, sn);
  if (e->begin > e->end)
    return pt_error(PT_ERR_FORMAT, "%s: tensor '%s' data_offsets [%llu,%llu] end before begin",
                    p, sn, (unsigned long long)e->begin, (unsigned long long)e->end);
  if (e->end > data_len)
    return pt_error(PT_ERR_FORMAT,
                    "%s: tensor '%s' data_offsets [%llu,%llu] past the end of the %llu-byte data "
                    "section",
                    p, sn, (unsigned long long)e->begin, (unsigned long long)e->end,
                    (unsigned long long)data_len);
  if (e->end - e->begin != need)
    return pt_error(PT_ERR_FORMAT,
                    "%s: tensor '%s' data_offsets [%llu,%llu] span %llu bytes but %s %s needs %llu",
                    p, sn, (unsigned long long)e->begin, (unsigned long long)e->end,
                    (unsigned long long)(e->end - e->begin), pt_dtype_name(e->dtype), shp,
                    (unsigned long long)need);
  e->name = dup_str(name);
  if (!e->name) return pt_error(PT_ERR_NOMEM, "%s: out of memory", p);
  return PT_OK;
}

static pt_status parse_metadata(pt_safetensors *f, json_t *m) {
  if (!json_is_object(m))
    return pt_error(PT_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", f->path);
  size_t n = json_object_size(m);
  f->meta_keys = calloc(n ? n : 1, sizeof(char *));
  f->meta_values = calloc(n ? n : 1, sizeof(char *));
  if (!f->meta_keys || !f->meta_values)
    return pt_error(PT_ERR_NOMEM, "%s: out of memory", f->path);
  const char *k;
  json_t *v;
  json_object_foreach(m, k, v) {
    char kb[96];
    if (!json_is_string(v))
      return pt_error(PT_ERR_FORMAT, "%s: metadata '%s' is not a string", f->path,
                      shown(k, kb, sizeof kb));
    f->meta_keys[f->nmeta] = dup_str(k);
    f->meta_values[f->nmeta] = dup_str(json_string_value(v));
    f->nmeta++;
    if (!f->meta_keys[f->nmeta - 1] || !f->meta_values[f->nmeta - 1])
      return pt_error(PT_ERR_NOMEM, "%s: out of memory", f->path);
  }
  return PT_OK;
}

static int by_begin(const void *a, const void *b) {
  const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return x < y ? -1 : x > y;
}
static int by_name(const void *a, const void *b) {
  return strcmp((*(const st_entry *const *)a)->name, (*(const st_entry *const *)b)->name);
}

/* Entry indices of f sorted by cmp (over entry pointers). */
static void sort_indices(const st_entry *entries, int *idx, int n,
                         int (*cmp)(const void *, const void *), const st_entry **tmp) {
  for (int i = 0; i < n; i++) tmp[i] = &entries[i];
  qsort(tmp, (size_t)n, sizeof *tmp, cmp);
  for (int i = 0; i < n; i++) idx[i] = (int)(tmp[i] - entries);
}

static pt_status check_overlaps(pt_safetensors *f) {
  int n = f->count;
  int *order = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
  const st_entry **tmp = malloc(sizeof *tmp * (size_t)(n > 0 ? n : 1));
  if (!order || !tmp) {
    free(order);
    free(tmp);
    return pt_error(PT_ERR_NOMEM, "%s: out of memory", f->path);
  }
  sort_indices(f->entries, order, n, by_begin, tmp);
  int last = -1; /* the non-empty tensor reaching furthest so far */
  pt_status s = PT_OK;
  for (int k = 0; k < n && s == PT_OK; k++) {
    const st_entry *e = &f->entries[order[k]];
    if (e->begin == e->end) continue; /* empty tensors occupy nothing */
    if (last >= 0 && e->begin < f->entries[last].end) {
      char b1[96], b2[96];
      const st_entry *o = &f->entries[last];
      s = pt_error(PT_ERR_FORMAT, "%s: tensors '%s' [%llu,%llu] and '%s' [%llu,%llu] overlap",
                   f->path, shown(o->name, b1, sizeof b1), (unsigned long long)o->begin,
                   (unsigned long long)o->end, shown(e->name, b2, sizeof b2),
                   (unsigned long long)e->begin, (unsigned long long)e->end);
    }
    if (last < 0 || e->end > f->entries[last].end) last = order[k];
  }
  if (s == PT_OK) {
    f->sorted = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (f->sorted)
      sort_indices(f->entries, f->sorted, n, by_name, tmp);
    else
      s = pt_error(PT_ERR_NOMEM, "%s: out of memory", f->path);
  }
  free(order);
  free(tmp);
  return s;
}

static pt_status parse_header(pt_safetensors *f, const char *text, size_t len,
                              uint64_t data_len) {
  json_error_t err;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
  if (!root) {
    char tb[200];
    return pt_error(PT_ERR_FORMAT, "%s: header JSON at byte %d: %s", f->path, err.position,
                    shown(err.text, tb, sizeof tb));
  }
  pt_status s = PT_OK;
  if (!json_is_object(root)) {
    s = pt_error(PT_ERR_FORMAT, "%s: header is not a JSON object", f->path);
    goto done;
  }
  size_t n = json_object_size(root);
  f->entries = calloc(n ? n : 1, sizeof *f->entries);
  if (!f->entries) {
    s = pt_error(PT_ERR_NOMEM, "%s: out of memory", f->path);
    goto done;
  }
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    if (strcmp(key, "__metadata__") == 0) {
      s = parse_metadata(f, v);
    } else {
      s = parse_entry(f, key, v, data_len, &f->entries[f->count]);
      if (s == PT_OK) f->count++;
    }
    if (s != PT_OK) goto done;
  }
  s = check_overlaps(f); /* also builds the by-name index */
done:
  json_decref(root);
  return s;
}

pt_status pt_safetensors_open(const char *path, pt_safetensors **out) {
  *out = NULL;
  pt_safetensors *f = calloc(1, sizeof *f);
  if (!f || !(f->path = dup_str(path))) {
    free(f);
    return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  }
  pt_status s = PT_OK;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    s = pt_error(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    goto fail;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    s = pt_error(PT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    close(fd);
    goto fail;
  }
  if (!S_ISREG(sb.st_mode)) {
    s = pt_error(PT_ERR_IO, "%s: not a regular file", path);
    close(fd);
    goto fail;
  }
  size_t len = (size_t)sb.st_size;
  if (len < 8) {
    s = pt_error(PT_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file (at least 8)",
                 path, len);
    close(fd);
    goto fail;
  }
  void *base = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    s = pt_error(PT_ERR_IO, "%s: cannot mmap: %s", path, strerror(errno));
    goto fail;
  }
  st_mapping *m = malloc(sizeof *m);
  if (m) {
    m->base = base;
    m->len = len;
    f->map = pt_storage_wrap(base, len, unmap_release, m);
  }
  if (!f->map) {
    free(m);
    munmap(base, len);
    s = pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
    goto fail;
  }
  const unsigned char *bytes = base;
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | bytes[i];
  if (hlen > PT_SAFETENSORS_MAX_HEADER) {
    s = pt_error(PT_ERR_FORMAT, "%s: header length %llu is over the %u-byte limit", path,
                 (unsigned long long)hlen, PT_SAFETENSORS_MAX_HEADER);
    goto fail;
  }
  if (hlen > len - 8) {
    s = pt_error(PT_ERR_FORMAT, "%s: header length %llu runs past the end of the %zu-byte file",
                 path, (unsigned long long)hlen, len);
    goto fail;
  }
  f->data_start = 8 + (size_t)hlen;
  s = parse_header(f, (const char *)bytes + 8, (size_t)hlen, len - f->data_start);
  if (s != PT_OK) goto fail;
  *out = f;
  return PT_OK;
fail:
  pt_safetensors_close(f);
  return s;
}

const char *pt_safetensors_path(const pt_safetensors *f) { return f->path; }
int pt_safetensors_count(const pt_safetensors *f) { return f->count; }

const char *pt_safetensors_name(const pt_safetensors *f, int i) {
  return i >= 0 && i < f->count ? f->entries[i].name : NULL;
}

int pt_safetensors_find(const pt_safetensors *f, const char *name) {
  int lo = 0, hi = f->count - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(name, f->entries[f->sorted[mid]].name);
    if (c == 0) return f->sorted[mid];
    if (c < 0)
      hi = mid - 1;
    else
      lo = mid + 1;
  }
  return -1;
}

static const st_entry *lookup(const pt_safetensors *f, const char *name) {
  int i = pt_safetensors_find(f, name);
  if (i < 0) {
    char nb[96];
    pt_error(PT_ERR_ARG, "%s: no tensor named '%s'", f->path, shown(name, nb, sizeof nb));
    return NULL;
  }
  return &f->entries[i];
}

pt_status pt_safetensors_info(const pt_safetensors *f, const char *name, pt_dtype *dtype,
                              int *ndim, int64_t *shape) {
  const st_entry *e = lookup(f, name);
  if (!e) return PT_ERR_ARG;
  if (dtype) *dtype = e->dtype;
  if (ndim) *ndim = e->ndim;
  if (shape) memcpy(shape, e->shape, sizeof(int64_t) * (size_t)e->ndim);
  return PT_OK;
}

static const unsigned char *entry_bytes(const pt_safetensors *f, const st_entry *e) {
  return (const unsigned char *)f->map->data + f->data_start + e->begin;
}

pt_tensor *pt_safetensors_get(const pt_safetensors *f, const char *name) {
  const st_entry *e = lookup(f, name);
  if (!e) return NULL;
  size_t es = pt_dtype_size(e->dtype);
  size_t at = f->data_start + (size_t)e->begin;
  pt_tensor *t;
  if (at % es == 0) {
    int64_t strides[PT_MAX_DIMS];
    int64_t st = 1;
    for (int d = e->ndim - 1; d >= 0; d--) {
      strides[d] = st;
      st *= e->shape[d];
    }
    t = pt_tensor_wrap(f->map, e->dtype, (int64_t)(at / es), e->ndim, e->shape, strides);
  } else {
    t = pt_from_buffer(e->dtype, e->ndim, e->shape, entry_bytes(f, e));
  }
  if (!t) return NULL;
  t->flags |= PT_READONLY;
  return t;
}

/* dst[i] = src[i] for n elements, src unaligned bytes of dtype sdt. */
static pt_status convert(const pt_safetensors *f, const st_entry *e, void *dst, pt_dtype ddt) {
  const unsigned char *src = entry_bytes(f, e);
  int64_t n = (int64_t)((e->end - e->begin) / pt_dtype_size(e->dtype));
  pt_dtype sdt = e->dtype;
  if (sdt == ddt) {
    memcpy(dst, src, e->end - e->begin);
    return PT_OK;
  }
  bool sint = sdt == PT_I64 || sdt == PT_I32, dint = ddt == PT_I64 || ddt == PT_I32;
  char nb[96];
  if (dint && !sint)
    return pt_error(PT_ERR_DTYPE, "%s: tensor '%s' is %s; not converting floats to %s", f->path,
                    shown(e->name, nb, sizeof nb), pt_dtype_name(sdt), pt_dtype_name(ddt));
  for (int64_t i = 0; i < n; i++) {
    if (sint) {
      int64_t v;
      if (sdt == PT_I64) {
        memcpy(&v, src + 8 * i, 8);
      } else {
        int32_t w;
        memcpy(&w, src + 4 * i, 4);
        v = w;
      }
      switch (ddt) {
        case PT_I64: ((int64_t *)dst)[i] = v; break;
        case PT_I32:
          if (v < INT32_MIN || v > INT32_MAX)
            return pt_error(PT_ERR_DTYPE, "%s: tensor '%s' value %lld at element %lld does not fit I32",
                            f->path, shown(e->name, nb, sizeof nb), (long long)v, (long long)i);
          ((int32_t *)dst)[i] = (int32_t)v;
          break;
        case PT_F32: ((float *)dst)[i] = (float)v; break;
        case PT_F64: ((double *)dst)[i] = (double)v; break;
        case PT_F16: ((uint16_t *)dst)[i] = pt_f32_to_f16((float)v); break;
        case PT_BF16: ((uint16_t *)dst)[i] = pt_f32_to_bf16((float)v); break;
        default: break;
      }
      continue;
    }
    double v = 0;
    uint16_t h;
    float x;
    switch (sdt) {
      case PT_F32: memcpy(&x, src + 4 * i, 4); v = x; break;
      case PT_F64: memcpy(&v, src + 8 * i, 8); break;
      case PT_F16: memcpy(&h, src + 2 * i, 2); v = pt_f16_to_f32(h); break;
      case PT_BF16: memcpy(&h, src + 2 * i, 2); v = pt_bf16_to_f32(h); break;
      default: break;
    }
    switch (ddt) {
      case PT_F32: ((float *)dst)[i] = (float)v; break;
      case PT_F64: ((double *)dst)[i] = v; break;
      case PT_F16: ((uint16_t *)dst)[i] = pt_f32_to_f16((float)v); break;
      case PT_BF16: ((uint16_t *)dst)[i] = pt_f32_to_bf16((float)v); break;
      default: break;
    }
  }
  return PT_OK;
}

pt_tensor *pt_safetensors_load(const pt_safetensors *f, const char *name, pt_dtype dt) {
  const st_entry *e = lookup(f, name);
  if (!e) return NULL;
  if ((unsigned)dt >= PT_DTYPE_COUNT) {
    pt_error(PT_ERR_DTYPE, "%s: load: unknown dtype %d", f->path, (int)dt);
    return NULL;
  }
  pt_tensor *t = pt_empty(dt, e->ndim, e->shape);
  if (!t) return NULL;
  if (convert(f, e, pt_data(t), dt) != PT_OK) {
    pt_tensor_free(t);
    return NULL;
  }
  return t;
}

const char *pt_safetensors_metadata(const pt_safetensors *f, const char *key) {
  for (int i = 0; i < f->nmeta; i++)
    if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
  return NULL;
}

int pt_safetensors_metadata_count(const pt_safetensors *f) { return f->nmeta; }

const char *pt_safetensors_metadata_key(const pt_safetensors *f, int i) {
  return i >= 0 && i < f->nmeta ? f->meta_keys[i] : NULL;
}

/* Index of the first non-finite element of n little-endian values, or -1. */
static int64_t first_nonfinite(const unsigned char *src, int64_t n, pt_dtype dt,
                               double *bad) {
  for (int64_t i = 0; i < n; i++) {
    double v;
    uint16_t h;
    float x;
    switch (dt) {
      case PT_F32: memcpy(&x, src + 4 * i, 4); v = x; break;
      case PT_F64: memcpy(&v, src + 8 * i, 8); break;
      case PT_F16: memcpy(&h, src + 2 * i, 2); v = pt_f16_to_f32(h); break;
      case PT_BF16: memcpy(&h, src + 2 * i, 2); v = pt_bf16_to_f32(h); break;
      default: return -1;
    }
    if (!isfinite(v)) {
      *bad = v;
      return i;
    }
  }
  return -1;
}

pt_status pt_safetensors_check_finite(const pt_safetensors *f, const char *name) {
  const st_entry *e = lookup(f, name);
  if (!e) return PT_ERR_ARG;
  int64_t n = (int64_t)((e->end - e->begin) / pt_dtype_size(e->dtype));
  double v = 0;
  int64_t i = first_nonfinite(entry_bytes(f, e), n, e->dtype, &v);
  if (i < 0) return PT_OK;
  char nb[96], sb[160];
  return pt_error(PT_ERR_NUMERIC, "%s: tensor '%s' %s has %s at element %lld", f->path,
                  shown(e->name, nb, sizeof nb), pt_dims_str(e->ndim, e->shape, sb, sizeof sb),
                  isnan(v) ? "NaN" : "Inf", (long long)i);
}

pt_status pt_safetensors_check_all_finite(const pt_safetensors *f) {
  for (int i = 0; i < f->count; i++)
    PT_TRY(pt_safetensors_check_finite(f, f->entries[i].name));
  return PT_OK;
}

pt_status pt_tensor_check_finite(const pt_tensor *t, const char *what) {
  if (!t) return pt_error_upstream(what);
  if (t->dtype == PT_I64 || t->dtype == PT_I32) return PT_OK;
  int64_t n = pt_numel(t), bad = -1;
  double v = 0;
  if (pt_is_contiguous(t)) {
    bad = first_nonfinite(pt_data(t), n, t->dtype, &v);
  } else {
    for (int64_t i = 0; i < n && bad < 0; i++)
      if (!isfinite(pt_get(t, i))) bad = i;
  }
  if (bad < 0) return PT_OK;
  char sb[160];
  v = pt_get(t, bad);
  return pt_error(PT_ERR_NUMERIC, "%s: %s at element %lld of %s", what,
                  isnan(v) ? "NaN" : "Inf", (long long)bad, pt_shape_str(t, sb, sizeof sb));
}
