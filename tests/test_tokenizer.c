/* models/tokenizer: every line of the Hugging Face golden files (BERT cased,
 * BERT uncased, RoBERTa; tokens, ids, pair token_type_ids) must match, plus
 * offsets, word ids, pre-split words, truncation, padding, tokenizer.json,
 * tokenizer_config.json and the error cases. Reads only tests/fixtures
 * (PT_FIXTURES) and files it writes in a temp directory. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/pt_tokenizer.h"
#include "ptune.h"

static char tmp[256];

static void setup(void) {
  const char *base = getenv("TMPDIR");
  snprintf(tmp, sizeof tmp, "%s/pt_tok_XXXXXX", base ? base : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static const char *tmp_files[] = {"vocab.txt", "vocab.json", "merges.txt", "tokenizer.json",
                                  "tokenizer_config.json"};

static void clear_tmp(void) {
  char p[600];
  for (size_t i = 0; i < sizeof tmp_files / sizeof tmp_files[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", tmp, tmp_files[i]);
    unlink(p);
  }
}

static void teardown(void) {
  clear_tmp();
  rmdir(tmp);
}

static void write_tmp(const char *name, const char *text) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", tmp, name);
  FILE *fp = fopen(p, "w");
  ck_assert_ptr_nonnull(fp);
  fputs(text, fp);
  fclose(fp);
}

static pt_tokenizer *load_fixture(const char *name) {
  const char *root = getenv("PT_FIXTURES");
  ck_assert_msg(root != NULL, "PT_FIXTURES is not set");
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/vocab/%s", root, name);
  pt_tokenizer *tok = pt_tokenizer_load(dir);
  ck_assert_msg(tok != NULL, "%s", pt_error_message());
  return tok;
}

static void encode(const pt_tokenizer *tok, const char *a, const char *b,
                   const pt_encode_opts *o, pt_encoding *e) {
  pt_status st = pt_tokenizer_encode(tok, a, strlen(a), b, b ? strlen(b) : 0, o, e);
  ck_assert_msg(st == PT_OK, "%s", pt_error_message());
}

/* Compares the encoding's non-special tokens with a space-separated list. */
static void assert_tokens(const pt_encoding *e, const char *want) {
  char got[4096] = "";
  for (int64_t i = 0; i < e->n; i++) {
    if (e->special_mask[i]) continue;
    if (got[0]) strcat(got, " ");
    strcat(got, e->tokens[i]);
  }
  ck_assert_str_eq(got, want);
}

/* ---- golden parity ---------------------------------------------------- */

/* dir NULL: the fixture vocabulary of `name`. */
static int64_t check_golden(const char *name, const char *dir) {
  pt_tokenizer *tok = dir ? pt_tokenizer_load(dir) : load_fixture(name);
  ck_assert_msg(tok != NULL, "%s", pt_error_message());
  char path[1024];
  snprintf(path, sizeof path, "%s/tokenizer-golden/%s.jsonl", getenv("PT_FIXTURES"), name);
  FILE *fp = fopen(path, "rb");
  ck_assert_msg(fp != NULL, "cannot open %s", path);
  fseek(fp, 0, SEEK_END);
  long len = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  char *buf = malloc((size_t)len + 1);
  ck_assert_int_eq(fread(buf, 1, (size_t)len, fp), (size_t)len);
  fclose(fp);
  int64_t lines = 0, matched = 0;
  for (long i = 0; i < len;) { /* split on \n only (texts hold U+2028/U+0085) */
    long j = i;
    while (j < len && buf[j] != '\n') j++;
    if (j == i) {
      i = j + 1;
      continue;
    }
    lines++;
    json_error_t err;
    json_t *g = json_loadb(buf + i, (size_t)(j - i), JSON_ALLOW_NUL, &err);
    ck_assert_msg(g != NULL, "%s:%lld: %s", path, (long long)lines, err.text);
    json_t *t = json_object_get(g, "text"), *p = json_object_get(g, "text_pair");
    json_t *ids = json_object_get(g, "ids"), *toks = json_object_get(g, "tokens"),
           *types = json_object_get(g, "token_type_ids");
    pt_encoding e;
    ck_assert_int_eq(pt_tokenizer_encode(tok, json_string_value(t), json_string_length(t),
                                         p ? json_string_value(p) : NULL,
                                         p ? json_string_length(p) : 0, NULL, &e),
                     PT_OK);
    bool ok = (int64_t)json_array_size(ids) == e.n;
    for (int64_t k = 0; ok && k < e.n; k++)
      ok = json_integer_value(json_array_get(ids, (size_t)k)) == e.ids[k];
    if (ok && toks) {
      size_t q = 0;
      for (int64_t k = 0; ok && k < e.n; k++) {
        if (e.special_mask[k]) continue;
        json_t *s = json_array_get(toks, q++);
        ok = s && !strcmp(json_string_value(s), e.tokens[k]);
      }
      ok = ok && q == json_array_size(toks);
    }
    if (ok && types) {
      ok = (int64_t)json_array_size(types) == e.n;
      for (int64_t k = 0; ok && k < e.n; k++)
        ok = json_integer_value(json_array_get(types, (size_t)k)) == e.type_ids[k];
    }
    if (ok)
      matched++;
    else
      fprintf(stderr, "%s:%lld: mismatch\n", path, (long long)lines);
    pt_encoding_free(&e);
    json_decref(g);
    i = j + 1;
  }
  free(buf);
  pt_tokenizer_free(tok);
  printf("tokenizer golden %s: %lld/%lld lines match\n", name, (long long)matched,
         (long long)lines);
  ck_assert_int_eq(lines, 461);
  ck_assert_int_eq(matched, lines);
  return matched;
}

