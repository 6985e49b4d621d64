/* apps/tasks/ner/read.c and apps/tasks/srl/read.c: tagging schemes to IOB2, CoNLL text
 * and CoNLL04 JSON, SRL jsonl, label maps, and the messages for bad input. */
#include <check.h>
#include <string.h>

#include <jansson.h>

#include "apps/tasks/ner/ner.h"
#include "apps/tasks/srl/srl.h"
#include "task_test_util.h"

/* Converts a space-separated tag string and compares with `want`. */
static void iob2_case(const char *in, const char *want) {
  char buf[256], *tags[32];
  snprintf(buf, sizeof buf, "%s", in);
  int64_t n = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) tags[n++] = t;
  ck_assert_int_eq(tags_to_iob2(tags, n), PT_OK);
  char got[256] = "";
  for (int64_t i = 0; i < n; i++) {
    if (i) strcat(got, " ");
    strcat(got, tags[i]);
  }
  ck_assert_str_eq(got, want);
}

START_TEST(schemes_convert_to_iob2) {
  /* IOB1: I-X starts an entity unless it follows X; B-X only between two X */
  iob2_case("I-PER I-PER O I-LOC B-LOC I-LOC", "B-PER I-PER O B-LOC B-LOC I-LOC");
  iob2_case("I-PER I-ORG I-ORG", "B-PER B-ORG I-ORG"); /* type change starts one */
  /* IOB2 is left as it is */
  iob2_case("B-PER I-PER O B-LOC B-LOC I-LOC", "B-PER I-PER O B-LOC B-LOC I-LOC");
  /* BIOES: S-X -> B-X, E-X -> I-X after B/I of the same type */
  iob2_case("B-X I-X E-X S-Y O S-X S-X", "B-X I-X I-X B-Y O B-X B-X");
  /* BILOU, as in CoNLL04: U -> B, L -> I */
  iob2_case("U-Loc B-Org I-Org L-Org B-Other L-Other U-Loc", "B-Loc B-Org I-Org I-Org B-Other I-Other B-Loc");
  /* an E-/L- that does not continue anything starts an entity */
  iob2_case("O E-X L-Y", "O B-X B-Y");
  /* roles with dashes in the type */
  iob2_case("B-AM-TMP I-AM-TMP I-C-A1", "B-AM-TMP I-AM-TMP B-C-A1");
  char bad[] = "X-PER", o[] = "O", empty[] = "B-";
  char *t1[] = {o, bad}, *t2[] = {empty};
  ck_assert_int_eq(tags_to_iob2(t1, 2), PT_ERR_FORMAT);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "'X-PER'"));
  ck_assert_int_eq(tags_to_iob2(t2, 1), PT_ERR_FORMAT);
}
END_TEST

static void assert_sentence(const sentence *s, const char *words, const char *tags) {
  char w[1024] = "", t[1024] = "";
  for (int64_t i = 0; i < s->n; i++) {
    if (i) strcat(w, " "), strcat(t, " ");
    strcat(w, s->words[i]);
    strcat(t, s->tags[i]);
  }
  ck_assert_str_eq(w, words);
  ck_assert_str_eq(t, tags);
}

