/* Moving a pt_params list to and from safetensors files by name. */
#ifndef PT_PARAMS_IO_H
#define PT_PARAMS_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "nn/pt_params.h"

/* Maps a tensor name found in a file to the parameter name it fills.
 * Writes the parameter name into `out` and returns true, or returns false
 * to skip the tensor (it then counts as unused). NULL means identity. */
typedef bool (*pt_name_map)(const char *file_name, char *out, size_t cap, void *ctx);

typedef struct {
  int loaded;            /* tensors copied into parameters */
  int unused;            /* tensors of the file that fill no parameter */
  char unused_names[512]; /* the first few, comma separated, for messages */
} pt_load_report;

/* Copies every tensor of the safetensors file `path` whose mapped name is a
 * parameter of `ps` into that parameter (converting F16/BF16/F64 to the
 * parameter's dtype), and sets filled[i] for parameter i (filled may be
 * NULL; it must have ps->count entries). A shape mismatch is an error naming
 * the file, the tensor and both shapes; a tensor filling a parameter that is
 * already filled is an error too. NaN/Inf values are an error. */
pt_status pt_params_load_safetensors(pt_params *ps, const char *path, pt_name_map map, void *ctx,
                                     bool *filled, pt_load_report *report);

/* Writes the parameters (only those requiring grad when trainable_only)
 * with their names and the given metadata, atomically. */
pt_status pt_params_save_safetensors(const pt_params *ps, const char *path, bool trainable_only,
                                     int nmeta, const char *const *keys,
                                     const char *const *values);

#endif
