/* The command table and the runner every command goes through: find the
 * command, parse its options from the shared table with its defaults,
 * check the required ones, print --help, run it, and turn its status into
 * one line on stderr and an exit code. */
#include "apps/cmd/commands.h"

#include <omp.h>
#include <string.h>

const command *const *command_table(int *n) {
  extern const command *const __start_app_commands[];
  extern const command *const __stop_app_commands[];
  *n = (int)(__stop_app_commands - __start_app_commands);
  return __start_app_commands;
}

const command *command_find(const char *name) {
  int n;
  const command *const *c = command_table(&n);
  for (int i = 0; i < n; i++)
    if (!strcmp(c[i]->name, name)) return c[i];
  return NULL;
}

pt_status run_args_parse(const char *name, int argc, char **argv, run_args *a) {
  const command *c = command_find(name);
  if (!c) return pt_error(PT_ERR_ARG, "no command named '%s'", name);
  return run_args_parse_with(c->name, c->defaults, c->required, argc, argv, a);
}

int command_exit(const run_args *a, pt_status st) {
  if (st == PT_OK) return 0;
  fprintf(stderr, "ptune %s: %s\n", a->command, pt_error_message());
  return 1;
}

void commands_usage(FILE *f) {
  int n;
  const command *const *c = command_table(&n);
  for (int i = 0; i < n; i++) fprintf(f, "  %-12s %s\n", c[i]->name, c[i]->summary);
}

/* The command argv names: two words ("bench model") or one. */
static const command *lookup(int argc, char **argv, int *words) {
  char two[128];
  if (argc > 1) {
    snprintf(two, sizeof two, "%s %s", argv[0], argv[1]);
    const command *c = command_find(two);
    if (c) return *words = 2, c;
  }
  return *words = 1, command_find(argv[0]);
}

/* "ptune bench" alone: the commands that start with that word. */
static void say_which(const char *word) {
  int n;
  const command *const *c = command_table(&n);
  size_t k = strlen(word);
  fprintf(stderr, "ptune %s: say which:", word);
  for (int i = 0; i < n; i++)
    if (!strncmp(c[i]->name, word, k) && c[i]->name[k] == ' ')
      fprintf(stderr, " 'ptune %s'", c[i]->name);
  fputc('\n', stderr);
}

int cli_run(int argc, char **argv) {
  int words;
  const command *c = argc > 0 ? lookup(argc, argv, &words) : NULL;
  if (!c) {
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s ", argc > 0 ? argv[0] : "");
    int n;
    const command *const *all = command_table(&n);
    for (int i = 0; i < n; i++)
      if (argc > 0 && !strncmp(all[i]->name, prefix, strlen(prefix))) {
        say_which(argv[0]);
        return 2;
      }
    fprintf(stderr, "ptune: unknown command '%s'; the commands are:\n", argc > 0 ? argv[0] : "");
    commands_usage(stderr);
    return 2;
  }
  run_args a;
  pt_status st = run_args_parse_with(c->name, c->defaults, c->required, argc - words + 1,
                                     argv + words - 1, &a);
  if (st != PT_OK) {
    fprintf(stderr, "ptune %s: %s\n", c->name, pt_error_message());
    return 2;
  }
  if (a.help) {
    printf("usage: ptune %s\n", c->usage);
    options_usage(c->name, c->defaults, stdout);
    if (a.method) options_usage_method(a.method, stdout);
    run_args_free(&a);
    return 0;
  }
  if (a.threads > 0) omp_set_num_threads((int)a.threads);
  int rc = c->run(&a);
  run_args_free(&a);
  return rc;
}