START_TEST(golden_bert_cased) { check_golden("bert-base-cased", NULL); }
END_TEST

START_TEST(golden_bert_uncased) { check_golden("bert-base-uncased", NULL); }
END_TEST

START_TEST(golden_roberta) { check_golden("roberta-base", NULL); }
END_TEST

/* The same vocabularies written as tokenizer.json files, laid out as HF's
 * fast tokenizers save them, must give the same golden results. */
static json_t *added_token(int64_t id, const char *content) {
  return json_pack("{s:I, s:s, s:b, s:b, s:b, s:b, s:b}", "id", (json_int_t)id, "content",
                   content, "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0,
                   "special", 1);
}

static void write_tokenizer_json(json_t *root) {
  char p[600];
  snprintf(p, sizeof p, "%s/tokenizer.json", tmp);
  ck_assert_int_eq(json_dump_file(root, p, JSON_INDENT(1)), 0);
  json_decref(root);
}

START_TEST(golden_through_tokenizer_json) {
  const char *root = getenv("PT_FIXTURES");
  char path[1024];
  for (int lower = 0; lower < 2; lower++) {
    const char *name = lower ? "bert-base-uncased" : "bert-base-cased";
    snprintf(path, sizeof path, "%s/vocab/%s/vocab.txt", root, name);
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    json_t *vocab = json_object();
    char line[1024];
    json_int_t id = 0;
    while (fgets(line, sizeof line, fp)) {
      line[strcspn(line, "\n")] = '\0';
      json_object_set_new(vocab, line, json_integer(id++));
    }
    fclose(fp);
    json_t *added = json_array();
    const char *sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++)
      json_array_append_new(added, added_token(json_integer_value(json_object_get(vocab, sp[i])),
                                               sp[i]));
    write_tokenizer_json(json_pack(
        "{s:s, s:n, s:n, s:o, s:{s:s, s:b, s:b, s:n, s:b}, s:{s:s}, s:{s:s, s:s, s:b},"
        " s:{s:s, s:s, s:s, s:i, s:o}}",
        "version", "1.0", "truncation", "padding", "added_tokens", added, "normalizer", "type",
        "BertNormalizer", "clean_text", 1, "handle_chinese_chars", 1, "strip_accents",
        "lowercase", lower, "pre_tokenizer", "type", "BertPreTokenizer", "decoder", "type",
        "WordPiece", "prefix", "##", "cleanup", 1, "model", "type", "WordPiece", "unk_token",
        "[UNK]", "continuing_subword_prefix", "##", "max_input_chars_per_word", 100, "vocab",
        vocab));
    check_golden(name, tmp);
  }

  snprintf(path, sizeof path, "%s/vocab/roberta-base/vocab.json", root);
  json_error_t err;
  json_t *vocab = json_load_file(path, 0, &err);
  ck_assert_ptr_nonnull(vocab);
  snprintf(path, sizeof path, "%s/vocab/roberta-base/merges.txt", root);
  FILE *fp = fopen(path, "r");
  ck_assert_ptr_nonnull(fp);
  json_t *merges = json_array();
  char line[1024];
  bool first = true;
  while (fgets(line, sizeof line, fp)) {
    line[strcspn(line, "\n")] = '\0';
    if (!first && line[0]) json_array_append_new(merges, json_string(line));
    first = false;
  }
  fclose(fp);
  json_t *added = json_array();
  const char *sp[] = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"};
  for (int i = 0; i < 5; i++)
    json_array_append_new(added, added_token(json_integer_value(json_object_get(vocab, sp[i])),
                                             sp[i]));
  write_tokenizer_json(json_pack(
      "{s:s, s:n, s:n, s:o, s:n, s:{s:s, s:b, s:b, s:b}, s:{s:s, s:b, s:b, s:b},"
      " s:{s:s, s:n, s:n, s:s, s:s, s:b, s:o, s:o}}",
      "version", "1.0", "truncation", "padding", "added_tokens", added, "normalizer",
      "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
      "use_regex", 1, "decoder", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 1,
      "use_regex", 1, "model", "type", "BPE", "dropout", "unk_token", "continuing_subword_prefix",
      "", "end_of_word_suffix", "", "fuse_unk", 0, "vocab", vocab, "merges", merges));
  check_golden("roberta-base", tmp);
}
END_TEST

/* ---- offsets and word ids --------------------------------------------- */

