/* Loading Hugging Face BERT/RoBERTa directories. */
#include "models/pt_hf.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/pt_json.h"
#include "nn/pt_params_io.h"

pt_status pt_bert_config_load(const char *dir, pt_bert_config *cfg) {
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_t *j = pt_json_load_object(path);
  if (!j) return pt_error_code();
  const char *type;
  pt_status st = pt_json_string(j, path, "model_type", &type);
  if (st == PT_OK) {
    if (!strcmp(type, "bert"))
      pt_bert_config_default(cfg, PT_ARCH_BERT);
    else if (!strcmp(type, "roberta"))
      pt_bert_config_default(cfg, PT_ARCH_ROBERTA);
    else
      st = pt_error(PT_ERR_FORMAT, "%s: unknown model_type '%s' (bert or roberta)", path, type);
  }
  if (st == PT_OK) st = pt_json_int_or(j, path, "vocab_size", cfg->vocab_size, &cfg->vocab_size);
  if (st == PT_OK) st = pt_json_int_or(j, path, "hidden_size", cfg->hidden_size, &cfg->hidden_size);
  if (st == PT_OK)
    st = pt_json_int_or(j, path, "num_hidden_layers", cfg->num_layers, &cfg->num_layers);
  if (st == PT_OK)
    st = pt_json_int_or(j, path, "num_attention_heads", cfg->num_heads, &cfg->num_heads);
  if (st == PT_OK)
    st = pt_json_int_or(j, path, "intermediate_size", cfg->intermediate_size,
                        &cfg->intermediate_size);
  if (st == PT_OK)
    st = pt_json_int_or(j, path, "max_position_embeddings", cfg->max_position, &cfg->max_position);
  if (st == PT_OK)
    st = pt_json_int_or(j, path, "type_vocab_size", cfg->type_vocab_size, &cfg->type_vocab_size);
  if (st == PT_OK)
    st = pt_json_int_or(j, path, "pad_token_id", cfg->pad_token_id, &cfg->pad_token_id);
  if (st == PT_OK)
    st = pt_json_double_or(j, path, "layer_norm_eps", cfg->layer_norm_eps, &cfg->layer_norm_eps);
  if (st == PT_OK)
    st = pt_json_double_or(j, path, "hidden_dropout_prob", cfg->hidden_dropout,
                           &cfg->hidden_dropout);
  if (st == PT_OK)
    st = pt_json_double_or(j, path, "attention_probs_dropout_prob", cfg->attention_dropout,
                           &cfg->attention_dropout);
  if (st == PT_OK)
    st = pt_json_double_or(j, path, "initializer_range", cfg->init_std, &cfg->init_std);
  const char *act = "gelu", *pos_type = "absolute";
  if (st == PT_OK) st = pt_json_string_or(j, path, "hidden_act", "gelu", &act);
  if (st == PT_OK && strcmp(act, "gelu"))
    st = pt_error(PT_ERR_FORMAT, "%s: hidden_act '%s' is not supported (only gelu)", path, act);
  if (st == PT_OK)
    st = pt_json_string_or(j, path, "position_embedding_type", "absolute", &pos_type);
  if (st == PT_OK && strcmp(pos_type, "absolute"))
    st = pt_error(PT_ERR_FORMAT, "%s: position_embedding_type '%s' is not supported (only absolute)",
                  path, pos_type);
  json_decref(j);
  if (st == PT_OK) st = pt_bert_config_validate(cfg, path);
  return st;
}

typedef struct {
  const char *prefix;    /* "bert" or "roberta" */
  const pt_params *ps;
  int stray;             /* tensors no parameter takes, optional parts aside */
  char stray_names[512]; /* the first few, comma separated */
} hf_name_ctx;

/* Parts of a pretrained checkpoint a task model may well leave unused: the
 * heads of the pretraining objectives (MLM, NSP), and the pooler where the
 * task's head does not read it (token classification, question answering;
 * HF ignores it there too). */
static bool is_optional_part(const char *name, const char *base) {
  size_t bl = strlen(base);
  return !strncmp(name, "cls.predictions.", 16) || !strncmp(name, "cls.seq_relationship.", 21) ||
         !strncmp(name, "lm_head.", 8) ||
         (!strncmp(name, base, bl) && !strncmp(name + bl, ".pooler.", 8));
}

/* Checkpoint name -> parameter name: add the base prefix to bare encoder
 * names, and rename legacy LayerNorm gamma/beta. Skips the tensors the
 * model has no parameter for, noting all but the optional parts. */
static bool map_hf_name(const char *fname, char *out, size_t cap, void *ctx_) {
  hf_name_ctx *ctx = ctx_;
  const char *base = ctx->prefix;
  bool bare = !strncmp(fname, "embeddings.", 11) || !strncmp(fname, "encoder.", 8) ||
              !strncmp(fname, "pooler.", 7);
  if (bare)
    snprintf(out, cap, "%s.%s", base, fname);
  else
    snprintf(out, cap, "%s", fname);
  size_t n = strlen(out);
  if (n > 6 && !strcmp(out + n - 6, ".gamma") && strstr(out, "LayerNorm"))
    snprintf(out + n - 6, cap - (n - 6), ".weight");
  else if (n > 5 && !strcmp(out + n - 5, ".beta") && strstr(out, "LayerNorm"))
    snprintf(out + n - 5, cap - (n - 5), ".bias");
  if (pt_params_find(ctx->ps, out)) return true;
  if (!is_optional_part(out, base) && ctx->stray++ < 6) {
    size_t used = strlen(ctx->stray_names);
    snprintf(ctx->stray_names + used, sizeof ctx->stray_names - used, "%s%s", used ? ", " : "",
             fname);
  }
  return false;
}

