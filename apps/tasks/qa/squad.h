/* The qa task: SQuAD v1.1 / v2.0 data (reader with validation), the official
 * SQuAD evaluator's EM/F1 (v1.1 and v2.0 semantics, HasAns/NoAns and the
 * best no-answer threshold), the sliding windows of Hugging Face's run_qa
 * (prepare_train_features / prepare_validation_features) and its answer
 * post-processing (postprocess_qa_predictions, as THUDM/P-tuning-v2's
 * tasks/qa/utils_qa.py uses it).
 *
 * Character positions (answer_start, window offsets) count Unicode code
 * points, as Python string indices do. Texts are UTF-8.
 *
 * Ownership: read_squad fills a caller-owned squad_set freed with
 * squad_set_free (on failure it is left empty, so freeing it again is
 * harmless). qa_question_features appends to a qa_features freed with
 * qa_features_free. Strings returned in qa_answer are owned by it
 * (qa_answer_free). squad_normalize returns a string the caller frees. */
#ifndef APPS_TASKS_QA_SQUAD_H
#define APPS_TASKS_QA_SQUAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apps/tasks/lines.h"
#include "apps/tasks/task.h"
#include "models/pt_tokenizer.h"
#include "tensor/pt_status.h"

/* ---- data ---------------------------------------------------------------- */

typedef struct {
  char *text;
  int64_t start; /* answer_start, in code points */
} squad_answer;

typedef struct {
  char *id;
  char *question;
  int64_t para;               /* index into squad_set.paras */
  squad_answer *answers;   /* empty for v2 unanswerable questions */
  int64_t n_answers;
  squad_answer *plausible; /* v2 plausible_answers (not scored) */
  int64_t n_plausible;
  bool is_impossible;
  int64_t article, para_in_article, qa_in_para; /* position in the file */
} squad_question;

typedef struct {
  char *context;
  size_t len;           /* bytes */
  int64_t n_chars;      /* code points */
  int32_t *char_to_byte; /* n_chars + 1 entries: byte offset of code point i */
  int64_t article;
} squad_paragraph;

typedef struct {
  squad_paragraph *paras;
  int64_t n_paras;
  squad_question *qs;
  int64_t n;
  char **titles;   /* per article */
  int64_t n_articles;
  char *path;
  char *version;   /* "" when the file has none */
  bool v2;         /* version "v2..." or some question has is_impossible */
} squad_set;

void squad_set_free(squad_set *set);
/* p for the valid UTF-8 text context[0..len) (copied; no NUL inside),
 * with its code-point table. */
pt_status squad_paragraph_init(squad_paragraph *p, const char *context, size_t len);

/* Reads a SQuAD JSON file. Every problem is one line naming the file and the
 * place, e.g. "dev-v1.1.json: data[3].paragraphs[2].qas[0]: answer_start 912
 * is outside the context (length 640)": missing or mistyped fields, answers
 * outside the context or whose text differs from the context at
 * answer_start, missing, empty or duplicate ids, an is_impossible question
 * with answers, an answerable one without. With opts->labels_optional
 * (predict), answers may be absent or empty. */
pt_status read_squad(const char *path, const read_opts *opts, squad_set *out);

/* ---- the official evaluator ------------------------------------------------ */

/* normalize_answer: lower case (Python str.lower), remove ASCII punctuation
 * (string.punctuation), remove the whole words a/an/the, collapse white
 * space (str.split). NULL with PT_ERR_NOMEM. Caller frees. */
char *squad_normalize(const char *s);
/* 1 when the normalized strings are equal, else 0 (both versions). */
double squad_exact(const char *gold, const char *pred);
/* Token F1 with Counter overlap. v2 (evaluate-v2.0.py): if either side has
 * no tokens, 1 when both have none, else 0. v1 (evaluate-v1.1.py): 0 when
 * nothing overlaps, so two empty strings score 0. -1 on allocation failure. */
double squad_f1(const char *gold, const char *pred, bool v2);