START_TEST(bert_offsets_and_word_ids) {
  pt_tokenizer *tok = load_fixture("bert-base-cased");
  ck_assert(!pt_tokenizer_lowercase(tok));
  ck_assert_int_eq(pt_tokenizer_kind_of(tok), PT_TOK_WORDPIECE);
  pt_encoding e;
  const char *text = "Hello, w\xc3\xb6rld! \xc4\xb0stanbul"; /* "Hello, wörld! İstanbul" */
  encode(tok, text, NULL, NULL, &e);
  assert_tokens(&e, "Hello , w ##\xc3\xb6 ##rl ##d ! \xc4\xb0 ##stan ##bul");
  ck_assert_int_eq(e.n, 12);
  const int64_t chars[] = {0, 0,  0, 5,  5, 6,  7, 8,   8, 9,   9, 11,
                           11, 12, 12, 13, 14, 15, 15, 19, 19, 22, 0, 0};
  const int64_t bytes[] = {0, 0,  0, 5,  5, 6,  7, 8,   8, 10,  10, 12,
                           12, 13, 13, 14, 15, 17, 17, 21, 21, 24, 0, 0};
  const int64_t words[] = {-1, 0, 1, 2, 2, 2, 2, 3, 4, 4, 4, -1};
  for (int64_t i = 0; i < e.n; i++) {
    ck_assert_int_eq(e.char_offsets[2 * i], chars[2 * i]);
    ck_assert_int_eq(e.char_offsets[2 * i + 1], chars[2 * i + 1]);
    ck_assert_int_eq(e.byte_offsets[2 * i], bytes[2 * i]);
    ck_assert_int_eq(e.byte_offsets[2 * i + 1], bytes[2 * i + 1]);
    ck_assert_int_eq(e.word_ids[i], words[i]);
    ck_assert_int_eq(e.seq_ids[i], i == 0 || i == e.n - 1 ? -1 : 0);
    ck_assert_int_eq(e.attention_mask[i], 1);
  }
  /* an offset span cut from the text gives back the token's characters */
  ck_assert_int_eq(e.byte_offsets[2 * 9 + 1] - e.byte_offsets[2 * 9], 4);
  ck_assert_int_eq(memcmp(text + e.byte_offsets[2 * 9], "stan", 4), 0);
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);

  /* uncased: İ lower-cases to i + U+0307, whose mark NFD strips: one token
   * covering the whole word */
  tok = load_fixture("bert-base-uncased");
  ck_assert(pt_tokenizer_lowercase(tok));
  encode(tok, "\xc4\xb0stanbul Caf\xc3\xa9", NULL, NULL, &e);
  assert_tokens(&e, "istanbul cafe");
  ck_assert_int_eq(e.char_offsets[2], 0);
  ck_assert_int_eq(e.char_offsets[3], 8);
  ck_assert_int_eq(e.byte_offsets[3], 9);
  ck_assert_int_eq(e.char_offsets[4], 9);
  ck_assert_int_eq(e.char_offsets[5], 13);
  ck_assert_int_eq(e.byte_offsets[5], 15);
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);
}
END_TEST

START_TEST(roberta_offsets_and_word_ids) {
  pt_tokenizer *tok = load_fixture("roberta-base");
  ck_assert_int_eq(pt_tokenizer_kind_of(tok), PT_TOK_BPE);
  ck_assert_int_eq(pt_tokenizer_cls_id(tok), 0);
  ck_assert_int_eq(pt_tokenizer_pad_id(tok), 1);
  ck_assert_int_eq(pt_tokenizer_sep_id(tok), 2);
  ck_assert_int_eq(pt_tokenizer_unk_id(tok), 3);
  ck_assert_int_eq(pt_tokenizer_mask_id(tok), 50264);
  pt_encoding e;
  /* "Hello world 😀x": the emoji is two byte-level tokens, both covering it;
   * offsets leave out the leading space ("Ġworld" is 6..11) */
  encode(tok, "Hello world \xf0\x9f\x98\x80x", NULL, NULL, &e);
  assert_tokens(&e, "Hello \xc4\xa0world \xc4\xa0\xc3\xb0\xc5\x81\xc4\xba \xc4\xa2 x");
  const int64_t chars[] = {0, 0, 0, 5, 6, 11, 12, 13, 12, 13, 13, 14, 0, 0};
  const int64_t words[] = {-1, 0, 1, 2, 2, 3, -1};
  ck_assert_int_eq(e.n, 7);
  for (int64_t i = 0; i < e.n; i++) {
    ck_assert_int_eq(e.char_offsets[2 * i], chars[2 * i]);
    ck_assert_int_eq(e.char_offsets[2 * i + 1], chars[2 * i + 1]);
    ck_assert_int_eq(e.word_ids[i], words[i]);
  }
  ck_assert_int_eq(e.byte_offsets[2 * 3], 12);
  ck_assert_int_eq(e.byte_offsets[2 * 3 + 1], 16);
  ck_assert_int_eq(e.byte_offsets[2 * 5], 16);
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);
}
END_TEST

START_TEST(split_words_for_ner) {
  const char *words[] = {"EU", "rejects", "German", "call", "."};
  pt_tokenizer *tok = load_fixture("bert-base-cased");
  pt_encoding e;
  ck_assert_int_eq(pt_tokenizer_encode_words(tok, words, 5, NULL, &e), PT_OK);
  assert_tokens(&e, "EU rejects German call .");
  for (int64_t i = 1; i + 1 < e.n; i++) ck_assert_int_eq(e.word_ids[i], i - 1);
  ck_assert_int_eq(e.word_ids[0], -1);
  ck_assert_int_eq(e.word_ids[e.n - 1], -1);
  pt_encoding_free(&e);
  /* a word split in pieces keeps its index; offsets are within the word */
  const char *w2[] = {"Zürich", "x"};
  ck_assert_int_eq(pt_tokenizer_encode_words(tok, w2, 2, NULL, &e), PT_OK);
  assert_tokens(&e, "Z\xc3\xbcrich x");
  ck_assert_int_eq(e.word_ids[1], 0);
  ck_assert_int_eq(e.word_ids[2], 1);
  ck_assert_int_eq(e.char_offsets[4], 0);
  ck_assert_int_eq(e.char_offsets[5], 1);
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);

  /* RoBERTa puts a space before every word (HF requires add_prefix_space) */
  tok = load_fixture("roberta-base");
  const char *w3[] = {"Hello", "world", "isn't"};
  ck_assert_int_eq(pt_tokenizer_encode_words(tok, w3, 3, NULL, &e), PT_OK);
  assert_tokens(&e, "ĠHello Ġworld Ġisn 't");
  ck_assert_int_eq(e.ids[1], 20920);
  const int64_t wid[] = {-1, 0, 1, 2, 2, -1};
  for (int64_t i = 0; i < e.n; i++) ck_assert_int_eq(e.word_ids[i], wid[i]);
  ck_assert_int_eq(e.char_offsets[2], 0); /* "ĠHello" -> 0..5 of "Hello" */
  ck_assert_int_eq(e.char_offsets[3], 5);
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);
}
END_TEST

