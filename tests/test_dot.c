/* autograd/dot.c: the Graphviz export names ops, shapes, leaves and edges. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptune.h"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

static int count(const char *s, const char *needle) {
  int c = 0;
  for (const char *p = s; (p = strstr(p, needle)); p++) c++;
  return c;
}

START_TEST(dot_has_ops_leaves_and_edges) {
  pt_tensor *x = pt_ones(PT_F32, PT_DIMS(4, 3)); /* constant input */
  pt_tensor *w = pt_ones(PT_F32, PT_DIMS(2, 3));
  pt_tensor *b = pt_zeros(PT_F32, PT_DIMS(2));
  pt_tensor_set_name(w, "fc.weight");
  pt_tensor_set_name(b, "fc.bias");
  pt_set_requires_grad(w, true);
  pt_set_requires_grad(b, true);
  pt_tensor *y = pt_linear(x, w, b);
  pt_tensor *z = pt_mul(y, y);
  pt_tensor *loss = pt_sum(z, 0, NULL, false);
  ck_assert_ptr_nonnull(loss);
  char path[64];
  snprintf(path, sizeof path, "test_dot_%ld.dot", (long)getpid());
  ck_assert_int_eq(pt_graph_write_dot(loss, path), PT_OK);
  char *s = slurp(path);
  ck_assert_ptr_nonnull(s);
  ck_assert(strncmp(s, "digraph", 7) == 0);
  ck_assert(strstr(s, "\"linear\\n[4,2] F32\"") != NULL);
  ck_assert(strstr(s, "\"mul\\n[4,2] F32\"") != NULL);
  ck_assert(strstr(s, "\"sum\\n[] F32\"") != NULL);
  ck_assert(strstr(s, "fc.weight\\n[2,3] F32\\nrequires_grad") != NULL);
  ck_assert(strstr(s, "fc.bias\\n[2] F32") != NULL);
  ck_assert(strstr(s, "constant\\n[4,3] F32\\nno grad") != NULL);
  /* edges: w, b, x → linear; linear → mul twice (y·y); mul → sum */
  char e[128];
  pt_node *lin = y->grad_fn, *mul = z->grad_fn, *sum = loss->grad_fn;
  snprintf(e, sizeof e, "leaf_%p -> op_%p;", (void *)w, (void *)lin);
  ck_assert(strstr(s, e) != NULL);
  snprintf(e, sizeof e, "leaf_%p -> op_%p;", (void *)b, (void *)lin);
  ck_assert(strstr(s, e) != NULL);
  snprintf(e, sizeof e, "op_%p -> op_%p;", (void *)lin, (void *)mul);
  ck_assert_int_eq(count(s, e), 2);
  snprintf(e, sizeof e, "op_%p -> op_%p;", (void *)mul, (void *)sum);
  ck_assert_int_eq(count(s, e), 1);
  ck_assert_int_eq(count(s, "\"linear\\n"), 1); /* each node once */
  ck_assert_int_eq(count(s, "fc.weight"), 1);     /* each leaf once */
  ck_assert(s[strlen(s) - 2] == '}');
  /* no temporary left behind; a bad directory is an error with a message */
  char tmp[96];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  ck_assert_int_ne(access(tmp, F_OK), 0);
  ck_assert_int_eq(pt_graph_write_dot(loss, "/nonexistent-dir/g.dot"), PT_ERR_IO);
  ck_assert(strstr(pt_error_message(), "graph_write_dot") != NULL);
  remove(path);
  pt_tensor *all[] = {x, w, b, y, z, loss};
  for (int i = 0; i < 6; i++) pt_tensor_free(all[i]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("dot");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, dot_has_ops_leaves_and_edges);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