START_TEST(conll2003_excerpt_reads_as_iob2) {
  sentence_set set;
  const char *path = fixture("conll2003/eng.train.excerpt");
  ck_assert_int_eq(read_ner(path, NULL, &set), PT_OK);
  ck_assert(set.has_tags);
  ck_assert_int_eq(set.n, 4); /* -DOCSTART- is not a sentence */
  assert_sentence(&set.sents[0], "EU rejects German call to boycott British lamb .",
                  "B-ORG O B-MISC O O O B-MISC O O");
  ck_assert_int_eq(set.sents[0].line, 3);
  assert_sentence(&set.sents[1], "Peter Blackburn", "B-PER I-PER");
  ck_assert_int_eq(set.sents[2].line, 16);
  assert_sentence(&set.sents[2], "BRUSSELS 1996-08-22", "B-LOC O");
  /* IOB1's B-LOC between two locations stays B-LOC; I-LOC after O becomes B-LOC */
  const sentence *s = &set.sents[3];
  ck_assert_int_eq(s->line, 19);
  ck_assert_int_eq(s->n, 30);
  for (int64_t i = 0; i < s->n; i++) {
    if (!strcmp(s->words[i], "Golan")) ck_assert_str_eq(s->tags[i], "B-LOC");
    if (!strcmp(s->words[i], "Heights")) ck_assert_str_eq(s->tags[i], "I-LOC");
    if (!strcmp(s->words[i], "Israel")) ck_assert_str_eq(s->tags[i], "B-LOC");
    if (!strcmp(s->words[i], "Syria")) ck_assert_str_eq(s->tags[i], "B-LOC");
  }
  /* label map from training data, then the same labels are known */
  label_map map;
  label_map_init(&map);
  ck_assert_int_eq(sentences_map_labels(&set, &map, true), PT_OK);
  ck_assert_int_eq(map.n, 7); /* B-ORG O B-MISC B-PER I-PER B-LOC I-LOC */
  ck_assert_str_eq(map.names[0], "B-ORG");
  ck_assert_int_eq(set.sents[0].tag_ids[1], 1);
  ck_assert_int_eq(set.sents[1].tag_ids[1], label_map_find(&map, "I-PER"));
  ck_assert_int_eq(label_map_complete_bio(&map), PT_OK);
  ck_assert_int_eq(map.n, 9); /* + I-ORG, I-MISC */
  ck_assert_int_ge(label_map_find(&map, "I-MISC"), 7);
  ck_assert_int_eq(sentences_map_labels(&set, &map, false), PT_OK);
  /* the HF/THUDM order for CoNLL-2003 */
  const char *const *names;
  int64_t n;
  ck_assert_int_eq(ner_preset_labels("conll2003", &names, &n), PT_OK);
  ck_assert_int_eq(label_map_set(&map, names, n), PT_OK);
  ck_assert_int_eq(sentences_map_labels(&set, &map, false), PT_OK);
  ck_assert_int_eq(set.sents[0].tag_ids[0], 3); /* B-ORG */
  ck_assert_int_eq(set.sents[0].tag_ids[1], 0); /* O */
  ck_assert_int_eq(ner_preset_labels("ontonotes", &names, &n), PT_ERR_ARG);
  label_map_free(&map);
  sentence_set_free(&set);
  ck_assert_int_eq(set.n, 0);
}
END_TEST

START_TEST(conll04_json_bilou_reads_as_iob2) {
  sentence_set set;
  ck_assert_int_eq(read_ner(fixture("conll2004/conll04_train.excerpt.json"), NULL, &set), PT_OK);
  ck_assert_int_eq(set.n, 3);
  const sentence *s = &set.sents[0];
  ck_assert_int_eq(s->n, 20);
  ck_assert_int_eq(s->line, 0);
  ck_assert_str_eq(s->words[4], "U.S.");
  const char *want[] = {"O", "O", "O", "O", "B-Loc", "O", "O", "O", "O", "B-Loc",
                        "B-Org", "I-Org", "I-Org", "O", "O", "B-Other", "I-Other",
                        "B-Other", "I-Other", "I-Other"};
  for (int i = 0; i < 20; i++) ck_assert_str_eq(s->tags[i], want[i]);
  ck_assert_int_eq(set.sents[1].n, 50);
  ck_assert_int_eq(set.sents[2].item, 2);
  sentence_set_free(&set);
}
END_TEST

START_TEST(spert_entities_and_jsonl) {
  const char *p = tmp_file("spert.json",
                           "[{\"tokens\": [\"John\", \"Smith\", \"left\", \"Paris\"],"
                           " \"entities\": [{\"start\": 3, \"end\": 4, \"type\": \"Loc\"},"
                           " {\"start\": 0, \"end\": 2, \"type\": \"Peop\"}], \"relations\": []}]", -1);
  sentence_set set;
  ck_assert_int_eq(read_ner(p, NULL, &set), PT_OK);
  assert_sentence(&set.sents[0], "John Smith left Paris", "B-Peop I-Peop O B-Loc");
  sentence_set_free(&set);
  p = tmp_file("a.jsonl", "{\"tokens\": [\"a\", \"b\"], \"tags\": [\"S-X\", \"O\"]}\n\n"
                          "{\"tokens\": [\"c\"], \"tags\": [\"U-Y\"]}\n", -1);
  ck_assert_int_eq(read_ner(p, NULL, &set), PT_OK);
  ck_assert_int_eq(set.n, 2);
  ck_assert_int_eq(set.sents[1].line, 3);
  assert_sentence(&set.sents[1], "c", "B-Y");
  sentence_set_free(&set);
  tmp_cleanup();
}
END_TEST

/* Reads `text` as file `name` and expects failure with "<path><rest>". */
static void ner_fails(const char *name, const char *text, long len, const char *rest) {
  const char *p = tmp_file(name, text, len);
  sentence_set set;
  ck_assert_int_ne(read_ner(p, NULL, &set), PT_OK);
  expect_msg(p, rest);
  ck_assert_int_eq(set.n, 0);
  ck_assert_ptr_null(set.sents);
}