/* Words of a text (pt_text_words): splits and spans by hand, then, over
 * every golden text without control characters, the words re-encoded as
 * pre-split words give BERT the ids of the text itself (the basic tokenizer
 * splits as pt_text_words does). */
START_TEST(text_words_split_as_bert_does) {
  pt_text_span *w;
  int64_t n;
  const char *text = "U.S. cars,  Z\xc3\xbcrich\t\xe4\xb8\xad\xe6\x96\x87!";
  ck_assert_int_eq(pt_text_words(text, strlen(text), &w, &n), PT_OK);
  const char *want[] = {"U", ".", "S", ".", "cars", ",", "Z\xc3\xbcrich", "\xe4\xb8\xad",
                        "\xe6\x96\x87", "!"};
  const int64_t chars[][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {5, 9}, {9, 10}, {12, 18},
                              {19, 20}, {20, 21}, {21, 22}};
  ck_assert_int_eq(n, 10);
  for (int64_t i = 0; i < n; i++) {
    size_t len = (size_t)(w[i].byte_end - w[i].byte_start);
    ck_assert_msg(len == strlen(want[i]) && !memcmp(text + w[i].byte_start, want[i], len),
                  "word %lld", (long long)i);
    ck_assert_int_eq(w[i].char_start, chars[i][0]);
    ck_assert_int_eq(w[i].char_end, chars[i][1]);
  }
  free(w);
  ck_assert_int_eq(pt_text_words(" \t\n ", 4, &w, &n), PT_OK);
  ck_assert_int_eq(n, 0);
  ck_assert_ptr_null(w);
  ck_assert_int_eq(pt_text_words("a\xff" "b", 3, &w, &n), PT_OK); /* U+FFFD is a symbol, kept */
  ck_assert_int_eq(n, 1);
  ck_assert_int_eq(w[0].byte_end, 3);
  free(w);

  static const char *const names[] = {"bert-base-cased", "bert-base-uncased"};
  for (int t = 0; t < 2; t++) {
    pt_tokenizer *tok = load_fixture(names[t]);
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer-golden/%s.jsonl", getenv("PT_FIXTURES"), names[t]);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[65536];
    int compared = 0;
    while (fgets(line, sizeof line, f)) {
      json_t *g = json_loads(line, JSON_ALLOW_NUL, NULL);
      const json_t *jt = json_object_get(g, "text");
      const char *s = json_string_value(jt);
      size_t len = json_string_length(jt);
      bool plain = !json_object_get(g, "text_pair") && strlen(s) == len;
      for (size_t i = 0; plain && i < len; i++)
        plain = (unsigned char)s[i] >= 0x20 || s[i] == ' ' || s[i] == '\t' || s[i] == '\n';
      plain = plain && !strstr(s, "\xef\xbf\xbd") && !strstr(s, "\xc2\x85") && !strchr(s, '[');
      if (plain) {
        ck_assert_int_eq(pt_text_words(s, len, &w, &n), PT_OK);
        char **words = calloc((size_t)(n ? n : 1), sizeof *words);
        for (int64_t i = 0; i < n; i++)
          words[i] = strndup(s + w[i].byte_start, (size_t)(w[i].byte_end - w[i].byte_start));
        pt_encoding a, b;
        ck_assert_int_eq(pt_tokenizer_encode(tok, s, len, NULL, 0, NULL, &a), PT_OK);
        ck_assert_int_eq(pt_tokenizer_encode_words(tok, (const char *const *)words, n, NULL, &b),
                         PT_OK);
        ck_assert_msg(a.n == b.n && !memcmp(a.ids, b.ids, sizeof(int64_t) * (size_t)a.n),
                      "%s: the words of '%s' encode differently", names[t], s);
        compared++;
        pt_encoding_free(&a);
        pt_encoding_free(&b);
        for (int64_t i = 0; i < n; i++) free(words[i]);
        free(words);
        free(w);
      }
      json_decref(g);
    }
    fclose(f);
    printf("text words: %d golden %s texts re-encode identically\n", compared, names[t]);
    ck_assert_int_gt(compared, 300);
    pt_tokenizer_free(tok);
  }
}
END_TEST

/* ---- truncation and padding ------------------------------------------- */

