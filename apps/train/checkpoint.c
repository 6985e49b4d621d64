/* Training checkpoints in OUT (the format: checkpoint.h). checkpoint.json
 * holds the step, the data position, the dropout RNG state, the best dev
 * metric so far, the skipped updates, the run's length and seconds, and the
 * options it must be resumed with. */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apps/train/checkpoint.h"
#include "nn/pt_json.h"
#include "nn/pt_safetensors.h"
#include "tensor/pt_file.h"

static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[4400];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

bool checkpoint_exists(const char *out) {
  char p[4200];
  snprintf(p, sizeof p, "%s/checkpoint.json", out);
  return access(p, F_OK) == 0;
}

/* OUT/<dir>/optimizer.safetensors: the optimizer state entries by name. */
static pt_status save_optimizer(const pt_optim *o, const char *dir) {
  char p[4400];
  int n = pt_optim_state_count(o);
  const char **names = malloc(sizeof(char *) * (size_t)(n + 1));
  const pt_tensor **ts = malloc(sizeof(pt_tensor *) * (size_t)(n + 1));
  if (!names || !ts) {
    free(names);
    free(ts);
    return pt_error(PT_ERR_NOMEM, "checkpoint: out of memory");
  }
  for (int i = 0; i < n; i++) {
    names[i] = pt_optim_state_name(o, i);
    ts[i] = pt_optim_state_tensor(o, i);
  }
  snprintf(p, sizeof p, "%s/optimizer.safetensors", dir);
  pt_status st = pt_safetensors_write(p, n, names, ts, 0, NULL, NULL);
  free(names);
  free(ts);
  return st;
}

/* OUT/checkpoint.json (atomically): names `name` and holds the loop state. */
static pt_status save_state(const char *out, const char *name, const train_state *s,
                            const char *config) {
  char p[4400];
  json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:b, s:f, s:I}", "dir", name, "step",
                        (json_int_t)s->step, "epoch", (json_int_t)s->epoch, "pos",
                        (json_int_t)s->pos, "rng_seed", "", "rng_counter", "", "has_best",
                        s->has_best, "best", s->has_best ? s->best : 0.0, "best_step",
                        (json_int_t)s->best_step);
  /* 64-bit RNG state as decimal strings (JSON integers are signed). */
  char buf[32];
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)s->rng.seed);
  json_object_set_new(j, "rng_seed", json_string(buf));
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)s->rng.counter);
  json_object_set_new(j, "rng_counter", json_string(buf));
  json_object_set_new(j, "skipped_steps", json_integer((json_int_t)s->skipped));
  json_object_set_new(j, "total_steps", json_integer((json_int_t)s->total));
  json_object_set_new(j, "tokens", json_integer((json_int_t)s->tokens));
  json_object_set_new(j, "train_seconds", json_real(s->train_seconds));
  if (config) json_object_set_new(j, "config", json_string(config));
  char *txt = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
  json_decref(j);
  if (!txt) return pt_error(PT_ERR_NOMEM, "checkpoint: out of memory");
  snprintf(p, sizeof p, "%s/checkpoint.json", out);
  pt_status st = pt_write_file_atomic(p, txt, strlen(txt));
  free(txt);
  return st;
}

pt_status checkpoint_save(const char *out, const checkpoint_weights *w, const pt_optim *o,
                          const train_state *s, const char *config) {
  char dir[4200], p[4400], old[4200] = "";
  snprintf(p, sizeof p, "%s/checkpoint.json", out);
  json_t *prev = access(p, F_OK) == 0 ? json_load_file(p, 0, NULL) : NULL;
  const char *pd = prev ? json_string_value(json_object_get(prev, "dir")) : NULL;
  if (pd) snprintf(old, sizeof old, "%s/%s", out, pd);
  json_decref(prev);
  char name[64];
  snprintf(name, sizeof name, "ckpt-%lld", (long long)s->step);
  snprintf(dir, sizeof dir, "%s/%s", out, name);
  pt_status st = pt_mkdirs(dir);
  if (st == PT_OK) st = w->save(w->ctx, dir);
  if (st == PT_OK) st = save_optimizer(o, dir);
  if (st == PT_OK) st = save_state(out, name, s, config);
  if (st != PT_OK) { /* e.g. a full disk: drop the half-written directory, keep the last one */
    if (strcmp(old, dir)) remove_dir(dir);
    return st;
  }
  if (old[0] && strcmp(old, dir)) remove_dir(old);
  return PT_OK;
}

