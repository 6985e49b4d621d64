/* nn/json: loading with file:line:col errors and typed getters that name the
 * key and the file. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/pt_json.h"
#include "ptune.h"

static char dir[256];

static const char *write_file(const char *name, const char *text) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *fp = fopen(path, "w");
  ck_assert_ptr_nonnull(fp);
  fputs(text, fp);
  fclose(fp);
  return path;
}

static void setup(void) {
  const char *base = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/pt_json_XXXXXX", base ? base : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
  const char *names[] = {"config.json", "bad.json", "dup.json", "array.json", "empty.json"};
  char p[600];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    unlink(p);
  }
  rmdir(dir);
}

START_TEST(load_errors_name_file_line_and_column) {
  const char *p = write_file("bad.json", "{\n  \"a\": 1,\n  \"b\": }\n");
  ck_assert_ptr_null(pt_json_load_file(p));
  ck_assert_int_eq(pt_error_code(), PT_ERR_FORMAT);
  char want[600];
  snprintf(want, sizeof want, "%s:3:", p);
  ck_assert_msg(strncmp(pt_error_message(), want, strlen(want)) == 0, "%s", pt_error_message());
  ck_assert_ptr_null(strchr(pt_error_message(), '\n'));

  p = write_file("dup.json", "{\"a\": 1, \"a\": 2}");
  ck_assert_ptr_null(pt_json_load_file(p));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "duplicate"));

  p = write_file("empty.json", "");
  ck_assert_ptr_null(pt_json_load_file(p));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "empty.json:"));

  p = write_file("array.json", "[1, 2]");
  json_t *arr = pt_json_load_file(p);
  ck_assert(json_is_array(arr));
  json_decref(arr);
  ck_assert_ptr_null(pt_json_load_object(p));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "expected a JSON object at the top level"));

  char missing[600];
  snprintf(missing, sizeof missing, "%s/nope.json", dir);
  ck_assert_ptr_null(pt_json_load_file(missing));
  ck_assert_int_eq(pt_error_code(), PT_ERR_IO);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "nope.json: cannot open"));
  ck_assert_ptr_null(pt_json_load_file(dir));
  ck_assert_int_eq(pt_error_code(), PT_ERR_IO);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "is a directory"));

  ck_assert_ptr_null(pt_json_load_buffer("{\"x\" 1}", 7, "header"));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "header:1:"));
}
END_TEST

START_TEST(typed_getters) {
  const char *p = write_file("config.json",
                             "{\"hidden_size\": 32, \"eps\": 1e-12, \"ratio\": 2, \"layers\": 4.0,"
                             " \"proj\": true, \"model_type\": \"bert\", \"none\": null,"
                             " \"heads\": \"4\", \"frac\": 2.5}");
  json_t *c = pt_json_load_object(p);
  ck_assert_ptr_nonnull(c);
  int64_t i = 0;
  double d = 0;
  bool b = false;
  const char *s = NULL;
  ck_assert_int_eq(pt_json_int(c, "config.json", "hidden_size", &i), PT_OK);
  ck_assert_int_eq(i, 32);
  ck_assert_int_eq(pt_json_int(c, "config.json", "layers", &i), PT_OK);
  ck_assert_int_eq(i, 4);
  ck_assert_int_eq(pt_json_double(c, "config.json", "eps", &d), PT_OK);
  ck_assert_double_eq(d, 1e-12);
  ck_assert_int_eq(pt_json_double(c, "config.json", "ratio", &d), PT_OK);
  ck_assert_double_eq(d, 2.0);
  ck_assert_int_eq(pt_json_bool(c, "config.json", "proj", &b), PT_OK);
  ck_assert(b);
  ck_assert_int_eq(pt_json_string(c, "config.json", "model_type", &s), PT_OK);
  ck_assert_str_eq(s, "bert");

  /* wrong types and missing keys name the file and the key */
  ck_assert_int_eq(pt_json_int(c, "config.json", "heads", &i), PT_ERR_FORMAT);
  ck_assert_str_eq(pt_error_message(), "config.json: 'heads' must be an integer, got a string");
  ck_assert_int_eq(pt_json_int(c, "config.json", "frac", &i), PT_ERR_FORMAT);
  ck_assert_int_eq(pt_json_int(c, "config.json", "vocab_size", &i), PT_ERR_FORMAT);
  ck_assert_str_eq(pt_error_message(), "config.json: 'vocab_size' is missing");
  ck_assert_int_eq(pt_json_bool(c, "config.json", "hidden_size", &b), PT_ERR_FORMAT);
  ck_assert_int_eq(pt_json_string(c, "config.json", "proj", &s), PT_ERR_FORMAT);
  ck_assert_int_eq(pt_json_double(c, "config.json", "model_type", &d), PT_ERR_FORMAT);
  /* null counts as absent */
  ck_assert_int_eq(pt_json_string(c, "config.json", "none", &s), PT_ERR_FORMAT);
  ck_assert(!pt_json_has(c, "none"));
  ck_assert(pt_json_has(c, "proj"));

  /* optional getters: the default when absent or null, an error on a wrong type */
  ck_assert_int_eq(pt_json_int_or(c, "config.json", "vocab_size", 100, &i), PT_OK);
  ck_assert_int_eq(i, 100);
  ck_assert_int_eq(pt_json_double_or(c, "config.json", "none", 0.5, &d), PT_OK);
  ck_assert_double_eq(d, 0.5);
  ck_assert_int_eq(pt_json_bool_or(c, "config.json", "missing", true, &b), PT_OK);
  ck_assert(b);
  ck_assert_int_eq(pt_json_string_or(c, "config.json", "none", "absolute", &s), PT_OK);
  ck_assert_str_eq(s, "absolute");
  ck_assert_int_eq(pt_json_int_or(c, "config.json", "model_type", 1, &i), PT_ERR_FORMAT);
  ck_assert_int_eq(pt_json_bool_or(c, "config.json", "proj", false, &b), PT_OK);
  ck_assert(b);

  /* a getter on something that is not an object */
  json_t *arr = json_array();
  ck_assert_int_eq(pt_json_int_or(arr, "x.json", "k", 0, &i), PT_ERR_FORMAT);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "x.json: expected a JSON object"));
  json_decref(arr);
  json_decref(c);
}
END_TEST

int main(void) {
  Suite *s = suite_create("json");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, load_errors_name_file_line_and_column);
  tcase_add_test(tc, typed_getters);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