START_TEST(bad_ner_input_is_reported_by_line) {
  ner_fails("eng.train", "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects\n",
            -1, ":4: expected at least 2 columns (word ... tag), got 1");
  ner_fails("t1", "a O\nb Q-PER\n", -1,
            ":2: tag 'Q-PER' is not O or B-/I-/E-/S-/L-/U- followed by a type");
  ner_fails("t2", "a B-\n", -1, ":1: tag 'B-' is not O or B-/I-/E-/S-/L-/U- followed by a type");
  ner_fails("empty", "", 0, ": no sentences found (empty file?)");
  ner_fails("blank", "\n\n-DOCSTART- -X- O O\n\n", -1, ": no sentences found (empty file?)");
  ner_fails("nul", "a O\nb\0 O\n", 8, ":2: contains a NUL byte (not a text file?)");
  ner_fails("latin1", "a O\ncaf\xe9 O\n", -1, ":2: invalid UTF-8 at byte 4");
  ner_fails("x.json", "[{\"tokens\": [\"a\", \"b\", \"c\"], \"tags\": [\"O\", \"O\"]}]", -1,
            ": item 1: 2 tags for 3 tokens");
  ner_fails("y.json", "[{\"tokens\": [\"a\"], \"tags\": [\"O\"]}, {\"tokens\": [\"a\"]}]", -1,
            ": item 2: 'tags' (or 'entities') is missing");
  ner_fails("z.json", "{\"tokens\": []}", -1, ": expected a JSON array of sentences, got an object");
  ner_fails("e.json", "[{\"tokens\": [\"a\", \"b\"], \"entities\": [{\"start\": 1, \"end\": 3, \"type\": \"X\"}]}]",
            -1, ": item 1: entity 0: span [1, 3) is outside the 2 tokens");
  ner_fails("o.json",
            "[{\"tokens\": [\"a\", \"b\"], \"entities\": [{\"start\": 0, \"end\": 2, \"type\": \"X\"},"
            " {\"start\": 1, \"end\": 2, \"type\": \"Y\"}]}]",
            -1, ": item 1: entity 1: overlaps another entity at token 1");
  ner_fails("w.jsonl", "{\"tokens\": [\"a\"], \"tags\": [\"O\"]}\n{\"tokens\": [\"a\"], \"tags\": [\"O\"]\n",
            -1, ":2: invalid JSON at column 31: '}' expected near end of file");
  ner_fails("v.jsonl", "[1]\n", -1, ":1: expected a JSON object, got an array");
  /* a missing file and a directory */
  sentence_set set;
  ck_assert_int_eq(read_ner("/nonexistent/eng.train", NULL, &set), PT_ERR_IO);
  ck_assert_str_eq(pt_error_message(), "/nonexistent/eng.train: cannot open: No such file or directory");
  ck_assert_int_eq(read_ner("/tmp", NULL, &set), PT_ERR_IO);
  tmp_cleanup();
}
END_TEST

START_TEST(unknown_dev_label_names_file_and_line) {
  sentence_set train, dev;
  ck_assert_int_eq(read_ner(tmp_file("train.txt", "a B-PER\nb O\n", -1), NULL, &train), PT_OK);
  const char *dp = tmp_file("dev.txt", "a O\n\nb O\nc I-PER\nd I-FOO\n", -1);
  ck_assert_int_eq(read_ner(dp, NULL, &dev), PT_OK);
  label_map map;
  label_map_init(&map);
  ck_assert_int_eq(sentences_map_labels(&train, &map, true), PT_OK);
  ck_assert_int_eq(sentences_map_labels(&dev, &map, false), PT_ERR_FORMAT);
  /* c I-PER after O is B-PER in IOB2 (known); d I-FOO becomes B-FOO (line 5) */
  expect_msg(dp, ":5: unknown label 'B-FOO' (the label set is: B-PER, O)");
  /* a given label map (e.g. an adapter's id2label) */
  const char *names[] = {"O", "B-PER", "I-PER", "B-FOO"};
  ck_assert_int_eq(label_map_set(&map, names, 4), PT_OK);
  ck_assert_int_eq(sentences_map_labels(&dev, &map, false), PT_OK);
  ck_assert_int_eq(dev.sents[1].tag_ids[1], 1);
  ck_assert_int_eq(dev.sents[1].tag_ids[2], 3);
  const char *dup[] = {"O", "O"};
  ck_assert_int_eq(label_map_set(&map, dup, 2), PT_ERR_ARG);
  ck_assert_int_eq(map.n, 4); /* unchanged */
  label_map_free(&map);
  sentence_set_free(&train);
  sentence_set_free(&dev);
  tmp_cleanup();
}
END_TEST

