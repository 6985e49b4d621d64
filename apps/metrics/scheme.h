/* The inside of the tagging schemes (scheme.c), for the strict span
 * extraction in seqeval.c: a scheme is its allowed prefixes and three lists
 * of (previous prefixes, current prefixes, type condition) patterns, as
 * seqeval.scheme defines them. The public part is in metrics.h. */
#ifndef APPS_METRICS_SCHEME_H
#define APPS_METRICS_SCHEME_H

#include <stdbool.h>
#include <stddef.h>

#include "apps/metrics/metrics.h"

typedef enum { TYPE_ANY, TYPE_SAME, TYPE_DIFF } scheme_type_cond;

typedef struct {
  int prev, cur; /* prefix bit masks */
  scheme_type_cond type;
} scheme_pattern;

typedef struct {
  tag_scheme scheme;
  const char *name;
  int allowed;
  const char *prefixes; /* the allowed prefixes, for messages */
  scheme_pattern start[2];
  int n_start;
  scheme_pattern inside[4];
  int n_inside;
  scheme_pattern end[6];
  int n_end;
} scheme_def;

/* A tag as seqeval's Token sees it: its prefix bit and its type. */
typedef struct {
  int prefix;
  const char *type;
  size_t type_len;
} scheme_tok;

const scheme_def *scheme_get(tag_scheme s);
/* The bit of a prefix letter (I O B E S U L), 0 for any other. */
int scheme_prefix_bit(char c);
void scheme_token(const char *tag, scheme_tok *out);
/* Whether (prev, cur) matches one of the n patterns. */
bool scheme_match(const scheme_pattern *p, int n, const scheme_tok *prev, const scheme_tok *cur);

#endif