static bool file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The checkpoint files of `dir`: one model.safetensors, or the shards the
 * index names (each once). Returns how many, or -1 with the error set. */
static int checkpoint_files(const char *dir, char files[][4096], int cap) {
  char path[4096];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  if (file_exists(path)) {
    snprintf(files[0], 4096, "%s", path);
    return 1;
  }
  if (access(path, F_OK) == 0) { /* there, but a directory or the like */
    pt_error(PT_ERR_IO, "%s: not a regular file (a directory?)", path);
    return -1;
  }
  snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
  if (!file_exists(path)) {
    pt_error(PT_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json "
             "(pytorch_model.bin is not read: convert it to safetensors)", dir);
    return -1;
  }
  json_t *j = pt_json_load_object(path);
  if (!j) return -1;
  json_t *map = json_object_get(j, "weight_map");
  if (!json_is_object(map)) {
    json_decref(j);
    pt_error(PT_ERR_FORMAT, "%s: 'weight_map' must be an object", path);
    return -1;
  }
  int n = 0;
  const char *key;
  json_t *val;
  json_object_foreach(map, key, val) {
    const char *shard = json_string_value(val);
    if (!shard || strchr(shard, '/')) {
      pt_error(PT_ERR_FORMAT, "%s: weight_map['%s'] must name a file in the same directory", path,
               key); /* before the decref: key belongs to j */
      json_decref(j);
      return -1;
    }
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", dir, shard);
    bool seen = false;
    for (int i = 0; i < n && !seen; i++) seen = !strcmp(files[i], full);
    if (seen) continue;
    if (n == cap) {
      json_decref(j);
      pt_error(PT_ERR_FORMAT, "%s: more than %d shards", path, cap);
      return -1;
    }
    snprintf(files[n++], 4096, "%s", full);
  }
  json_decref(j);
  return n;
}

pt_status pt_bert_load_weights(pt_params *ps, const pt_bert *bert, const char *dir,
                               const char *also_required) {
  enum { MAX_SHARDS = 64 };
  char(*files)[4096] = pt_alloc(sizeof(char[4096]) * MAX_SHARDS);
  if (!files) return pt_error(PT_ERR_NOMEM, "%s: out of memory", dir);
  int nf = checkpoint_files(dir, files, MAX_SHARDS);
  bool *filled = nf < 0 ? NULL : pt_alloc(sizeof(bool) * (size_t)(ps->count ? ps->count : 1));
  if (!filled) {
    pt_free_bytes(files);
    return nf < 0 ? pt_error_code() : pt_error(PT_ERR_NOMEM, "%s: out of memory", dir);
  }
  memset(filled, 0, sizeof(bool) * (size_t)ps->count);
  pt_status st = PT_OK;
  hf_name_ctx names = {.prefix = bert->prefix, .ps = ps};
  for (int i = 0; i < nf && st == PT_OK; i++)
    st = pt_params_load_safetensors(ps, files[i], map_hf_name, &names, filled, NULL);
  if (st == PT_OK) {
    char missing[1024] = "";
    int nmissing = 0;
    size_t bl = strlen(bert->prefix);
    char pooler[64];
    snprintf(pooler, sizeof pooler, "%s.pooler.", bert->prefix);
    bool pooler_missing = false;
    for (int i = 0; i < ps->count; i++) {
      const char *name = ps->items[i]->name;
      bool required = (!strncmp(name, bert->prefix, bl) && name[bl] == '.') ||
                      (also_required && !strncmp(name, also_required, strlen(also_required)));
      if (filled[i] || !required) continue;
      if (!strncmp(name, pooler, strlen(pooler)) && bert->cfg.arch == PT_ARCH_ROBERTA) {
        pooler_missing = true;
        continue;
      }
      if (nmissing++ < 5) {
        size_t u = strlen(missing);
        snprintf(missing + u, sizeof missing - u, "%s%s", u ? ", " : "", name);
      }
    }
    if (nmissing)
      st = pt_error(PT_ERR_FORMAT, "%s: %d tensors missing from the checkpoint: %s%s", dir,
                    nmissing, missing, nmissing > 5 ? ", ..." : "");
    else if (pooler_missing)
      pt_warn("%s: the checkpoint has no pooler; %s.pooler.dense starts from a random init", dir,
              bert->prefix);
  }
  if (st == PT_OK && names.stray)
    pt_warn("%s: %d checkpoint tensors were not used: %s%s", dir, names.stray, names.stray_names,
            names.stray > 6 ? ", ..." : "");
  pt_free_bytes(filled);
  pt_free_bytes(files);
  return st;
}