START_TEST(unlabelled_input_when_allowed) {
  read_opts opts = {.labels_optional = true};
  sentence_set set;
  const char *p = tmp_file("words.txt", "EU\nrejects\n\nPeter\n", -1);
  ck_assert_int_eq(read_ner(p, &opts, &set), PT_OK);
  ck_assert(!set.has_tags);
  ck_assert_int_eq(set.n, 2);
  ck_assert_ptr_null(set.sents[0].tags[0]);
  label_map map;
  label_map_init(&map);
  ck_assert_int_eq(sentences_map_labels(&set, &map, true), PT_ERR_ARG);
  sentence_set_free(&set);
  p = tmp_file("mixed.txt", "EU B-ORG\nrejects\n", -1);
  ck_assert_int_eq(read_ner(p, &opts, &set), PT_ERR_FORMAT);
  expect_msg(p, ":2: has no tags, unlike the sentences before it");
  tmp_cleanup();
}
END_TEST

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  static char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Every non-blank line of `text` has the same number of space-separated
 * columns: conlleval aborts otherwise ("unexpected number of features"). */
static void same_columns(const char *text) {
  int64_t want = -1;
  char *copy = strdup(text), *save = NULL;
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    int64_t k = 0;
    char *s2 = NULL;
    for (char *t = strtok_r(line, " ", &s2); t; t = strtok_r(NULL, " ", &s2)) k++;
    if (want < 0) want = k;
    ck_assert_int_eq(k, want);
  }
  free(copy);
}

START_TEST(ner_predictions_file) {
  /* CoNLL text in IOB1: the tag column becomes the IOB2 gold, the
   * prediction is appended, -DOCSTART- gets a predicted O */
  const char *src = tmp_file("in.txt", "-DOCSTART- -X- O\n\nEU NNP I-ORG\nrejects VBZ O\n\n"
                                       "Peter NNP I-PER\n", -1);
  sentence_set set;
  ck_assert_int_eq(read_ner(src, NULL, &set), PT_OK);
  char b_org[] = "B-ORG", o[] = "O", b_loc[] = "B-LOC";
  char *p0[] = {b_org, o}, *p1[] = {b_loc};
  char **pred[] = {p0, p1};
  char out[600];
  snprintf(out, sizeof out, "%s", tmp_file("out.txt", "", 0));
  ck_assert_int_eq(write_ner_predictions(&set, pred, out), PT_OK);
  ck_assert_str_eq(slurp(out), "-DOCSTART- -X- O O\n\nEU NNP B-ORG B-ORG\nrejects VBZ O O\n\n"
                               "Peter NNP B-PER B-LOC\n");
  same_columns(slurp(out));
  /* a file edited after reading is caught */
  tmp_file("in.txt", "EU NNP I-ORG\n", -1);
  ck_assert_int_eq(write_ner_predictions(&set, pred, out), PT_ERR_STATE);
  sentence_set_free(&set);
  /* a -DOCSTART- line with other columns than the words' is made to fit;
   * tabs and trailing blanks in word lines are kept up to the tag */
  src = tmp_file("in2.txt", "-DOCSTART-\nEU\tNNP I-ORG \nrejects VBZ O\n", -1);
  ck_assert_int_eq(read_ner(src, NULL, &set), PT_OK);
  char **pred2[] = {p0};
  ck_assert_int_eq(write_ner_predictions(&set, pred2, out), PT_OK);
  ck_assert_str_eq(slurp(out), "-DOCSTART- -X- O O\nEU\tNNP B-ORG B-ORG\nrejects VBZ O O\n");
  sentence_set_free(&set);
  /* unlabelled text: "word pred", and "-DOCSTART- O" */
  src = tmp_file("in3.txt", "-DOCSTART-\n\nEU\nrejects\n", -1);
  ck_assert_int_eq(read_ner(src, &(read_opts){.labels_optional = true}, &set), PT_OK);
  ck_assert_int_eq(write_ner_predictions(&set, pred2, out), PT_OK);
  ck_assert_str_eq(slurp(out), "-DOCSTART- O\n\nEU B-ORG\nrejects O\n");
  sentence_set_free(&set);
  /* JSON input: "word gold pred" lines, the gold in IOB2 (BILOU in the file) */
  ck_assert_int_eq(read_ner(fixture("conll2004/conll04_train.excerpt.json"), NULL, &set), PT_OK);
  char **gold[3] = {set.sents[0].tags, set.sents[1].tags, set.sents[2].tags};
  ck_assert_int_eq(write_ner_predictions(&set, gold, out), PT_OK);
  const char *want = "Newspaper O O\n` O O\n";
  ck_assert(strncmp(slurp(out), want, strlen(want)) == 0);
  ck_assert_ptr_nonnull(strstr(slurp(out), "\nU.S. B-Loc B-Loc\n"));
  same_columns(slurp(out));
  sentence_set_free(&set);
  /* a JSON word with a space, or empty, cannot be a CoNLL column: '_' */
  src = tmp_file("sp.json", "[{\"tokens\": [\"New York\", \"\"], \"tags\": [\"U-LOC\", \"O\"]}]", -1);
  ck_assert_int_eq(read_ner(src, NULL, &set), PT_OK);
  ck_assert_int_eq(write_ner_predictions(&set, pred2, out), PT_OK);
  ck_assert_str_eq(slurp(out), "New_York B-LOC B-ORG\n_ O O\n\n");
  sentence_set_free(&set);
  tmp_cleanup();
}
END_TEST