pt_status checkpoint_load(const char *out, const checkpoint_weights *w, pt_optim *o,
                          train_state *s, const char *config) {
  char p[4400], dir[4200];
  snprintf(p, sizeof p, "%s/checkpoint.json", out);
  if (access(p, F_OK) != 0) return pt_error(PT_ERR_IO, "%s: no checkpoint to resume from", p);
  json_t *j = pt_json_load_object(p);
  if (!j) return pt_error_code();
  const char *name, *seed, *counter, *made_with = NULL;
  int64_t step, epoch, pos, best_step, skipped, total, tokens;
  bool has_best;
  double best, seconds;
  pt_status st = pt_json_string(j, p, "dir", &name);
  if (st == PT_OK) st = pt_json_int(j, p, "step", &step);
  if (st == PT_OK) st = pt_json_int(j, p, "epoch", &epoch);
  if (st == PT_OK) st = pt_json_int(j, p, "pos", &pos);
  if (st == PT_OK) st = pt_json_int(j, p, "best_step", &best_step);
  if (st == PT_OK) st = pt_json_bool(j, p, "has_best", &has_best);
  if (st == PT_OK) st = pt_json_double(j, p, "best", &best);
  if (st == PT_OK) st = pt_json_string(j, p, "rng_seed", &seed);
  if (st == PT_OK) st = pt_json_string(j, p, "rng_counter", &counter);
  if (st == PT_OK) st = pt_json_int_or(j, p, "skipped_steps", 0, &skipped);
  /* optional: checkpoints from before they were recorded */
  if (st == PT_OK) st = pt_json_int_or(j, p, "total_steps", 0, &total);
  if (st == PT_OK) st = pt_json_int_or(j, p, "tokens", 0, &tokens);
  if (st == PT_OK) st = pt_json_double_or(j, p, "train_seconds", 0, &seconds);
  if (st == PT_OK && json_object_get(j, "config")) st = pt_json_string(j, p, "config", &made_with);
  if (st == PT_OK && config && (!made_with || strcmp(made_with, config)))
    st = pt_error(PT_ERR_ARG, "%s: the checkpoint was made with other options (%s; now %s)", p,
                  made_with ? made_with : "?", config);
  if (st == PT_OK && (strchr(name, '/') || strchr(name, '.')))
    st = pt_error(PT_ERR_FORMAT, "%s: bad checkpoint dir '%s'", p, name);
  if (st == PT_OK) {
    snprintf(dir, sizeof dir, "%s/%s", out, name);
    s->step = step;
    s->epoch = epoch;
    s->pos = pos;
    s->best_step = best_step;
    s->has_best = has_best;
    s->best = best;
    s->skipped = skipped;
    s->total = total;
    s->tokens = tokens;
    s->train_seconds = seconds;
    s->rng.seed = strtoull(seed, NULL, 10);
    s->rng.counter = strtoull(counter, NULL, 10);
  }
  json_decref(j);
  if (st != PT_OK) return st;
  PT_TRY(w->load(w->ctx, dir));
  snprintf(p, sizeof p, "%s/optimizer.safetensors", dir);
  pt_safetensors *f;
  PT_TRY(pt_safetensors_open(p, &f));
  int n = pt_safetensors_count(f);
  if (n != pt_optim_state_count(o))
    st = pt_error(PT_ERR_FORMAT, "%s: %d optimizer state tensors, the optimizer has %d", p, n,
                  pt_optim_state_count(o));
  for (int i = 0; st == PT_OK && i < n; i++) {
    pt_tensor *t = pt_safetensors_get(f, pt_safetensors_name(f, i));
    st = t ? pt_optim_state_set(o, pt_safetensors_name(f, i), t) : pt_error_code();
    pt_tensor_free(t);
    if (st != PT_OK) pt_error_context(st, "%s", p);
  }
  pt_safetensors_close(f);
  return st;
}
