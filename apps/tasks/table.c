/* The task table: the rows registered with TASK_REGISTER, gathered from
 * the app_tasks linker section (the app library is linked whole, so every
 * task folder's row is in it). */
#include <string.h>

#include "apps/tasks/task.h"

const task_def *const *task_table(int *n) {
  extern const task_def *const __start_app_tasks[];
  extern const task_def *const __stop_app_tasks[];
  *n = (int)(__stop_app_tasks - __start_app_tasks);
  return __start_app_tasks;
}

const task_def *task_find(const char *name) {
  int n;
  const task_def *const *t = task_table(&n);
  for (int i = 0; i < n; i++)
    if (!strcmp(t[i]->name, name)) return t[i];
  return NULL;
}

void task_names(char *buf, size_t cap, const char *sep, const char *last) {
  int n;
  const task_def *const *t = task_table(&n);
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && used < cap; i++) {
    const char *s = i == 0 ? "" : i == n - 1 ? last : sep;
    int k = snprintf(buf + used, cap - used, "%s%s", s, t[i]->name);
    if (k < 0) break;
    used += (size_t)k;
  }
}