typedef struct {
  double exact, f1;  /* percentages over `total` */
  int64_t total;
  double has_ans_exact, has_ans_f1; int64_t has_ans_total; /* v2 only */
  double no_ans_exact, no_ans_f1; int64_t no_ans_total;    /* v2 only */
  bool has_best;     /* na_probs given (v2) */
  double best_exact, best_exact_thresh, best_f1, best_f1_thresh;
  int64_t missing;   /* v1: questions without a prediction (scored 0) */
} squad_scores;

/* Scores preds[i] (the answer to set->qs[i]; NULL = no prediction).
 * set->v2 false: evaluate-v1.1.py (max over gold texts, a missing prediction
 * scores 0 and counts in the total). set->v2 true: evaluate-v2.0.py (gold
 * texts that normalize to "" dropped, an unanswerable question's only gold is
 * "", HasAns/NoAns splits; a missing prediction is an error, as the official
 * script fails on it). na_probs (may be NULL; v2 only) holds the no-answer
 * probability per question: a question with na_prob > na_prob_thresh counts
 * as predicted unanswerable (official default threshold 1.0), and the best
 * threshold search (best_exact/best_f1 and their thresholds) runs over the
 * questions sorted by na_prob, ties in the order na_order gives (each
 * question's place in the no-answer file, as the official script sorts the
 * file's ids stably; NULL: question order). */
pt_status squad_evaluate(const squad_set *set, const char *const *preds,
                            const double *na_probs, const int64_t *na_order,
                            double na_prob_thresh, squad_scores *out);

/* ---- prediction files ----------------------------------------------------- */

/* {"id": "answer", ...} in question order (answers[i] for set->qs[i]; none
 * may be NULL), as the official evaluators and HF's predictions.json have
 * it: indent 4, ASCII escapes, written atomically. */
pt_status write_squad_predictions(const squad_set *set, const char *const *answers,
                                     const char *path);
/* {"id": number, ...}: HF's null_odds.json (score_diff per question) or the
 * evaluator's na_prob file. */
pt_status write_squad_scores(const squad_set *set, const double *scores, const char *path);
/* Reads a predictions file: *out (free with squad_predictions_free(*out,
 * set->n)) holds one answer per question. A question without an answer, an
 * id that is not a question of the set (the official scripts skip both,
 * with a message) and a non-string answer are errors naming the id. */
pt_status read_squad_predictions(const char *path, const squad_set *set, char ***out);
void squad_predictions_free(char **preds, int64_t n);
/* Reads a {"id": number} file into *out (set->n values, caller frees) and,
 * when order is not NULL, each question's place among the file's ids into
 * *order (caller frees). A question without a score (the official v2
 * script fails too), an id that is not a question and a non-number are
 * errors naming the id. */
pt_status read_squad_scores(const char *path, const squad_set *set, double **out,
                            int64_t **order);

/* The scores as one JSON line with the official scripts' keys and order:
 * v1 {"exact_match": .., "f1": ..}; v2 {"exact", "f1", "total",
 * "HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_...", and with
 * na_probs "best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"}
 * (HasAns/NoAns only when there are such questions, as the v2 script does).
 * Numbers are written as Python's repr writes them (shortest round trip,
 * "50.0"). A new string the caller frees; NULL with PT_ERR_NOMEM. */
char *squad_scores_json(const squad_scores *s, bool v2);

/* ---- windows (features) ------------------------------------------------------ */

typedef struct {
  int64_t max_seq_len;    /* 384 */
  int64_t doc_stride;     /* 128: overlap between consecutive windows, tokens */
  bool pad_to_max_length; /* true: every window has max_seq_len positions */
} qa_feature_opts;

/* Defaults: 384, 128, padding on (HF run_qa / THUDM). */
qa_feature_opts qa_feature_opts_default(void);

/* One window: "[CLS] question [SEP] context slice [SEP]" (RoBERTa:
 * "<s> q </s></s> slice </s>"), padded on the right. */