/* A predictions file made by hand as conlleval reads one: -DOCSTART-
 * lines, IOB1 gold (I- starts an entity, B- only between two of a type),
 * the prediction last. Counted by hand under conlleval's chunk rules (a
 * chunk starts at B-, at I- after O, at a type change; B- after I- of the
 * same type starts a new one):
 *   gold  ORG: EU, European Commission; MISC: German, British;
 *         PER: Peter Blackburn; LOC: BRUSSELS, Germany, France      (8)
 *   guess ORG: EU, BRUSSELS, European Commission; MISC: German call,
 *         British, mad cow; PER: Peter, Blackburn; LOC: Germany, France (10)
 *   right ORG: EU, European Commission; MISC: British; LOC: Germany,
 *         France                                                     (5)
 * so conlleval prints "found: 10 phrases; correct: 5", precision 50.00%,
 * recall 62.50%, FB1 55.56; LOC 100.00% / 66.67% / 80.00, MISC 33.33% /
 * 50.00% / 40.00, ORG 66.67% / 100.00% / 80.00, PER 0 / 0 / 0. Its
 * accuracy, 18 of 25 tags (72.00%), counts the two -DOCSTART- lines and
 * compares the IOB1 gold as written; ptune's compares the IOB2 gold with
 * the predictions, word lines only: 14 of 23. */
static const char handmade[] =
    "-DOCSTART- -X- -X- O O\n"
    "\n"
    "EU NNP I-NP I-ORG I-ORG\n"
    "rejects VBZ I-VP O O\n"
    "German JJ I-NP I-MISC B-MISC\n"
    "call NN I-NP O I-MISC\n"
    "to TO I-VP O O\n"
    "boycott VB I-VP O O\n"
    "British JJ I-NP I-MISC I-MISC\n"
    "lamb NN I-NP O O\n"
    ". . O O O\n"
    "\n"
    "Peter NNP I-NP I-PER I-PER\n"
    "Blackburn NNP I-NP I-PER B-PER\n"
    "\n"
    "-DOCSTART- -X- -X- O O\n"
    "\n"
    "BRUSSELS NNP I-NP I-LOC I-ORG\n"
    "1996-08-22 CD I-NP O O\n"
    "\n"
    "Germany NNP I-NP I-LOC B-LOC\n"
    "France NNP I-NP B-LOC B-LOC\n"
    "and CC O O O\n"
    "The DT I-NP O O\n"
    "European NNP I-NP I-ORG I-ORG\n"
    "Commission NNP I-NP I-ORG I-ORG\n"
    "met VBD I-VP O O\n"
    "mad JJ I-NP O B-MISC\n"
    "cow NN I-NP O I-MISC\n"
    "sheep NN I-NP O O\n";

/* ptune score's line for predictions file `pred` (gold from `data`, or
 * from the file's next-to-last column when data is NULL), parsed. */
static json_t *score_line(const char *data, const char *pred, const task_opts *o) {
  char *line = NULL;
  ck_assert_msg(task_score_file(task_find("ner"), o, data, pred, &line) == PT_OK, "%s",
                pt_error_message());
  json_error_t e;
  json_t *j = json_loads(line, 0, &e);
  ck_assert_msg(j != NULL, "%s", e.text);
  free(line);
  return j;
}

