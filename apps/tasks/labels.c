/* The label map and the free / label-mapping functions of the task data sets. */
#include "apps/tasks/data.h"

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
      if (!nn) return pt_error(PT_ERR_NOMEM, "label map: out of memory for %lld labels", (long long)cap);
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

pt_status sentences_map_labels(sentence_set *set, label_map *map, bool grow) {
  if (!set->has_tags) return pt_error(PT_ERR_ARG, "%s: has no tags to map", set->path);
  for (int64_t i = 0; i < set->n; i++) {
    sentence *s = &set->sents[i];
    if (!s->tag_ids) {
      s->tag_ids = malloc((size_t)(s->n ? s->n : 1) * sizeof *s->tag_ids);
      if (!s->tag_ids) return pt_error(PT_ERR_NOMEM, "%s: out of memory", set->path);
    }
    for (int64_t j = 0; j < s->n; j++) {
      int64_t id = label_map_find(map, s->tags[j]);
      if (id < 0) {
        char where[512];
        if (!grow)
          return unknown_label(map, task_where(where, sizeof where, set->path,
                                                  s->line ? s->line + j : 0, s->item),
                               s->tags[j]);
        PT_TRY(label_map_add(map, s->tags[j], &id));
      }
      s->tag_ids[j] = (int32_t)id;
    }
  }
  return PT_OK;
}

pt_status cls_map_labels(cls_set *set, label_map *map, bool grow) {
  if (!set->has_labels) return pt_error(PT_ERR_ARG, "%s: has no labels to map", set->path);
  for (int64_t i = 0; i < set->n; i++) {
    cls_example *e = &set->ex[i];
    int64_t id = label_map_find(map, e->label);
    if (id < 0) {
      char where[512];
      if (!grow) return unknown_label(map, task_where(where, sizeof where, set->path, e->line, i), e->label);
      PT_TRY(label_map_add(map, e->label, &id));
    }
    e->label_id = id;
  }
  return PT_OK;
}

static void sentence_free(sentence *s) {
  for (int64_t j = 0; j < s->n; j++) {
    free(s->words ? s->words[j] : NULL);
    free(s->tags ? s->tags[j] : NULL);
  }
  free(s->words);
  free(s->tags);
  free(s->tag_ids);
  memset(s, 0, sizeof *s);
}

void sentence_set_free(sentence_set *set) {
  for (int64_t i = 0; i < set->n; i++) sentence_free(&set->sents[i]);
  free(set->sents);
  free(set->path);
  memset(set, 0, sizeof *set);
}

pt_status srl_map_labels(srl_set *set, label_map *map, bool grow) {
  /* a view of the sentences as a sentence_set, sharing their storage */
  if (!set->has_tags) return pt_error(PT_ERR_ARG, "%s: has no tags to map", set->path);
  for (int64_t i = 0; i < set->n; i++) {
    sentence_set one = {&set->ex[i].s, 1, set->path, true};
    PT_TRY(sentences_map_labels(&one, map, grow));
  }
  return PT_OK;
}

void srl_set_free(srl_set *set) {
  for (int64_t i = 0; i < set->n; i++) {
    sentence_free(&set->ex[i].s);
    free(set->ex[i].verb_mask);
  }
  free(set->ex);
  free(set->path);
  memset(set, 0, sizeof *set);
}

void cls_set_free(cls_set *set) {
  for (int64_t i = 0; i < set->n; i++) {
    free(set->ex[i].text_a);
    free(set->ex[i].text_b);
    free(set->ex[i].label);
  }
  free(set->ex);
  free(set->path);
  memset(set, 0, sizeof *set);
}

void mc_set_free(mc_set *set) {
  for (int64_t i = 0; i < set->n; i++) {
    mc_example *e = &set->ex[i];
    free(e->premise);
    free(e->question);
    free(e->context);
    for (int64_t c = 0; c < e->n_choices; c++) free(e->choices ? e->choices[c] : NULL);
    free(e->choices);
  }
  free(set->ex);
  free(set->path);
  memset(set, 0, sizeof *set);
}
