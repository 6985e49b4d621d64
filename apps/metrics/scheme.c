/* Tagging schemes for seqeval's strict mode (seqeval.scheme: IOB2, IOBES,
 * BILOU): the prefixes each allows and the (previous, current, type)
 * patterns that start, continue and end an entity, kept as data the way
 * seqeval keeps them; and the rewrite of IOB2 tags into the other two. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apps/metrics/metrics.h"
#include "apps/metrics/scheme.h"

/* One prefix letter per bit; 0 for a letter seqeval does not know. */
enum { P_I = 1, P_O = 2, P_B = 4, P_E = 8, P_S = 16, P_U = 32, P_L = 64, P_ANY = 127 };

int scheme_prefix_bit(char c) {
  switch (c) {
    case 'I': return P_I;
    case 'O': return P_O;
    case 'B': return P_B;
    case 'E': return P_E;
    case 'S': return P_S;
    case 'U': return P_U;
    case 'L': return P_L;
    default: return 0;
  }
}

static const scheme_def schemes[] = {
    {TAG_SCHEME_IOB2, "IOB2", P_I | P_O | P_B, "B-, I-, O",
     {{P_ANY, P_B, TYPE_ANY}}, 1,
     {{P_B, P_I, TYPE_SAME}, {P_I, P_I, TYPE_SAME}}, 2,
     {{P_I, P_O, TYPE_ANY}, {P_I, P_I, TYPE_DIFF}, {P_I, P_B, TYPE_ANY}, {P_B, P_O, TYPE_ANY},
      {P_B, P_I, TYPE_DIFF}, {P_B, P_B, TYPE_ANY}}, 6},
    {TAG_SCHEME_IOBES, "IOBES", P_I | P_O | P_B | P_E | P_S, "B-, I-, E-, S-, O",
     {{P_ANY, P_B, TYPE_ANY}, {P_ANY, P_S, TYPE_ANY}}, 2,
     {{P_B, P_I, TYPE_SAME}, {P_B, P_E, TYPE_SAME}, {P_I, P_I, TYPE_SAME}, {P_I, P_E, TYPE_SAME}}, 4,
     {{P_S, P_ANY, TYPE_ANY}, {P_E, P_ANY, TYPE_ANY}}, 2},
    {TAG_SCHEME_BILOU, "BILOU", P_B | P_I | P_L | P_O | P_U, "B-, I-, L-, U-, O",
     {{P_ANY, P_B, TYPE_ANY}, {P_ANY, P_U, TYPE_ANY}}, 2,
     {{P_B, P_I, TYPE_SAME}, {P_B, P_L, TYPE_SAME}, {P_I, P_I, TYPE_SAME}, {P_I, P_L, TYPE_SAME}}, 4,
     {{P_U, P_ANY, TYPE_ANY}, {P_L, P_ANY, TYPE_ANY}}, 2},
};

const scheme_def *scheme_get(tag_scheme s) {
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
    if (schemes[i].scheme == s) return &schemes[i];
  return &schemes[0];
}

pt_status tag_scheme_from_name(const char *name, tag_scheme *out) {
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
    if (strcasecmp(name, schemes[i].name) == 0) {
      *out = schemes[i].scheme;
      return PT_OK;
    }
  return pt_error(PT_ERR_ARG, "unknown tagging scheme '%s' (IOB2, IOBES or BILOU)", name);
}

const char *tag_scheme_name(tag_scheme s) { return scheme_get(s)->name; }

bool tag_scheme_allows(tag_scheme s, const char *tag) {
  return tag[0] && (scheme_prefix_bit(tag[0]) & scheme_get(s)->allowed);
}

const char *tag_scheme_prefixes(tag_scheme s) { return scheme_get(s)->prefixes; }

/* The entity type after the prefix, as seqeval reads it: the rest with
 * '-' stripped from both ends. */
static void type_of(const char *tag, const char **t, size_t *n) {
  const char *s = tag[0] ? tag + 1 : tag;
  size_t len = strlen(s);
  while (len && s[0] == '-') s++, len--;
  while (len && s[len - 1] == '-') len--;
  *t = s;
  *n = len;
}

void scheme_token(const char *tag, scheme_tok *out) {
  out->prefix = scheme_prefix_bit(tag[0]);
  type_of(tag, &out->type, &out->type_len);
  if (out->type_len == 0) out->type = "_", out->type_len = 1;
}

bool scheme_match(const scheme_pattern *p, int n, const scheme_tok *prev, const scheme_tok *cur) {
  for (int i = 0; i < n; i++) {
    if (!(prev->prefix & p[i].prev) || !(cur->prefix & p[i].cur)) continue;
    if (p[i].type == TYPE_ANY) return true;
    bool same = prev->type_len == cur->type_len && !memcmp(prev->type, cur->type, cur->type_len);
    if (same == (p[i].type == TYPE_SAME)) return true;
  }
  return false;
}

pt_status tags_from_iob2(char *const *in, int64_t n, tag_scheme s, char **out) {
  for (int64_t j = 0; j < n; j++) out[j] = NULL;
  for (int64_t j = 0; j < n; j++) {
    const char *t = in[j];
    char c = t[0];
    if (s != TAG_SCHEME_IOB2 && (c == 'B' || c == 'I') && t[1] == '-') {
      /* the entity goes on when the next tag is I- of the same type */
      const char *next = j + 1 < n ? in[j + 1] : "O";
      bool goes_on = next[0] == 'I' && next[1] == '-' && strcmp(next + 2, t + 2) == 0;
      if (!goes_on) c = c == 'B' ? (s == TAG_SCHEME_IOBES ? 'S' : 'U')
                                 : (s == TAG_SCHEME_IOBES ? 'E' : 'L');
    }
    out[j] = strdup(t);
    if (!out[j]) {
      for (int64_t k = 0; k < j; k++) free(out[k]), out[k] = NULL;
      return pt_error(PT_ERR_NOMEM, "tags: out of memory");
    }
    out[j][0] = c;
  }
  return PT_OK;
}