START_TEST(truncation_and_padding) {
  pt_tokenizer *tok = load_fixture("bert-base-uncased");
  pt_encoding e;
  /* a: 6 tokens, b: 3 tokens; 12 in all with the 3 specials */
  const char *a = "one two three four five six", *b = "seven eight nine";
  pt_encode_opts o = {.max_length = 8, .truncation = PT_TRUNC_LONGEST_FIRST};
  encode(tok, a, b, &o, &e);
  ck_assert_int_eq(e.n, 8);
  ck_assert_int_eq(e.n_truncated, 4);
  assert_tokens(&e, "one two three seven eight"); /* 6,3 -> 3,3 -> 3,2 */
  const int64_t types[] = {0, 0, 0, 0, 0, 1, 1, 1};
  for (int i = 0; i < 8; i++) ck_assert_int_eq(e.type_ids[i], types[i]);
  ck_assert_int_eq(e.ids[4], pt_tokenizer_sep_id(tok));
  ck_assert_int_eq(e.ids[7], pt_tokenizer_sep_id(tok));
  pt_encoding_free(&e);

  o.truncation = PT_TRUNC_ONLY_SECOND;
  o.max_length = 10;
  encode(tok, a, b, &o, &e);
  assert_tokens(&e, "one two three four five six seven");
  pt_encoding_free(&e);
  o.max_length = 8; /* would need 4 from a 3-token second segment */
  ck_assert_int_eq(pt_tokenizer_encode(tok, a, strlen(a), b, strlen(b), &o, &e), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "only_second"));
  ck_assert_ptr_null(e.ids);
  o.max_length = 6; /* a single text over the limit: only_second has no pair */
  ck_assert_int_eq(pt_tokenizer_encode(tok, a, strlen(a), NULL, 0, &o, &e), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "pair"));
  o.max_length = 8;
  o.truncation = PT_TRUNC_ONLY_FIRST;
  encode(tok, a, b, &o, &e);
  assert_tokens(&e, "one two seven eight nine");
  pt_encoding_free(&e);
  o.truncation = PT_TRUNC_LONGEST_FIRST;
  o.max_length = 2; /* cannot hold [CLS] [SEP] [SEP] */
  ck_assert_int_eq(pt_tokenizer_encode(tok, a, strlen(a), b, strlen(b), &o, &e), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "max_length"));

  pt_encode_opts one = {.max_length = 2, .truncation = PT_TRUNC_LONGEST_FIRST};
  ck_assert_int_eq(pt_tokenizer_encode(tok, a, strlen(a), NULL, 0, &one, &e), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "only 6"));
  one.max_length = 3;
  encode(tok, a, NULL, &one, &e);
  assert_tokens(&e, "one");
  pt_encoding_free(&e);

  /* single text truncated, then padding */
  pt_encode_opts p = {.max_length = 5, .truncation = PT_TRUNC_LONGEST_FIRST,
                      .pad_to_max_length = true};
  encode(tok, a, NULL, &p, &e);
  assert_tokens(&e, "one two three");
  pt_encoding_free(&e);
  p.max_length = 10;
  encode(tok, "one two", NULL, &p, &e);
  ck_assert_int_eq(e.n, 10);
  for (int i = 0; i < 10; i++) {
    ck_assert_int_eq(e.attention_mask[i], i < 4);
    ck_assert_int_eq(e.type_ids[i], 0);
    if (i >= 4) {
      ck_assert_int_eq(e.ids[i], 0);
      ck_assert_str_eq(e.tokens[i], "[PAD]");
      ck_assert_int_eq(e.word_ids[i], -1);
      ck_assert_int_eq(e.special_mask[i], 1);
    }
  }
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);

  /* RoBERTa pair layout: <s> A </s></s> B </s>, all types 0, padding id 1 */
  tok = load_fixture("roberta-base");
  pt_encode_opts r = {.max_length = 12, .truncation = PT_TRUNC_LONGEST_FIRST,
                      .pad_to_max_length = true};
  encode(tok, "Hi there", "Bye", &r, &e);
  const int64_t want[] = {0, 30086, 89, 2, 2, 2765, 242, 2, 1, 1, 1, 1}; /* Bye = By e */
  for (int i = 0; i < 12; i++) {
    ck_assert_int_eq(e.ids[i], want[i]);
    ck_assert_int_eq(e.type_ids[i], 0);
    ck_assert_int_eq(e.attention_mask[i], i < 8);
  }
  ck_assert_int_eq(e.seq_ids[5], 1);
  pt_encoding_free(&e);
  pt_encode_opts ns = {.no_special_tokens = true};
  encode(tok, "Hi there", NULL, &ns, &e);
  ck_assert_int_eq(e.n, 2);
  ck_assert_int_eq(e.ids[0], 30086);
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);
}
END_TEST

/* ---- bad input text ---------------------------------------------------- */

START_TEST(invalid_utf8_and_nul) {
  pt_tokenizer *tok = load_fixture("bert-base-cased");
  pt_encoding e, f;
  /* BERT: decoded with errors=replace, and U+FFFD is dropped by cleaning */
  encode(tok, "ab\xff\xfe" "cd \xe2\x82 x \xf0\x9f", NULL, NULL, &e);
  encode(tok, "abcd  x ", NULL, NULL, &f);
  ck_assert_int_eq(e.n, f.n);
  for (int64_t i = 0; i < e.n; i++) ck_assert_int_eq(e.ids[i], f.ids[i]);
  pt_encoding_free(&e);
  pt_encoding_free(&f);
  /* U+0000 inside the text is dropped too */
  ck_assert_int_eq(pt_tokenizer_encode(tok, "a\0b", 3, NULL, 0, NULL, &e), PT_OK);
  encode(tok, "ab", NULL, NULL, &f);
  ck_assert_int_eq(e.n, f.n);
  for (int64_t i = 0; i < e.n; i++) ck_assert_int_eq(e.ids[i], f.ids[i]);
  pt_encoding_free(&e);
  pt_encoding_free(&f);
  pt_tokenizer_free(tok);

  /* RoBERTa: each maximal invalid subpart is one U+FFFD (EF BF BD) */
  tok = load_fixture("roberta-base");
  encode(tok, "a\xff\xe2\x82" "b", NULL, NULL, &e);
  encode(tok, "a\xef\xbf\xbd\xef\xbf\xbd" "b", NULL, NULL, &f);
  ck_assert_int_eq(e.n, f.n);
  for (int64_t i = 0; i < e.n; i++) ck_assert_int_eq(e.ids[i], f.ids[i]);
  pt_encoding_free(&e);
  pt_encoding_free(&f);
  pt_tokenizer_free(tok);
}
END_TEST

