/* `ptune tokenize --model DIR --input FILE [--output FILE]`: reads jsonl
 * lines with "text" and optional "text_pair" and writes one jsonl line per
 * input with "tokens" (the tokens of text, then of text_pair, without the
 * added special tokens, as HF's tokenize()), "ids" (with them) and, for
 * pairs, "token_type_ids".
 * Options: --max-length N, --truncation longest_first|only_first|only_second,
 * --padding (to --max-length), --offsets (adds "offsets": [[start, end], ...]
 * in code points), --no-special-tokens. The output file appears whole or not
 * at all (written to a temp file, then renamed). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apps/cmd/commands.h"
#include "models/pt_tokenizer.h"
#include "tensor/pt_file.h"

static char *read_file(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    if (n == cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) break;
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, fp);
    if (!got) break;
    n += got;
  }
  if (buf && n == cap) {
    free(buf);
    buf = NULL;
  }
  fclose(fp);
  *len = n;
  return buf;
}

/* One output line; returns 0 or prints "FILE:LINE: reason" and returns 1. */
/* Where lines go: a regular file that appears whole (temp + rename), or a
 * stream: stdout ("-" or no --output) or an existing non-regular file such as
 * /dev/null or a pipe, which must never be renamed over. */
typedef struct {
  pt_atomic_file f;
  bool to_file;
  FILE *stream;
} sink;

static int sink_line(sink *o, const char *txt) {
  if (!o->to_file) return fprintf(o->stream, "%s\n", txt) < 0 ? -1 : 0;
  if (pt_atomic_write(&o->f, txt, strlen(txt)) != PT_OK || pt_atomic_write(&o->f, "\n", 1) != PT_OK)
    return -1;
  return 0;
}

static int do_line(const pt_tokenizer *tok, const char *in, long line, const char *s, size_t len,
                   const pt_encode_opts *opts, bool offsets, sink *out) {
  json_error_t err;
  json_t *obj = json_loadb(s, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &err);
  if (!obj) {
    fprintf(stderr, "ptune tokenize: %s:%ld:%d: %s\n", in, line, err.column, err.text);
    return 1;
  }
  json_t *t = json_object_get(obj, "text"), *p = json_object_get(obj, "text_pair");
  if (!json_is_object(obj) || !json_is_string(t) || (p && !json_is_null(p) && !json_is_string(p))) {
    fprintf(stderr,
            "ptune tokenize: %s:%ld: want an object with a string 'text' (and optional "
            "string 'text_pair')\n",
            in, line);
    json_decref(obj);
    return 1;
  }
  bool pair = p && json_is_string(p);
  pt_encoding e;
  if (pt_tokenizer_encode(tok, json_string_value(t), json_string_length(t),
                          pair ? json_string_value(p) : NULL, pair ? json_string_length(p) : 0,
                          opts, &e) != PT_OK) {
    fprintf(stderr, "ptune tokenize: %s:%ld: %s\n", in, line, pt_error_message());
    json_decref(obj);
    return 1;
  }
  json_t *o = json_object(), *tokens = json_array(), *ids = json_array(), *types = json_array(),
         *offs = json_array();
  for (int64_t i = 0; i < e.n; i++) {
    if (!e.special_mask[i]) json_array_append_new(tokens, json_string(e.tokens[i]));
    json_array_append_new(ids, json_integer(e.ids[i]));
    json_array_append_new(types, json_integer(e.type_ids[i]));
    json_t *pr = json_array();
    json_array_append_new(pr, json_integer(e.char_offsets[2 * i]));
    json_array_append_new(pr, json_integer(e.char_offsets[2 * i + 1]));
    json_array_append_new(offs, pr);
  }
  json_object_set_new(o, "tokens", tokens);
  json_object_set_new(o, "ids", ids);
  if (pair)
    json_object_set_new(o, "token_type_ids", types);
  else
    json_decref(types);
  if (offsets)
    json_object_set_new(o, "offsets", offs);
  else
    json_decref(offs);
  if (opts->pad_to_max_length) {
    json_t *am = json_array();
    for (int64_t i = 0; i < e.n; i++) json_array_append_new(am, json_integer(e.attention_mask[i]));
    json_object_set_new(o, "attention_mask", am);
  }
  char *txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  int rc = 0;
  if (!txt || sink_line(out, txt) != 0) {
    fprintf(stderr, "ptune tokenize: %s:%ld: cannot write the output: %s\n", in, line,
            txt ? pt_error_message() : "out of memory");
    rc = 1;
  }
  free(txt);
  json_decref(o);
  json_decref(obj);
  pt_encoding_free(&e);
  return rc;
}

