/* The whole `ptune` command line as one call, for programs of your own: a
 * file that registers a PEFT method (pt_method_register, models/pt_method.h)
 * or a command (COMMAND_REGISTER, apps/cmd/commands.h) and then calls
 * pt_cli_main is a complete `ptune` with it (examples/vera.c). */
#ifndef PT_CLI_H
#define PT_CLI_H

/* `ptune [--keep-denormals] COMMAND ...` with argv[0] the program's name:
 * flushes denormal floats unless told not to, then runs the command.
 * The bounded OpenMP spinning of `ptune` is not here: it is set before
 * libgomp starts, from the executable (apps/main.c's preinit function and
 * constructor; a program of its own copies them to keep it).
 * Returns the exit status (0 success, 1 a failed run, 2 a bad command line). */
int pt_cli_main(int argc, char **argv);

#endif