static double num(const json_t *j, const char *k1, const char *k2) {
  const json_t *v = json_object_get(j, k1);
  if (k2) v = json_object_get(v, k2);
  ck_assert_msg(json_is_number(v), "no number at %s %s", k1, k2 ? k2 : "");
  return json_number_value(v);
}

START_TEST(handmade_predictions_score_as_conlleval_counts) {
  const char *path = tmp_file("handmade.txt", handmade, -1);
  task_opts o = {0};
  json_t *j = score_line(NULL, path, &o);
  ck_assert_int_eq(num(j, "support", NULL), 8);
  ck_assert_int_eq(num(j, "predicted", NULL), 10);
  ck_assert_int_eq(num(j, "correct", NULL), 5);
  ck_assert_double_eq_tol(num(j, "precision", NULL), 0.5, 1e-12);
  ck_assert_double_eq_tol(num(j, "recall", NULL), 0.625, 1e-12);
  ck_assert_double_eq_tol(num(j, "f1", NULL), 5.0 / 9.0, 1e-9);
  ck_assert_double_eq_tol(num(j, "accuracy", NULL), 14.0 / 23.0, 1e-9);
  ck_assert_int_eq(num(j, "examples", NULL), 4);
  const struct {
    const char *type;
    int gold, guessed, right;
    double f1;
  } want[] = {{"LOC", 3, 2, 2, 0.8}, {"MISC", 2, 3, 1, 0.4}, {"ORG", 2, 3, 2, 0.8},
              {"PER", 1, 2, 0, 0.0}};
  const json_t *per = json_object_get(j, "per_type");
  ck_assert_int_eq(json_object_size(per), 4);
  for (int t = 0; t < 4; t++) {
    const json_t *r = json_object_get(per, want[t].type);
    ck_assert_msg(r != NULL, "no %s", want[t].type);
    ck_assert_int_eq(num(r, "support", NULL), want[t].gold);
    ck_assert_int_eq(num(r, "predicted", NULL), want[t].guessed);
    ck_assert_int_eq(num(r, "correct", NULL), want[t].right);
    ck_assert_double_eq_tol(num(r, "f1", NULL), want[t].f1, 1e-9);
  }
  json_decref(j);
  /* strict IOB2: a predicted entity must open with B-, so EU, British,
   * Peter, BRUSSELS and European Commission are not entities; left: MISC
   * German call, mad cow; PER Blackburn; LOC Germany, France (2 right) */
  o.ner_mode = NER_MODE_STRICT;
  j = score_line(NULL, path, &o);
  ck_assert_int_eq(num(j, "strict_support", NULL), 8);
  ck_assert_int_eq(num(j, "strict_predicted", NULL), 5);
  ck_assert_int_eq(num(j, "strict_correct", NULL), 2);
  ck_assert_double_eq_tol(num(j, "strict_f1", NULL), 2 * 0.4 * 0.25 / 0.65, 1e-9);
  ck_assert_str_eq(json_string_value(json_object_get(j, "scheme")), "IOB2");
  ck_assert_ptr_null(json_object_get(j, "f1"));
  json_decref(j);
  tmp_cleanup();
}
END_TEST

/* tests/fixtures/conlleval_cases.json (tests/tools/conlleval_reference.py):
 * 60 random predictions files in conlleval's format, IOB1 or IOB2 gold,
 * ill-formed predictions among them, with conlleval's chunk counts; ptune
 * score reading the gold from each file finds the same counts, overall and
 * per type. */
