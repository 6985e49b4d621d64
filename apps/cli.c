/* `ptune COMMAND ...`: the command line of apps/cmd/commands.c behind the
 * public entry point pt_cli_main (apps/pt_cli.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cmd/commands.h"
#include "apps/pt_cli.h"
#include "tensor/pt_fpmode.h"
#include "tensor/pt_heap.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: ptune [--keep-denormals] COMMAND [ARGS]   (ptune COMMAND --help for details)\n\n"
          "Denormal floats are flushed to zero (a training step meeting them can run 3x\n"
          "slower); --keep-denormals keeps IEEE arithmetic.\n\ncommands:\n");
  commands_usage(f);
}

int pt_cli_main(int argc, char **argv) {
  bool keep_denormals = argc > 1 && !strcmp(argv[1], "--keep-denormals");
  if (keep_denormals) {
    argc--;
    argv++;
  }
  /* first, so every thread created later inherits it (see pt_fpmode.h) */
  pt_set_flush_denormal(!keep_denormals);
  pt_heap_tune_for_reuse(); /* training loops reuse their buffers' pages (pt_heap.h) */
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  return cli_run(argc - 1, argv + 1);
}
