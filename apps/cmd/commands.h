/* The command table: every `ptune` command is one file in this folder
 * that defines a `command` (its name, one-line summary, usage, the defaults
 * of its options and the ones it requires, and the entry point it calls
 * with the parsed options) and registers it with COMMAND_REGISTER, as
 * tasks and ops register. The options themselves come from the one table
 * in apps/cli/options.c. cli_run is the whole command line behind
 * main(): a program of its own can register a command and call it. */
#ifndef APPS_CMD_COMMANDS_H
#define APPS_CMD_COMMANDS_H

#include <stdio.h>

#include "apps/cli/options.h"

typedef struct command {
  const char *name;     /* "train", or two words: "bench model" */
  const char *summary;  /* one line for `ptune --help` */
  const char *usage;    /* the lines above the options in `ptune NAME --help` */
  const char *defaults; /* its options' defaults, as arguments: "--lr 0.01 --epochs 3" */
  const char *required; /* the options it needs: "--model --train" */
  /* Runs the command with its parsed options; returns the exit code
   * (command_exit turns a status into one, printing the error). */
  int (*run)(run_args *a);
} command;

#define COMMAND_REGISTER(var)                  \
  static const command *const var##_registered \
      __attribute__((used, section("app_commands"), aligned(sizeof(void *)))) = &var

/* Every registered command, in link order (cmd/meson.build); *n receives
 * how many. */
const command *const *command_table(int *n);
const command *command_find(const char *name);
/* run_args_parse_with with the defaults of the command named `name`. */
pt_status run_args_parse(const char *name, int argc, char **argv, run_args *a);
/* Runs the command line argv[0..argc) (argv[0] the command's name, or its
 * first word): options parsed (exit code 2 and one line on a bad one),
 * --help printed, then the command's entry point. */
int cli_run(int argc, char **argv);
/* 0 for PT_OK; else prints "ptune NAME: message" on stderr and returns 1. */
int command_exit(const run_args *a, pt_status st);
/* The commands with their summaries, for `ptune --help`. */
void commands_usage(FILE *f);

#endif