START_TEST(random_files_count_as_conlleval) {
  char path[4096];
  const char *fx = getenv("PT_FIXTURES");
  snprintf(path, sizeof path, "%s/conlleval_cases.json", fx ? fx : "tests/fixtures");
  json_error_t e;
  json_t *root = json_load_file(path, 0, &e);
  ck_assert_msg(root != NULL, "%s: %s", path, e.text);
  const json_t *cases = json_object_get(root, "cases");
  ck_assert_int_eq(json_array_size(cases), 60);
  size_t c;
  const json_t *k;
  task_opts o = {0};
  json_array_foreach(cases, c, k) {
    json_t *j = score_line(NULL, tmp_file("case.txt", json_string_value(json_object_get(k, "file")),
                                          -1), &o);
    ck_assert_msg(num(j, "support", NULL) == num(k, "phrases", NULL) &&
                      num(j, "predicted", NULL) == num(k, "found", NULL) &&
                      num(j, "correct", NULL) == num(k, "correct", NULL),
                  "case %zu: %g/%g/%g, conlleval %g/%g/%g", c, num(j, "support", NULL),
                  num(j, "predicted", NULL), num(j, "correct", NULL), num(k, "phrases", NULL),
                  num(k, "found", NULL), num(k, "correct", NULL));
    const char *type;
    const json_t *want;
    const json_t *per = json_object_get(j, "per_type");
    ck_assert_int_eq(json_object_size(per), json_object_size(json_object_get(k, "per_type")));
    json_object_foreach((json_t *)json_object_get(k, "per_type"), type, want) {
      const json_t *got = json_object_get(per, type);
      ck_assert_msg(got != NULL, "case %zu: no %s", c, type);
      ck_assert_int_eq(num(got, "support", NULL), json_integer_value(json_array_get(want, 0)));
      ck_assert_int_eq(num(got, "predicted", NULL), json_integer_value(json_array_get(want, 1)));
      ck_assert_int_eq(num(got, "correct", NULL), json_integer_value(json_array_get(want, 2)));
    }
    json_decref(j);
    tmp_cleanup();
  }
  json_decref(root);
}
END_TEST

/* The data as CoNLL text (IOB1 gold, -DOCSTART-), a prediction per word
 * written by write_ner_predictions, then scored with and without the data:
 * the same line, since the file's gold column is the IOB2 gold. */
START_TEST(written_predictions_hold_their_gold) {
  /* the hand-made file without its predicted column */
  char data[sizeof handmade];
  size_t k = 0;
  for (const char *l = handmade; *l;) {
    const char *nl = strchr(l, '\n'), *last = nl;
    while (last > l && last[-1] != ' ') last--;
    size_t keep = last > l ? (size_t)(last - 1 - l) : 0; /* up to the last column's space */
    memcpy(data + k, l, keep);
    k += keep;
    data[k++] = '\n';
    l = nl + 1;
  }
  data[k] = '\0';
  const char *dpath = tmp_file("data.conll", data, -1);
  const char *hpath = tmp_file("handmade.txt", handmade, -1);
  sentence_set gold, pred;
  ck_assert_int_eq(read_ner(dpath, NULL, &gold), PT_OK);
  ck_assert_int_eq(read_ner_columns(hpath, NULL, 1, true, &pred), PT_OK);
  char **tags[4];
  for (int i = 0; i < 4; i++) tags[i] = pred.sents[i].tags;
  char out[600];
  snprintf(out, sizeof out, "%s", tmp_file("written.txt", "", 0));
  ck_assert_int_eq(write_ner_predictions(&gold, tags, out), PT_OK);
  same_columns(slurp(out));
  task_opts o = {0};
  json_t *a = score_line(NULL, out, &o), *b = score_line(dpath, out, &o),
         *c = score_line(dpath, hpath, &o);
  ck_assert(json_equal(a, b));
  ck_assert(json_equal(a, c));
  ck_assert_int_eq(num(a, "correct", NULL), 5);
  json_decref(a);
  json_decref(b);
  json_decref(c);
  sentence_set_free(&gold);
  sentence_set_free(&pred);
  tmp_cleanup();
}
END_TEST

