/* The method registry: the built-in methods, one file each under
 * models/methods/, and those a program registers at run time. The test
 * tests/test_methods.c walks it. */
#include <stdio.h>
#include <string.h>

#include "models/methods/common.h"
#include "models/pt_method.h"

enum { MAX_METHODS = 64 };

static const pt_method *registry[MAX_METHODS] = {
    &pt_method_ptv2, &pt_method_prefix, &pt_method_prompt,  &pt_method_p_tuning, &pt_method_lora,
    &pt_method_ia3,  &pt_method_bitfit, &pt_method_adapter, &pt_method_finetune,
};
static int nregistered = 9;

const pt_method *const *pt_methods(int *count) {
  *count = nregistered;
  return registry;
}

const pt_method *pt_method_find(const char *name) {
  for (int i = 0; i < nregistered; i++)
    if (!strcmp(registry[i]->name, name)) return registry[i];
  char names[512] = "";
  for (int i = 0; i < nregistered; i++) {
    size_t used = strlen(names);
    snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", registry[i]->name);
  }
  pt_error(PT_ERR_ARG, "unknown method '%s' (%s)", name, names);
  return NULL;
}

pt_status pt_method_register(const pt_method *m) {
  if (!m || !m->name || !m->name[0] || !m->attach || !m->options)
    return pt_error(PT_ERR_ARG, "a method needs a name, an option table and attach");
  for (int i = 0; i < nregistered; i++)
    if (!strcmp(registry[i]->name, m->name))
      return pt_error(PT_ERR_ARG, "method '%s' is registered already", m->name);
  if (nregistered == MAX_METHODS)
    return pt_error(PT_ERR_ARG, "method '%s': more than %d methods", m->name, MAX_METHODS);
  registry[nregistered++] = m;
  return PT_OK;
}
