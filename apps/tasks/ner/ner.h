/* The ner task: CoNLL and CoNLL04/SpERT JSON readers (read.c), the
 * prediction file (write.c) and the task row (task.c).
 *
 * Readers validate their input and fail with one line "file:line: what is
 * wrong" (or "file: item N: ..." for a JSON array). On failure the set is
 * left empty (already freed), so freeing it again is harmless. */
#ifndef APPS_TASKS_NER_NER_H
#define APPS_TASKS_NER_NER_H

#include "apps/tasks/lines.h"
#include "apps/tasks/tagging.h"

/* Rewrites tags in place to IOB2: IOB1 (I-X starting an entity), IOB2,
 * BIOES (S-/E-) and BILOU (U-/L-) all map to B-/I-/O. A tag that is not "O"
 * or one of B/I/E/S/L/U followed by "-TYPE" is an error naming it. */
pt_status tags_to_iob2(char **tags, int64_t n);

/* CoNLL text (word first column, tag last; whitespace-separated; blank lines
 * end sentences; -DOCSTART- lines skipped), converted to IOB2. A path ending
 * in .json is read as a JSON array of {"tokens": [...], "tags": [...]} (tags
 * in any scheme above, e.g. CoNLL04's BILOU) or {"tokens": [...],
 * "entities": [{"start": s, "end": e (exclusive), "type": T}]} (SpERT);
 * .jsonl holds one such object per line. */
pt_status read_ner(const char *path, const read_opts *opts, sentence_set *out);

/* CoNLL text `path` whatever its name, as a predictions file is read: the
 * tag is column `tag_column` from the end (1: the last, the prediction; 2:
 * the one before it, the gold, as conlleval reads a predictions file), in
 * IOB2 or, with keep_scheme, as written (still validated). A line needs
 * tag_column + 1 columns (fewer: unlabelled, when opts allow it). */
pt_status read_ner_columns(const char *path, const read_opts *opts, int tag_column,
                           bool keep_scheme, sentence_set *out);

/* The label order of a known NER data set: "conll2003" gives HF datasets'
 * conll2003 ner_tags names (O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC,
 * B-MISC, I-MISC), which THUDM/P-tuning-v2 uses as id2label. Static; PT_ERR_ARG
 * for other names (build the map from the training data instead). */
pt_status ner_preset_labels(const char *name, const char *const **names, int64_t *n);

/* NER predictions, pred[i] holding set->sents[i].n tags, as conlleval reads
 * them: every word line ends with the gold tag (labelled data) and the
 * prediction, the gold always in IOB2 (the tags the scores use, whatever the
 * input's scheme), so the file's own token accuracy is ptune's. A CoNLL text
 * input is copied line for line with its tag column replaced by the IOB2
 * gold and the prediction appended ("EU NNP I-NP I-ORG" -> "EU NNP I-NP
 * B-ORG B-ORG"); a -DOCSTART- line gets a predicted "O" (with as many
 * columns as the word lines); blank lines stay. A JSON input becomes "word
 * [gold] pred" lines (the word as conll_word writes it), a blank line
 * after each sentence. The source file must be unchanged since it was read
 * (checked). Written atomically. */
pt_status write_ner_predictions(const sentence_set *set, char **const *pred,
                                   const char *out_path);

/* Serving (serve.c): the sentences of a request's inputs (a text, split
 * by pt_text_words, or {"tokens": [...]}) and example i's result (the
 * prediction with "entities": [{"type", "start", "end", "text"}], spans in
 * code points of the text). */
pt_status ner_read_inputs(const task_opts *o, const json_t *inputs, task_data *td);
pt_status ner_serve_json(const task_data *td, const eval_result *r, const label_map *map,
                         int64_t i, json_t **out);

#endif
