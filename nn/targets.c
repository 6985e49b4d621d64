/* Module targeting as peft's target_modules (see pt_targets.h). */
#include "nn/pt_targets.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

void pt_nn_targets_free(pt_nn_targets *t) {
  for (int i = 0; i < t->n; i++) free(t->names[i]);
  free(t->names);
  free(t->regex);
  memset(t, 0, sizeof *t);
}

/* Python `re` spelling -> POSIX ERE (glibc) anchored for a full match:
 * "^(" + body + ")$". Returns an owned string, or NULL with the error set. */
static char *to_ere(const char *py, const char *what) {
  size_t n = strlen(py);
  char *out = malloc(8 * n + 8);
  if (!out) {
    pt_error(PT_ERR_NOMEM, "%s: out of memory", what);
    return NULL;
  }
  char *o = out;
  *o++ = '^';
  *o++ = '(';
  bool in_class = false;
  for (size_t i = 0; i < n; i++) {
    char c = py[i];
    if (in_class) {
      if (c == '\\') {
        free(out);
        pt_error(PT_ERR_ARG, "%s: '%s': a backslash inside [...] is not supported", what, py);
        return NULL;
      }
      if (c == ']') in_class = false;
      *o++ = c;
      continue;
    }
    if (c == '[') { /* a leading ^ and a leading ] belong to the class */
      *o++ = c;
      if (i + 1 < n && py[i + 1] == '^') *o++ = py[++i];
      if (i + 1 < n && py[i + 1] == ']') *o++ = py[++i];
      in_class = true;
    } else if (c == '\\' && i + 1 < n) {
      const char *cls = NULL;
      switch (py[i + 1]) {
        case 'd': cls = "[0-9]"; break;
        case 'D': cls = "[^0-9]"; break;
        default: break;
      }
      if (cls) {
        size_t k = strlen(cls);
        memcpy(o, cls, k);
        o += k;
      } else {
        *o++ = c;
        *o++ = py[i + 1];
      }
      i++;
    } else if (c == '(' && i + 1 < n && py[i + 1] == '?') {
      if (i + 2 < n && py[i + 2] == ':') {
        *o++ = '(';
        i += 2;
      } else {
        free(out);
        pt_error(PT_ERR_ARG, "%s: '%s': only (?:...) of Python's (?...) groups is supported",
                 what, py);
        return NULL;
      }
    } else if (c == '?' && i > 0 && (py[i - 1] == '*' || py[i - 1] == '+' || py[i - 1] == '?' ||
                                     py[i - 1] == '}')) {
      /* a lazy quantifier: the same strings match in full */
    } else {
      *o++ = c;
    }
  }
  *o++ = ')';
  *o++ = '$';
  *o = '\0';
  return out;
}

static pt_status compile(const char *py, const char *what, regex_t *re) {
  char *ere = to_ere(py, what);
  if (!ere) return pt_error_code();
  int rc = regcomp(re, ere, REG_EXTENDED | REG_NOSUB);
  free(ere);
  if (rc != 0) {
    char msg[160];
    regerror(rc, re, msg, sizeof msg);
    return pt_error(PT_ERR_ARG, "%s: '%s' is not a valid regular expression: %s", what, py, msg);
  }
  return PT_OK;
}

pt_status pt_nn_targets_set_regex(pt_nn_targets *t, const char *regex, const char *what) {
  regex_t re;
  PT_TRY(compile(regex, what, &re));
  regfree(&re);
  char *copy = strdup(regex);
  if (!copy) return pt_error(PT_ERR_NOMEM, "%s: out of memory", what);
  pt_nn_targets_free(t);
  t->regex = copy;
  return PT_OK;
}

pt_status pt_nn_targets_set_list(pt_nn_targets *t, int n, const char *const *names,
                                 const char *what) {
  pt_nn_targets fresh = {0};
  fresh.names = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
  if (!fresh.names) return pt_error(PT_ERR_NOMEM, "%s: out of memory", what);
  for (int i = 0; i < n; i++) {
    if (!names[i][0]) {
      pt_nn_targets_free(&fresh);
      return pt_error(PT_ERR_ARG, "%s: an empty module name in the list", what);
    }
    fresh.names[i] = strdup(names[i]);
    fresh.n = i + 1;
    if (!fresh.names[i]) {
      pt_nn_targets_free(&fresh);
      return pt_error(PT_ERR_NOMEM, "%s: out of memory", what);
    }
  }
  pt_nn_targets_free(t);
  *t = fresh;
  return PT_OK;
}

pt_status pt_nn_targets_parse(const char *text, const char *what, pt_nn_targets *out) {
  if (strpbrk(text, "*+?[](){}|^$\\")) return pt_nn_targets_set_regex(out, text, what);
  char *copy = strdup(text);
  const char **names = calloc(strlen(text) + 1, sizeof(char *));
  if (!copy || !names) {
    free(copy);
    free(names);
    return pt_error(PT_ERR_NOMEM, "%s: out of memory", what);
  }
  int n = 0;
  for (char *tok = copy;;) { /* split at every ',' (an empty name is an error) */
    char *comma = strchr(tok, ',');
    if (comma) *comma = '\0';
    while (*tok == ' ') tok++;
    char *end = tok + strlen(tok);
    while (end > tok && end[-1] == ' ') *--end = '\0';
    names[n++] = tok;
    if (!comma) break;
    tok = comma + 1;
  }
  pt_status st = pt_nn_targets_set_list(out, n, names, what);
  free(names);
  free(copy);
  return st;
}

pt_status pt_nn_targets_copy(const pt_nn_targets *t, pt_nn_targets *out) {
  memset(out, 0, sizeof *out);
  if (t->regex) return pt_nn_targets_set_regex(out, t->regex, "targets");
  if (t->n) return pt_nn_targets_set_list(out, t->n, (const char *const *)t->names, "targets");
  return PT_OK;
}

bool pt_nn_targets_match(const pt_nn_targets *t, const char *path) {
  if (t->regex) {
    regex_t re;
    if (compile(t->regex, "targets", &re) != PT_OK) return false; /* checked when set */
    bool hit = regexec(&re, path, 0, NULL, 0) == 0;
    regfree(&re);
    return hit;
  }
  size_t pl = strlen(path);
  for (int i = 0; i < t->n; i++) {
    size_t nl = strlen(t->names[i]);
    if (!strcmp(path, t->names[i])) return true;
    if (pl > nl && path[pl - nl - 1] == '.' && !strcmp(path + pl - nl, t->names[i])) return true;
  }
  return false;
}

char *pt_nn_targets_text(const pt_nn_targets *t) {
  if (t->regex) return strdup(t->regex);
  size_t len = 1;
  for (int i = 0; i < t->n; i++) len += strlen(t->names[i]) + 1;
  char *s = malloc(len);
  if (!s) return NULL;
  s[0] = '\0';
  for (int i = 0; i < t->n; i++) {
    if (i) strcat(s, ",");
    strcat(s, t->names[i]);
  }
  return s;
}
