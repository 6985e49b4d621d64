/* The command and option tables: every registered command parses its own
 * defaults and prints its help with each option once; unknown options,
 * missing required ones and --help give the documented exit codes;
 * aliases land where their option does; defaults do not count as given. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apps/cmd/commands.h"

/* cli_run with stdout and stderr sent to /dev/null. */
static int quiet_run(int argc, const char **argv) {
  fflush(NULL);
  int out = dup(1), err = dup(2);
  FILE *null = fopen("/dev/null", "w");
  ck_assert_ptr_nonnull(null);
  dup2(fileno(null), 1);
  dup2(fileno(null), 2);
  int rc = cli_run(argc, (char **)argv);
  fflush(NULL);
  dup2(out, 1);
  dup2(err, 2);
  close(out);
  close(err);
  fclose(null);
  return rc;
}

START_TEST(every_command_parses_its_defaults_and_prints_help) {
  int n;
  const command *const *cmds = command_table(&n);
  ck_assert_int_gt(n, 0);
  for (int i = 0; i < n; i++) {
    const command *c = cmds[i];
    ck_assert_msg(c->name && c->summary && c->usage && c->run, "command %d is incomplete", i);
    ck_assert_ptr_eq(command_find(c->name), c);
    char *argv[] = {(char *)c->name, NULL};
    run_args a;
    ck_assert_msg(run_args_parse_with(c->name, c->defaults, NULL, 1, argv, &a) == PT_OK,
                  "%s: its defaults: %s", c->name, pt_error_message());
    run_args_free(&a);
    /* the help: one line per option, each option once, --help last */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    options_usage(c->name, c->defaults, f);
    fclose(f);
    char *names[OPTION_ROWS_MAX];
    int k = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
      char name[64];
      if (line[2] == ' ' || sscanf(line, " %63s", name) != 1) continue; /* a continued help line */
      for (int j = 0; j < k; j++)
        ck_assert_msg(strcmp(names[j], name), "%s: option %s twice", c->name, name);
      ck_assert_int_lt(k, OPTION_ROWS_MAX);
      names[k++] = strdup(name);
    }
    ck_assert_msg(k > 0 && !strcmp(names[k - 1], "--help"), "%s: no --help line", c->name);
    for (int j = 0; j < k; j++) free(names[j]);
    free(text);
    /* through the runner: --help exits 0, an unknown option 2 */
    const char *help[] = {c->name, "--help"};
    const char *bad[] = {c->name, "--no-such-option"};
    int words = strchr(c->name, ' ') ? 2 : 1;
    char first[64], second[64] = "";
    sscanf(c->name, "%63s %63s", first, second);
    const char *h2[] = {first, second, "--help"}, *b2[] = {first, second, "--no-such-option"};
    ck_assert_int_eq(quiet_run(words + 1, words == 2 ? h2 : help), 0);
    ck_assert_int_eq(quiet_run(words + 1, words == 2 ? b2 : bad), 2);
    ck_assert_ptr_nonnull(strstr(pt_error_message(), "--no-such-option"));
  }
}
END_TEST

START_TEST(aliases_given_and_required) {
  const command *train = command_find("train");
  ck_assert_ptr_nonnull(train);
  const char *argv[] = {"train", "--clip", "0.5", "--steps", "7", NULL};
  run_args a;
  ck_assert_int_eq(run_args_parse_with("train", train->defaults, NULL, 5, (char **)argv, &a),
                   PT_OK);
  ck_assert(a.max_grad_norm == 0.5);
  ck_assert_int_eq(a.max_steps, 7);
  ck_assert(option_given(&a, "--max-grad-norm"));
  ck_assert(option_given(&a, "--max-steps"));
  ck_assert(!option_given(&a, "--lr")); /* a default is not given */
  ck_assert(a.lr == 0.01);
  run_args_free(&a);
  /* the required options, named one at a time */
  ck_assert_int_eq(run_args_parse("train", 5, (char **)argv, &a), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "--model is required"));
  /* a missing value, a bad choice, a negative integer */
  const char *v1[] = {"train", "--lr"};
  ck_assert_int_eq(run_args_parse_with("train", train->defaults, NULL, 2, (char **)v1, &a),
                   PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "--lr needs a value"));
  const char *v2[] = {"train", "--optimizer", "adam"};
  ck_assert_int_eq(run_args_parse_with("train", train->defaults, NULL, 3, (char **)v2, &a),
                   PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "adamw or sgd"));
  const char *v3[] = {"train", "--epochs", "-1"};
  ck_assert_int_eq(run_args_parse_with("train", train->defaults, NULL, 3, (char **)v3, &a),
                   PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "--epochs"));
  /* the task's sequence length unless given */
  const char *q1[] = {"train", "--task", "qa"}, *q2[] = {"train", "--task", "ner"};
  const char *q3[] = {"train", "--task", "qa", "--max-seq-len", "64"};
  ck_assert_int_eq(run_args_parse_with("train", train->defaults, NULL, 3, (char **)q1, &a), PT_OK);
  ck_assert_int_eq(a.task_options.max_seq_len, 384);
  ck_assert(!option_given(&a, "--max-seq-len"));
  run_args_free(&a);
  ck_assert_int_eq(run_args_parse_with("train", train->defaults, NULL, 3, (char **)q2, &a), PT_OK);
  ck_assert_int_eq(a.task_options.max_seq_len, 128);
  run_args_free(&a);
  ck_assert_int_eq(run_args_parse_with("train", train->defaults, NULL, 5, (char **)q3, &a), PT_OK);
  ck_assert_int_eq(a.task_options.max_seq_len, 64);
  ck_assert(option_given(&a, "--max-seq-len"));
  run_args_free(&a);
  /* "ptune bench" alone names no command */
  const char *bench[] = {"bench"};
  ck_assert_int_eq(quiet_run(1, bench), 2);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("cli");
  TCase *tc = tcase_create("cli");
  tcase_add_test(tc, every_command_parses_its_defaults_and_prints_help);
  tcase_add_test(tc, aliases_given_and_required);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
