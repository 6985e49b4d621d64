/* `ptune`: the program is its command line (apps/pt_cli.h). */
#include "apps/pt_cli.h"

int main(int argc, char **argv) { return pt_cli_main(argc, argv); }