static int tokenize(run_args *a) {
  const char *model = a->model, *input = a->input, *output = a->output;
  pt_encode_opts opts = {.max_length = a->max_length,
                         .truncation = (pt_truncation)a->truncation,
                         .pad_to_max_length = a->padding,
                         .no_special_tokens = a->no_special_tokens};
  if (a->max_length > 0 && !option_given(a, "--truncation"))
    opts.truncation = PT_TRUNC_LONGEST_FIRST;
  bool offsets = a->offsets;
  pt_tokenizer *tok = pt_tokenizer_load(model);
  if (!tok) {
    fprintf(stderr, "ptune tokenize: %s\n", pt_error_message());
    return 1;
  }
  size_t len;
  char *buf = read_file(input, &len);
  if (!buf) {
    fprintf(stderr, "ptune tokenize: %s: cannot read: %s\n", input, strerror(errno));
    pt_tokenizer_free(tok);
    return 1;
  }
  sink out = {.stream = stdout};
  struct stat sb;
  if (output && !strcmp(output, "-")) output = NULL;
  if (output && stat(output, &sb) == 0 && !S_ISREG(sb.st_mode)) {
    out.stream = fopen(output, "w");
    if (!out.stream) {
      fprintf(stderr, "ptune tokenize: %s: cannot open for writing: %s\n", output, strerror(errno));
      free(buf);
      pt_tokenizer_free(tok);
      return 1;
    }
  } else if (output) {
    out.to_file = true;
    if (pt_atomic_open(&out.f, output) != PT_OK) {
      fprintf(stderr, "ptune tokenize: %s\n", pt_error_message());
      free(buf);
      pt_tokenizer_free(tok);
      return 1;
    }
  }
  int rc = 0;
  long line = 0;
  /* split on \n only: texts may hold raw U+2028/U+2029/U+0085 */
  for (size_t i = 0; i < len && rc == 0;) {
    size_t j = i;
    while (j < len && buf[j] != '\n') j++;
    line++;
    size_t e = j;
    if (e > i && buf[e - 1] == '\r') e--;
    if (e > i) rc = do_line(tok, input, line, buf + i, e - i, &opts, offsets, &out);
    i = j + 1;
  }
  if (out.stream != stdout && fclose(out.stream) != 0 && rc == 0) {
    fprintf(stderr, "ptune tokenize: %s: write error\n", output);
    rc = 1;
  }
  if (out.to_file) {
    if (rc != 0) {
      pt_atomic_abort(&out.f); /* no half-written output */
    } else if (pt_atomic_commit(&out.f) != PT_OK) {
      fprintf(stderr, "ptune tokenize: %s\n", pt_error_message());
      rc = 1;
    }
  }
  free(buf);
  pt_tokenizer_free(tok);
  return rc;
}

static const command tokenize_command = {
    .name = "tokenize",
    .summary = "tokenize jsonl texts (and pairs) with a BERT or RoBERTa tokenizer",
    .usage =
        "tokenize --model DIR --input FILE [--output FILE] [options]\n"
        "Input: jsonl with \"text\" and optional \"text_pair\"; output: jsonl with \"tokens\",\n"
        "\"ids\" and, for pairs, \"token_type_ids\".",
    .required = "--model --input",
    .run = tokenize,
};
COMMAND_REGISTER(tokenize_command);
