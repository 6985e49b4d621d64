/* Loading and saving named parameters through safetensors. */
#include "nn/pt_params_io.h"

#include <stdio.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "nn/pt_safetensors.h"

static int param_index(const pt_params *ps, const char *name) {
  for (int i = 0; i < ps->count; i++)
    if (!strcmp(ps->items[i]->name, name)) return i;
  return -1;
}

static void note_unused(pt_load_report *r, const char *name) {
  r->unused++;
  size_t used = strlen(r->unused_names);
  if (r->unused > 6) {
    if (r->unused == 7 && used + 5 < sizeof r->unused_names) strcat(r->unused_names, ", ...");
    return;
  }
  snprintf(r->unused_names + used, sizeof r->unused_names - used, "%s%s", used ? ", " : "", name);
}

pt_status pt_params_load_safetensors(pt_params *ps, const char *path, pt_name_map map, void *ctx,
                                     bool *filled, pt_load_report *report) {
  pt_load_report local = {0};
  pt_load_report *r = report ? report : &local;
  pt_safetensors *f;
  PT_TRY(pt_safetensors_open(path, &f));
  pt_status st = PT_OK;
  int n = pt_safetensors_count(f);
  for (int i = 0; i < n && st == PT_OK; i++) {
    const char *fname = pt_safetensors_name(f, i);
    char pname[256];
    if (map) {
      if (!map(fname, pname, sizeof pname, ctx)) {
        note_unused(r, fname);
        continue;
      }
    } else {
      snprintf(pname, sizeof pname, "%s", fname);
    }
    int k = param_index(ps, pname);
    if (k < 0) {
      note_unused(r, fname);
      continue;
    }
    pt_tensor *p = ps->items[k];
    if (filled && filled[k]) {
      st = pt_error(PT_ERR_FORMAT, "%s: tensor '%s' fills parameter '%s' a second time", path,
                    fname, pname);
      break;
    }
    pt_dtype sd;
    if (pt_safetensors_info(f, fname, &sd, NULL, NULL) == PT_OK && pt_dtype_is_float(p->dtype) &&
        (sd == PT_I32 || sd == PT_I64)) { /* integers are no weights (and would be cast silently) */
      st = pt_error(PT_ERR_DTYPE, "%s: tensor '%s' has dtype %s but parameter '%s' is %s", path,
                    fname, pt_dtype_name(sd), pname, pt_dtype_name(p->dtype));
      break;
    }
    pt_tensor *t = pt_safetensors_load(f, fname, p->dtype);
    if (!t) {
      st = pt_error_code();
      break;
    }
    if (!pt_same_shape(t, p)) {
      char s1[96], s2[96];
      st = pt_error(PT_ERR_SHAPE, "%s: tensor '%s' has shape %s but parameter '%s' needs %s", path,
                    fname, pt_shape_str(t, s1, sizeof s1), pname, pt_shape_str(p, s2, sizeof s2));
    }
    if (st == PT_OK) st = pt_tensor_check_finite(t, fname);
    if (st != PT_OK && pt_error_code() == PT_ERR_NUMERIC) pt_error_context(st, "%s", path);
    if (st == PT_OK) st = pt_copy_into(p, t);
    pt_tensor_free(t);
    if (st == PT_OK) {
      r->loaded++;
      if (filled) filled[k] = true;
    }
  }
  pt_safetensors_close(f);
  return st;
}

pt_status pt_params_save_safetensors(const pt_params *ps, const char *path, bool trainable_only,
                                     int nmeta, const char *const *keys,
                                     const char *const *values) {
  const char **names = pt_alloc(sizeof(char *) * (size_t)(ps->count + 1));
  const pt_tensor **ts = pt_alloc(sizeof(pt_tensor *) * (size_t)(ps->count + 1));
  if (!names || !ts) {
    pt_free_bytes(names);
    pt_free_bytes(ts);
    return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  }
  int n = 0;
  for (int i = 0; i < ps->count; i++) {
    if (trainable_only && !pt_requires_grad(ps->items[i])) continue;
    names[n] = ps->items[i]->name;
    ts[n++] = ps->items[i];
  }
  pt_status st = pt_safetensors_write(path, n, names, ts, nmeta, keys, values);
  pt_free_bytes(names);
  pt_free_bytes(ts);
  return st;
}