typedef struct {
  int64_t question;  /* index into the set's questions */
  int64_t n;         /* positions, padding included */
  int64_t *ids, *type_ids, *attention_mask;
  int64_t *offsets;  /* 2n: code-point span in the context; -1,-1 outside it */
  uint8_t *is_context; /* n flags: the token comes from the context */
  int64_t ctx_first, ctx_last; /* window's first/last context token (-1,-2 if none) */
  int64_t start_pos, end_pos;  /* training targets (0 = [CLS] when the answer
                                  is not wholly inside or there is none) */
} qa_feature;

typedef struct {
  qa_feature *f;
  int64_t n, cap;
} qa_features;

void qa_features_free(qa_features *fs);

/* Appends the windows of question qi as HF's fast tokenizers make them with
 * truncation="only_second", stride=doc_stride, return_overflowing_tokens:
 * the question (left-stripped, never truncated) then context tokens
 * [k*(M - stride), k*(M - stride) + M) for k = 0, 1, ... until a window
 * reaches the end of the context, M = max_seq_len - question tokens -
 * special tokens. start_pos/end_pos follow prepare_train_features with the
 * first gold answer, quirk included: when the answer starts in a window's
 * last context token, HF's loop runs on through [SEP] and padding (offsets
 * (0,0)) and start_pos becomes the window's last position. PT_ERR_ARG when
 * the context needs several windows and M <= doc_stride (HF raises there
 * too), or when the question leaves no room for context. */
pt_status qa_question_features(const pt_tokenizer *tok, const squad_set *set, int64_t qi,
                                  const qa_feature_opts *opts, qa_features *out);

/* ---- post-processing ----------------------------------------------------------- */

typedef struct {
  int64_t n_best;         /* 20 */
  int64_t max_answer_len; /* 30 tokens */
  bool v2;                /* version_2_with_negative */
  double null_threshold;  /* null_score_diff_threshold, 0.0 */
} qa_post_opts;

qa_post_opts qa_post_opts_default(bool v2);

/* The model's output for one window. */
typedef struct {
  int64_t n;                  /* positions */
  const float *start_logits;  /* n */
  const float *end_logits;    /* n */
  const int64_t *offsets;     /* 2n code-point spans into the context */
  const uint8_t *is_context;  /* n flags; spans may only use these tokens */
} qa_window;

typedef struct {
  char *text;          /* the answer ("" = no answer) */
  int64_t char_start, char_end; /* its span (0,0 for the null answer) */
  float score;         /* start + end logit of the chosen span */
  float null_score;    /* v2: min over windows of start[0] + end[0] */
  float score_diff;    /* v2: null_score - best non-null span score */
} qa_answer;

void qa_answer_free(qa_answer *a);

/* The window of a feature with the model's logits for it (f->n each);
 * everything is borrowed. */
qa_window qa_feature_window(const qa_feature *f, const float *start_logits,
                                  const float *end_logits);

/* postprocess_qa_predictions for one question over its windows: the n_best
 * highest start and end positions of each window, spans inside the context
 * with start <= end and at most max_answer_len tokens, score = start + end
 * logit (float, as numpy sums them), the best over all windows (ties: the
 * first found). v2: predict "" when null_score - best > null_threshold. With
 * no valid span HF answers "empty" (and so does this). */
pt_status qa_best_answer(const char *context, size_t context_len, const qa_window *wins,
                            int64_t n_wins, const qa_post_opts *opts, qa_answer *out);

/* ---- the task ---------------------------------------------------------------- */

/* The qa task's examples: the questions and, once encoded, their windows. */
typedef struct {
  squad_set set;
  qa_features windows;
} qa_data;

/* Example i's prediction {"id": ..., "answer": ...} (task.c). */
pt_status qa_result_json(const task_data *td, const eval_result *r, const label_map *map,
                         int64_t i, json_t **out);
/* Serving (serve.c): the questions of a request's inputs ({"question",
 * "context"}, optionally "id") and example i's result (the prediction with
 * the answer's code-point span "start", "end" and its "score"). */
pt_status qa_read_inputs(const task_opts *o, const json_t *inputs, task_data *td);
pt_status qa_serve_json(const task_data *td, const eval_result *r, const label_map *map,
                        int64_t i, json_t **out);

#endif