START_TEST(srl_jsonl_sample) {
  srl_set set;
  ck_assert_int_eq(read_srl(fixture("conll2005-srl/train.excerpt.jsonl"), NULL, &set), PT_OK);
  ck_assert_int_eq(set.n, 3);
  ck_assert(set.has_tags);
  const srl_example *e = &set.ex[0];
  ck_assert_int_eq(e->s.n, 49);
  ck_assert_int_eq(e->pred_index, 17);
  ck_assert_int_eq(e->n_pred_words, 1);
  ck_assert_int_eq(e->verb_mask[17], 1);
  ck_assert_int_eq(e->verb_mask[18], 0);
  ck_assert_str_eq(e->pred_word, "Revitalized");
  ck_assert_str_eq(e->s.tags[17], "B-V");
  ck_assert_str_eq(e->s.tags[18], "B-A1");
  ck_assert_int_eq(e->s.line, 1);
  label_map map;
  label_map_init(&map);
  ck_assert_int_eq(srl_map_labels(&set, &map, true), PT_OK);
  ck_assert_int_eq(set.ex[0].s.tag_ids[17], label_map_find(&map, "B-V"));
  label_map_free(&map);
  srl_set_free(&set);

  ck_assert_int_eq(read_srl(fixture("conll2005-srl/dev.line81.jsonl"), NULL, &set), PT_OK);
  ck_assert_int_eq(set.ex[0].pred_index, 20); /* "pull off" */
  ck_assert_int_eq(set.ex[0].n_pred_words, 2);
  ck_assert_int_eq(set.ex[0].verb_mask[21], 1);
  ck_assert_str_eq(set.ex[0].pred_word, "pull");
  ck_assert_str_eq(set.ex[0].s.tags[21], "I-V");
  srl_set_free(&set);

  ck_assert_int_eq(read_srl(fixture("conll2005-srl/train.line13.jsonl"), NULL, &set), PT_OK);
  ck_assert_int_eq(set.ex[0].pred_index, -1); /* no predicate in this sentence */
  ck_assert_int_eq(set.ex[0].n_pred_words, 0);
  ck_assert_ptr_null(set.ex[0].pred_word);
  srl_set_free(&set);

  /* a split predicate ("screwed things up", as in wsj-test.json line 96) */
  const char *p = tmp_file("split.jsonl",
                           "{\"tokens\": [\"They\", \"screwed\", \"things\", \"up\"],"
                           " \"verb_indicator\": [0, 1, 0, 1], \"tags\": [\"B-A0\", \"B-V\", \"B-A1\", \"B-C-V\"]}\n", -1);
  ck_assert_int_eq(read_srl(p, NULL, &set), PT_OK);
  ck_assert_int_eq(set.ex[0].pred_index, 1);
  ck_assert_int_eq(set.ex[0].n_pred_words, 2);
  ck_assert_int_eq(set.ex[0].verb_mask[2], 0);
  ck_assert_int_eq(set.ex[0].verb_mask[3], 1);
  srl_set_free(&set);
  tmp_cleanup();
}
END_TEST

static void srl_fails(const char *line, const char *rest) {
  const char *p = tmp_file("srl.jsonl", line, -1);
  srl_set set;
  ck_assert_int_ne(read_srl(p, NULL, &set), PT_OK);
  expect_msg(p, rest);
  ck_assert_ptr_null(set.ex);
}

START_TEST(bad_srl_input_is_reported_by_line) {
  srl_fails("{\"tokens\": [\"a\", \"b\"], \"verb_indicator\": [0, 1], \"tags\": [\"O\"]}\n",
            ":1: 'tags' has 1 entries for 2 tokens");
  srl_fails("{\"tokens\": [\"a\", \"b\"], \"tags\": [\"O\", \"B-V\"]}\n",
            ":1: 'verb_indicator' is missing");
  srl_fails("{\"tokens\": [\"a\", \"b\"], \"verb_indicator\": [0, 1], \"tags\": [\"B-A0\", \"O\"]}\n",
            ":1: the predicate 'b' (token 1) is tagged 'O', expected B-V");
  srl_fails("{\"tokens\": [\"a\"], \"verb_indicator\": [2], \"tags\": [\"O\"]}\n",
            ":1: verb_indicator[0] must be 0 or 1");
  srl_fails("{\"tokens\": [\"a\"], \"verb_indicator\": [1], \"tags\": [\"B-V\"]}\n"
            "{\"tokens\": [\"a\"], \"verb_indicator\": [1], \"tags\": [\"E-V\"]}\n",
            ":2: tag 0 must be O or B-/I- followed by a role, got E-V");
  srl_fails("", ": no predicate instances found (empty file?)");
  tmp_cleanup();
}
END_TEST

int main(void) {
  Suite *s = suite_create("conll");
  TCase *tc = tcase_create("ner");
  tcase_add_test(tc, schemes_convert_to_iob2);
  tcase_add_test(tc, conll2003_excerpt_reads_as_iob2);
  tcase_add_test(tc, conll04_json_bilou_reads_as_iob2);
  tcase_add_test(tc, spert_entities_and_jsonl);
  tcase_add_test(tc, bad_ner_input_is_reported_by_line);
  tcase_add_test(tc, unknown_dev_label_names_file_and_line);
  tcase_add_test(tc, unlabelled_input_when_allowed);
  tcase_add_test(tc, ner_predictions_file);
  tcase_add_test(tc, handmade_predictions_score_as_conlleval_counts);
  tcase_add_test(tc, written_predictions_hold_their_gold);
  tcase_add_test(tc, random_files_count_as_conlleval);
  suite_add_tcase(s, tc);
  TCase *srl = tcase_create("srl");
  tcase_add_test(srl, srl_jsonl_sample);
  tcase_add_test(srl, bad_srl_input_is_reported_by_line);
  suite_add_tcase(s, srl);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