/* ---- tokenizer.json and tokenizer_config.json --------------------------- */

START_TEST(small_vocab_and_config) {
  write_tmp("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##s\nHello\n,\n");
  pt_tokenizer *tok = pt_tokenizer_load(tmp);
  ck_assert_msg(tok != NULL, "%s", pt_error_message());
  ck_assert(!pt_tokenizer_lowercase(tok)); /* "Hello": cased */
  ck_assert_int_eq(pt_tokenizer_vocab_size(tok), 8);
  ck_assert_int_eq(pt_tokenizer_token_id(tok, "##s"), 5);
  ck_assert_str_eq(pt_tokenizer_id_to_token(tok, 4), "hello");
  ck_assert_ptr_null(pt_tokenizer_id_to_token(tok, 8));
  ck_assert_int_eq(pt_tokenizer_mask_id(tok), -1);
  pt_encoding e;
  encode(tok, "Hellos, HELLO", NULL, NULL, &e);
  assert_tokens(&e, "Hello ##s , [UNK]");
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);

  write_tmp("tokenizer_config.json",
            "{\"do_lower_case\": true, \"model_max_length\": 1000000000000000019884624838656,"
            " \"unk_token\": {\"content\": \"[UNK]\", \"lstrip\": false}}");
  tok = pt_tokenizer_load(tmp);
  ck_assert_ptr_nonnull(tok);
  ck_assert(pt_tokenizer_lowercase(tok));
  ck_assert_int_eq(pt_tokenizer_model_max_length(tok), 0); /* the 1e30 placeholder */
  encode(tok, "H\xc3\xa9llos, HELLO", NULL, NULL, &e);
  assert_tokens(&e, "hello ##s , hello");
  pt_encoding_free(&e);
  pt_tokenizer_set_lowercase(tok, false);
  encode(tok, "HELLO", NULL, NULL, &e);
  assert_tokens(&e, "[UNK]");
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);

  write_tmp("tokenizer_config.json", "{\"model_max_length\": 512}");
  tok = pt_tokenizer_load(tmp);
  ck_assert_ptr_nonnull(tok);
  ck_assert_int_eq(pt_tokenizer_model_max_length(tok), 512);
  pt_tokenizer_free(tok);

  write_tmp("tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
  ck_assert_ptr_null(pt_tokenizer_load(tmp));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "do_lower_case"));
  write_tmp("tokenizer_config.json", "{\"do_lower_case\": ");
  ck_assert_ptr_null(pt_tokenizer_load(tmp));
  ck_assert_int_eq(pt_error_code(), PT_ERR_FORMAT);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "tokenizer_config.json:"));
}
END_TEST

START_TEST(tokenizer_json_formats) {
  write_tmp("tokenizer.json",
            "{\"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
            " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\","
            " \"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 100,"
            " \"vocab\": {\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2, \"[SEP]\": 3, \"play\": 4,"
            " \"##ing\": 5, \"!\": 6}}}");
  pt_tokenizer *tok = pt_tokenizer_load(tmp);
  ck_assert_msg(tok != NULL, "%s", pt_error_message());
  ck_assert_int_eq(pt_tokenizer_kind_of(tok), PT_TOK_WORDPIECE);
  pt_encoding e;
  encode(tok, "PLAYING!", NULL, NULL, &e);
  const int64_t want[] = {2, 4, 5, 6, 3};
  ck_assert_int_eq(e.n, 5);
  for (int i = 0; i < 5; i++) ck_assert_int_eq(e.ids[i], want[i]);
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);

  /* byte-level BPE, merges as strings and as pairs, specials from
   * added_tokens */
  write_tmp("tokenizer.json",
            "{\"added_tokens\": [{\"id\": 0, \"content\": \"<s>\"}, {\"id\": 1, \"content\": "
            "\"<pad>\"}, {\"id\": 2, \"content\": \"</s>\"}, {\"id\": 3, \"content\": \"<unk>\"}],"
            " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
            " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 4, \"b\": 5, \"ab\": 6,"
            " \"\\u0120\": 7, \"\\u0120ab\": 8, \"\\u0120a\": 9},"
            " \"merges\": [\"a b\", [\"\\u0120\", \"ab\"], \"\\u0120 a\"]}}");
  tok = pt_tokenizer_load(tmp);
  ck_assert_msg(tok != NULL, "%s", pt_error_message());
  ck_assert_int_eq(pt_tokenizer_kind_of(tok), PT_TOK_BPE);
  encode(tok, "ab ab", NULL, NULL, &e);
  const int64_t want2[] = {0, 6, 8, 2};
  ck_assert_int_eq(e.n, 4);
  for (int i = 0; i < 4; i++) ck_assert_int_eq(e.ids[i], want2[i]);
  pt_encoding_free(&e);
  pt_tokenizer_set_add_prefix_space(tok, true);
  encode(tok, "ab", NULL, NULL, &e);
  ck_assert_int_eq(e.n, 3);
  ck_assert_int_eq(e.ids[1], 8);
  ck_assert_int_eq(e.char_offsets[2], 0);
  ck_assert_int_eq(e.char_offsets[3], 2);
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);

  write_tmp("tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
  ck_assert_ptr_null(pt_tokenizer_load(tmp));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "Unigram"));
  write_tmp("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": \"x\"}}}");
  ck_assert_ptr_null(pt_tokenizer_load(tmp));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "integer"));
  write_tmp("tokenizer.json", "{\"model\": [1, 2");
  ck_assert_ptr_null(pt_tokenizer_load(tmp));
  ck_assert_int_eq(pt_error_code(), PT_ERR_FORMAT);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "tokenizer.json:"));
}
END_TEST

