/* The subcommands of the ptune program; each returns the process exit code. */
#ifndef APPS_CMD_COMMANDS_H
#define APPS_CMD_COMMANDS_H

int cmd_gradcheck(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_model(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_fill_mask(int argc, char **argv);

#endif
