/* ptune.h is the whole public API and nothing of what the library is built
 * on: a program that includes it must not see jansson, utf8proc, stb_ds,
 * cblas or OpenMP (their names would clash with the program's own, and its
 * build would need their headers). This file fails to compile when one
 * leaks through; tests/install_check.sh compiles it against the installed
 * headers too. nn/pt_json.h, which is jansson helpers, is included
 * explicitly by the code that wants it. */
#ifdef PT_INSTALLED
#include <ptune/ptune.h>
#else
#include "ptune.h"
#endif

#if defined(JANSSON_H)
#error "ptune.h pulls in jansson.h"
#endif
#if defined(UTF8PROC_H)
#error "ptune.h pulls in utf8proc.h"
#endif
#if defined(INCLUDE_STB_DS_H)
#error "ptune.h pulls in stb_ds.h"
#endif
#if defined(CBLAS_H) || defined(OPENBLAS_CONFIG_H)
#error "ptune.h pulls in cblas.h"
#endif
#if defined(_OMP_H)
#error "ptune.h pulls in omp.h"
#endif

int main(void) {
  /* and the API is all there: one call from each floor links */
  pt_tensor *t = pt_zeros(PT_F32, PT_DIMS(2, 2));
  pt_status st = t ? pt_set_requires_grad(t, true) : pt_error_code();
  pt_tensor_free(t);
  return st == PT_OK ? 0 : 1;
}