/* ---- loading errors ---------------------------------------------------- */

START_TEST(load_errors) {
  ck_assert_ptr_null(pt_tokenizer_load("/nonexistent/ptune-tokenizer"));
  ck_assert_int_eq(pt_error_code(), PT_ERR_IO);
  ck_assert_ptr_null(strchr(pt_error_message(), '\n'));

  ck_assert_ptr_null(pt_tokenizer_load(tmp)); /* empty directory */
  ck_assert_int_eq(pt_error_code(), PT_ERR_IO);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "no tokenizer files"));

  const char *missing[][2] = {{"[CLS]\n[SEP]\nx\n", "[UNK]"},
                              {"[UNK]\n[SEP]\nx\n", "[CLS]"},
                              {"[UNK]\n[CLS]\nx\n", "[SEP]"}};
  for (int i = 0; i < 3; i++) {
    write_tmp("vocab.txt", missing[i][0]);
    ck_assert_ptr_null(pt_tokenizer_load(tmp));
    ck_assert_int_eq(pt_error_code(), PT_ERR_FORMAT);
    ck_assert_msg(strstr(pt_error_message(), missing[i][1]) != NULL, "%s", pt_error_message());
  }
  write_tmp("vocab.txt", "[UNK]\n[CLS]\n[SEP]\n\xff\xfe\n");
  ck_assert_ptr_null(pt_tokenizer_load(tmp));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "UTF-8"));
  clear_tmp();

  write_tmp("vocab.json", "{\"<s>\": 0, \"</s>\": 2, \"<unk>\": 3}");
  ck_assert_ptr_null(pt_tokenizer_load(tmp));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "merges.txt"));
  write_tmp("merges.txt", "#version: 0.2\na b\n");
  ck_assert_ptr_null(pt_tokenizer_load(tmp));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "<pad>"));
  write_tmp("vocab.json", "{\"<s>\": 0, \"<pad>\": 1, \"</s>\": 2, \"<unk>\": -3}");
  ck_assert_ptr_null(pt_tokenizer_load(tmp));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "out of range"));
  write_tmp("vocab.json", "{\"<s>\": 0, \"<pad>\": 1,");
  ck_assert_ptr_null(pt_tokenizer_load(tmp));
  ck_assert_int_eq(pt_error_code(), PT_ERR_FORMAT);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "vocab.json:"));
  write_tmp("vocab.json", "[1, 2]");
  ck_assert_ptr_null(pt_tokenizer_load(tmp));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "object"));
  write_tmp("vocab.json", "{\"<s>\": 0, \"<pad>\": 1, \"</s>\": 2, \"<unk>\": 3}");
  write_tmp("merges.txt", "#version: 0.2\n");
  ck_assert_ptr_null(pt_tokenizer_load(tmp));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "no merges"));
  write_tmp("merges.txt", "#version: 0.2\na b\n");
  pt_tokenizer *tok = pt_tokenizer_load(tmp);
  ck_assert_msg(tok != NULL, "%s", pt_error_message());
  pt_encoding e;
  encode(tok, "ab", NULL, NULL, &e); /* "ab" is not in the vocabulary: <unk> */
  ck_assert_int_eq(e.n, 3);
  ck_assert_int_eq(e.ids[1], 3);
  ck_assert_str_eq(e.tokens[1], "ab");
  pt_encoding_free(&e);
  pt_encoding_free(&e); /* a zeroed encoding is fine to free again */
  pt_tokenizer_free(tok);
  pt_tokenizer_free(NULL);
}
END_TEST

/* Special tokens written in the text stay whole, as HF's slow tokenizers
 * split on them before tokenizing. */
START_TEST(special_tokens_in_text) {
  pt_tokenizer *tok = load_fixture("bert-base-uncased");
  pt_encoding e;
  encode(tok, "Hello [MASK] world[SEP]x [mask]", NULL, NULL, &e);
  assert_tokens(&e, "hello [MASK] world [SEP] x [ mask ]");
  ck_assert_int_eq(e.ids[2], 103);
  ck_assert_int_eq(e.special_mask[2], 0);
  ck_assert_int_eq(e.char_offsets[4], 6);
  ck_assert_int_eq(e.char_offsets[5], 12);
  ck_assert_int_eq(e.word_ids[2], 1);
  ck_assert_int_eq(e.word_ids[3], 2);
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);

  tok = load_fixture("roberta-base");
  encode(tok, "Hello <mask> world</s>x <s>", NULL, NULL, &e);
  assert_tokens(&e, "Hello <mask> Ġworld </s> x Ġ <s>"); /* <mask> eats the space before */
  ck_assert_int_eq(e.ids[2], 50264);
  pt_encoding_free(&e);
  pt_tokenizer_set_add_prefix_space(tok, true);
  encode(tok, "<s>hi", NULL, NULL, &e); /* HF: " <s>hi" -> "Ġ" "<s>" "hi" */
  assert_tokens(&e, "Ġ <s> hi");
  pt_encoding_free(&e);
  encode(tok, "<mask>hi", NULL, NULL, &e); /* <mask> strips that space away */
  assert_tokens(&e, "<mask> hi");
  pt_encoding_free(&e);
  pt_tokenizer_free(tok);
}
END_TEST

/* Random bytes (mostly invalid UTF-8) never fail or crash, and every offset
 * lies inside the text, in order, on the decoded characters. */
