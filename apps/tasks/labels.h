/* The label map: an ordered set of label strings, a label's id being its
 * position (labels.c). Strings are owned by the map. */
#ifndef APPS_TASKS_LABELS_H
#define APPS_TASKS_LABELS_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/pt_status.h"

typedef struct {
  char **names;
  int64_t n, cap;
} label_map;

void label_map_init(label_map *m);
void label_map_free(label_map *m);
/* Id of `name`, or -1. */
int64_t label_map_find(const label_map *m, const char *name);
/* Appends `name` unless present; *id (may be NULL) receives its id. */
pt_status label_map_add(label_map *m, const char *name, int64_t *id);
/* Replaces the map with the given names in order (e.g. an adapter's id2label);
 * a duplicate name is an error. */
pt_status label_map_set(label_map *m, const char *const *names, int64_t n);
/* For every B-X adds I-X and for every I-X adds B-X when missing (appended),
 * so a type seen only as single-token entities can still be continued. */
pt_status label_map_complete_bio(label_map *m);
/* The id of `label` (at `where`, for the message); with grow an unseen label
 * is added, otherwise it is PT_ERR_FORMAT "where: unknown label 'X' (the
 * label set is: ...)". */
pt_status label_map_lookup(label_map *m, const char *label, bool grow, const char *where,
                           int64_t *id);

#endif
