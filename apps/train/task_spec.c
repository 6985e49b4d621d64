/* train --task-spec: a spec parsed over the run's command line (see
 * task_spec.h). */
#include "apps/train/task_spec.h"

#include <stdlib.h>
#include <string.h>

#include "apps/cmd/commands.h"

/* NAME's length, or 0 when spec does not start with a valid "NAME:". */
static size_t name_length(const char *spec) {
  size_t n = 0;
  while (spec[n] && spec[n] != ':') {
    char c = spec[n];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '-'))
      return 0;
    n++;
  }
  return spec[n] == ':' && n < TASK_SPEC_NAME_MAX ? n : 0;
}

/* The run's command line without its --task-spec words, into argv[0..*n). */
static void run_words(const run_args *run, char **argv, int *n) {
  *n = 0;
  for (int i = 0; i < run->argc; i++) {
    if (!strcmp(run->argv[i], "--task-spec")) {
      while (i + 1 < run->argc && strncmp(run->argv[i + 1], "--", 2)) i++;
      continue;
    }
    argv[(*n)++] = run->argv[i];
  }
}

/* One KEY=VALUE pair appended to argv as --KEY VALUE (the "--KEY" word
 * written at keys + *used). */
static pt_status pair(task_spec *s, const char *key, const char *value, char **argv, int *n,
                      char *keys, size_t cap, size_t *used) {
  if (!*key || !*value)
    return pt_error(PT_ERR_ARG, "--task-spec %s: '%s=%s' needs a key and a value", s->name, key,
                    value);
  if (*used + strlen(key) + 3 > cap) return pt_error(PT_ERR_ARG, "--task-spec %s: too long", s->name);
  char *flag = keys + *used;
  snprintf(flag, cap - *used, "--%s", key);
  *used += strlen(flag) + 1;
  if (option_run_wide("train", flag))
    return pt_error(PT_ERR_ARG, "--task-spec %s: %s is an option of the whole run: give it once, "
                    "outside --task-spec", s->name, flag);
  argv[(*n)++] = flag;
  argv[(*n)++] = (char *)value;
  return PT_OK;
}

/* The pairs of `fields` (split in place), in order; a field without '='
 * continues the value before it (its comma put back). */
static pt_status pairs(task_spec *s, char *fields, char **argv, int *n, char *keys, size_t cap) {
  size_t used = 0;
  char *key = NULL, *value = NULL, *p = fields;
  for (;;) {
    char *comma = strchr(p, ','), *eq;
    if (comma) *comma = '\0';
    if ((eq = strchr(p, '='))) {
      if (key) PT_TRY(pair(s, key, value, argv, n, keys, cap, &used));
      *eq = '\0';
      key = p;
      value = eq + 1;
    } else if (key) {
      p[-1] = ','; /* label-words=terrible,great */
    } else {
      return pt_error(PT_ERR_ARG, "--task-spec %s: '%s' is not KEY=VALUE", s->name, p);
    }
    if (!comma) break;
    p = comma + 1;
  }
  if (!key) return pt_error(PT_ERR_ARG, "--task-spec %s: no KEY=VALUE (task=..., train=...)", s->name);
  return pair(s, key, value, argv, n, keys, cap, &used);
}

pt_status task_spec_parse(const run_args *run, const char *spec, task_spec *out) {
  memset(out, 0, sizeof *out);
  size_t nl = name_length(spec);
  if (!nl)
    return pt_error(PT_ERR_ARG, "--task-spec '%s': expected NAME:KEY=VALUE,... with NAME of at most "
                    "%d letters, digits, '_' or '-'", spec, TASK_SPEC_NAME_MAX - 1);
  memcpy(out->name, spec, nl);
  out->name[nl] = '\0';
  size_t len = strlen(spec + nl + 1);
  /* the fields, then room for the "--KEY" words */
  out->text = malloc(2 * len + 64);
  out->argv = malloc(sizeof(char *) * (size_t)(run->argc + len + 4));
  if (!out->text || !out->argv) return pt_error(PT_ERR_NOMEM, "--task-spec: out of memory");
  memcpy(out->text, spec + nl + 1, len + 1);
  int n;
  run_words(run, out->argv, &n);
  PT_TRY(pairs(out, out->text, out->argv, &n, out->text + len + 1, len + 63));
  out->argv[n] = NULL;
  pt_status st = run_args_parse("train", n, out->argv, &out->args);
  if (st == PT_OK) st = options_require(&out->args, "--task --train");
  if (st != PT_OK) return pt_error_context(st, "--task-spec %s", out->name);
  out->args.task_specs.n = 0; /* an adapter of the run, not a run */
  return PT_OK;
}

void task_spec_free(task_spec *s) {
  if (s->argv) run_args_free(&s->args); /* parsed (its method's options) */
  free(s->text);
  free(s->argv);
  memset(s, 0, sizeof *s);
}

pt_status task_specs_check(const run_args *run) {
  static const char *const outside[] = {"--task", "--train", "--dev", "--init-adapter"};
  for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++)
    if (option_given(run, outside[i]))
      return pt_error(PT_ERR_ARG, "%s goes inside each --task-spec (%s=...), not beside them",
                      outside[i], outside[i] + 2);
  for (int i = 0; i < run->task_specs.n; i++) {
    size_t ni = name_length(run->task_specs.v[i]);
    for (int k = 0; ni && k < i; k++)
      if (name_length(run->task_specs.v[k]) == ni &&
          !strncmp(run->task_specs.v[k], run->task_specs.v[i], ni))
        return pt_error(PT_ERR_ARG, "--task-spec: two adapters are called '%.*s'", (int)ni,
                        run->task_specs.v[i]);
  }
  return PT_OK;
}
