/* `ptune methods`: every registered PEFT method (built in or registered by
 * the program) with its options, generated from their tables. */
#include <stdio.h>

#include "apps/cmd/commands.h"

static int methods(run_args *a) {
  int n;
  const pt_method *const *all = pt_methods(&n);
  for (int i = 0; i < n; i++) {
    const pt_method *me = all[i];
    printf("%s%s: %s\n", i ? "\n" : "", me->name, me->summary);
    printf("  peft layout: %s; merges into the weights: %s\n",
           me->peft_type ? me->peft_type : "none", me->merge ? "yes" : "no");
    const pt_option *o = me->options;
    if (!o->key) printf("  (no options)\n");
    pt_options_usage(o, stdout);
  }
  return command_exit(a, PT_OK);
}

static const command methods_command = {
    .name = "methods",
    .summary = "the PEFT methods --method takes, with their options",
    .usage = "methods\nLists every method with its options (flags of ptune train --method NAME).",
    .defaults = "",
    .required = "",
    .run = methods,
};
COMMAND_REGISTER(methods_command);
