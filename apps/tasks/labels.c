/* The label map: label strings <-> ids. */
#include "apps/tasks/labels.h"

#include <stdlib.h>
#include <string.h>

#include "apps/tasks/lines.h"

void label_map_init(label_map *m) { memset(m, 0, sizeof *m); }

void label_map_free(label_map *m) {
  for (int64_t i = 0; i < m->n; i++) free(m->names[i]);
  free(m->names);
  memset(m, 0, sizeof *m);
}

int64_t label_map_find(const label_map *m, const char *name) {
  for (int64_t i = 0; i < m->n; i++)
    if (strcmp(m->names[i], name) == 0) return i;
  return -1;
}

pt_status label_map_add(label_map *m, const char *name, int64_t *id) {
  int64_t at = label_map_find(m, name);
  if (at < 0) {
    if (m->n == m->cap) {
      int64_t cap = m->cap ? 2 * m->cap : 16;
      char **nn = realloc(m->names, (size_t)cap * sizeof *nn);
      if (!nn)
        return pt_error(PT_ERR_NOMEM, "label map: out of memory for %lld labels", (long long)cap);
      m->names = nn;
      m->cap = cap;
    }
    char *copy = strdup_checked(name);
    if (!copy) return PT_ERR_NOMEM;
    at = m->n;
    m->names[m->n++] = copy;
  }
  if (id) *id = at;
  return PT_OK;
}

pt_status label_map_set(label_map *m, const char *const *names, int64_t n) {
  label_map fresh;
  label_map_init(&fresh);
  for (int64_t i = 0; i < n; i++) {
    if (label_map_find(&fresh, names[i]) >= 0) {
      label_map_free(&fresh);
      return pt_error(PT_ERR_ARG, "label map: label '%s' given twice", names[i]);
    }
    pt_status s = label_map_add(&fresh, names[i], NULL);
    if (s != PT_OK) {
      label_map_free(&fresh);
      return s;
    }
  }
  label_map_free(m);
  *m = fresh;
  return PT_OK;
}

pt_status label_map_complete_bio(label_map *m) {
  int64_t n = m->n; /* only the labels present before completion */
  for (int64_t i = 0; i < n; i++) {
    const char *t = m->names[i];
    if ((t[0] != 'B' && t[0] != 'I') || t[1] != '-') continue;
    char *other = strprintf("%c-%s", t[0] == 'B' ? 'I' : 'B', t + 2);
    if (!other) return PT_ERR_NOMEM;
    pt_status s = label_map_add(m, other, NULL);
    free(other);
    if (s != PT_OK) return s;
  }
  return PT_OK;
}

/* "unknown label" message listing (the start of) the label set. */
static pt_status unknown_label(const label_map *m, const char *where, const char *label) {
  char list[256];
  size_t used = 0;
  list[0] = '\0';
  for (int64_t i = 0; i < m->n && used + 8 < sizeof list; i++) {
    int k = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", m->names[i]);
    if (k < 0 || used + (size_t)k >= sizeof list) {
      snprintf(list + used, sizeof list - used, ", ...");
      break;
    }
    used += (size_t)k;
  }
  return pt_error(PT_ERR_FORMAT, "%s: unknown label '%s' (the label set is: %s)", where, label,
                  list);
}

pt_status label_map_lookup(label_map *m, const char *label, bool grow, const char *where,
                           int64_t *id) {
  *id = label_map_find(m, label);
  if (*id >= 0) return PT_OK;
  if (!grow) return unknown_label(m, where, label);
  return label_map_add(m, label, id);
}
