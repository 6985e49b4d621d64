/* The subcommands of the ptune program; each returns the process exit code. */
#ifndef PT_APPS_COMMANDS_H
#define PT_APPS_COMMANDS_H

int pt_cmd_gradcheck(int argc, char **argv);
int pt_cmd_bench(int argc, char **argv);
int pt_cmd_bench_model(int argc, char **argv);
int pt_cmd_tokenize(int argc, char **argv);
int pt_cmd_train(int argc, char **argv);
int pt_cmd_eval(int argc, char **argv);
int pt_cmd_predict(int argc, char **argv);
int pt_cmd_inspect(int argc, char **argv);
int pt_cmd_pretrain(int argc, char **argv);
int pt_cmd_fill_mask(int argc, char **argv);

#endif