START_TEST(random_bytes_are_safe) {
  const char *names[] = {"bert-base-cased", "bert-base-uncased", "roberta-base"};
  uint64_t x = 88172645463325252ull;
  for (int m = 0; m < 3; m++) {
    pt_tokenizer *tok = load_fixture(names[m]);
    for (int r = 0; r < 200; r++) {
      char buf[64];
      size_t len = 0;
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      len = x % sizeof buf;
      for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        /* bias towards ASCII letters, spaces and UTF-8 lead/continuation bytes */
        unsigned v = (unsigned)(x >> 24) & 0xFF;
        buf[i] = (char)(v < 64 ? 'a' + v % 26 : v < 80 ? ' ' : v);
      }
      pt_encoding e;
      pt_encode_opts o = {.max_length = 16, .truncation = PT_TRUNC_LONGEST_FIRST,
                          .pad_to_max_length = true};
      ck_assert_int_eq(pt_tokenizer_encode(tok, buf, len, buf, len / 2, &o, &e), PT_OK);
      ck_assert_int_eq(e.n, 16);
      for (int64_t i = 0; i < e.n; i++) {
        ck_assert(e.ids[i] >= 0 && e.ids[i] < pt_tokenizer_vocab_size(tok));
        int64_t b0 = e.byte_offsets[2 * i], b1 = e.byte_offsets[2 * i + 1];
        int64_t c0 = e.char_offsets[2 * i], c1 = e.char_offsets[2 * i + 1];
        ck_assert(0 <= b0 && b0 <= b1 && b1 <= (int64_t)len);
        ck_assert(0 <= c0 && c0 <= c1 && c1 <= (int64_t)len);
        ck_assert_ptr_nonnull(e.tokens[i]);
      }
      pt_encoding_free(&e);
    }
    pt_tokenizer_free(tok);
  }
}
END_TEST

/* Encoding from several threads at once (a data loader's OpenMP loop) gives
 * the serial results: lookups are read-only and the BPE cache is locked. */
START_TEST(parallel_encode_matches_serial) {
  pt_tokenizer *tok = load_fixture("roberta-base");
  enum { N = 64 };
  char texts[N][96];
  int64_t want[N][40], got[N][40], nw[N], ng[N];
  for (int i = 0; i < N; i++)
    snprintf(texts[i], sizeof texts[i], "Sentence %d: the café's %d-th visitor isn't here%s", i,
             i * 7919 % 1000, i % 3 ? "!" : " \xe2\x80\x94 really?");
  for (int i = 0; i < N; i++) {
    pt_encoding e;
    encode(tok, texts[i], NULL, NULL, &e);
    ck_assert_int_le(e.n, 40);
    nw[i] = e.n;
    memcpy(want[i], e.ids, (size_t)e.n * sizeof(int64_t));
    pt_encoding_free(&e);
  }
  pt_tokenizer_free(tok);
  tok = load_fixture("roberta-base"); /* a cold cache, filled concurrently */
  int failures = 0;
#pragma omp parallel for num_threads(2) reduction(+ : failures)
  for (int i = 0; i < N; i++) {
    pt_encoding e;
    if (pt_tokenizer_encode(tok, texts[i], strlen(texts[i]), NULL, 0, NULL, &e) != PT_OK ||
        e.n > 40) {
      failures++;
      ng[i] = 0;
    } else {
      ng[i] = e.n;
      memcpy(got[i], e.ids, (size_t)e.n * sizeof(int64_t));
    }
    pt_encoding_free(&e);
  }
  ck_assert_int_eq(failures, 0);
  for (int i = 0; i < N; i++) {
    ck_assert_int_eq(ng[i], nw[i]);
    for (int64_t k = 0; k < nw[i]; k++) ck_assert_int_eq(got[i][k], want[i][k]);
  }
  pt_tokenizer_free(tok);
}
END_TEST

/* The word cache gives the same answer as a fresh computation. */
START_TEST(bpe_cache_consistent) {
  pt_tokenizer *tok = load_fixture("roberta-base");
  const char *t = "The quick brown fox jumps over the lazy dog's back, isn't it?";
  pt_encoding a, b;
  encode(tok, t, NULL, NULL, &a);
  encode(tok, t, NULL, NULL, &b);
  ck_assert_int_eq(a.n, b.n);
  for (int64_t i = 0; i < a.n; i++) ck_assert_int_eq(a.ids[i], b.ids[i]);
  assert_tokens(&a, "The Ġquick Ġbrown Ġfox Ġjumps Ġover Ġthe Ġlazy Ġdog 's Ġback , Ġisn 't Ġit ?");
  pt_encoding_free(&a);
  pt_encoding_free(&b);
  pt_tokenizer_free(tok);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tokenizer");
  TCase *golden = tcase_create("golden");
  tcase_add_test(golden, golden_bert_cased);
  tcase_add_test(golden, golden_bert_uncased);
  tcase_add_test(golden, golden_roberta);
  suite_add_tcase(s, golden);
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, bert_offsets_and_word_ids);
  tcase_add_test(tc, roberta_offsets_and_word_ids);
  tcase_add_test(tc, split_words_for_ner);
  tcase_add_test(tc, text_words_split_as_bert_does);
  tcase_add_test(tc, truncation_and_padding);
  tcase_add_test(tc, invalid_utf8_and_nul);
  tcase_add_test(tc, small_vocab_and_config);
  tcase_add_test(tc, tokenizer_json_formats);
  tcase_add_test(tc, load_errors);
  tcase_add_test(tc, bpe_cache_consistent);
  tcase_add_test(tc, parallel_encode_matches_serial);
  tcase_add_test(tc, golden_through_tokenizer_json);
  tcase_add_test(tc, special_tokens_in_text);
  tcase_add_test(tc, random_bytes_are_safe);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
