/* The one definition of stb_ds (hash maps and dynamic arrays) in the library.
 * Built with -fno-sanitize=shift: stb_ds's pointer hash shifts trip UBSan. */
#define STB_DS_IMPLEMENTATION
#include <stb/stb_ds.h>
