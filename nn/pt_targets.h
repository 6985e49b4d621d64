/* Which modules a PEFT method targets, matched by module path exactly as
 * peft's `target_modules` (tuners_utils.check_target_module_exists):
 *
 *   a list of names  a module matches when its path equals a name or ends
 *                    with "." + name: for BERT, "output.dense" is both
 *                    "bert.encoder.layer.0.attention.output.dense" and the
 *                    feed-forward "bert.encoder.layer.0.output.dense";
 *   a regular        the whole path must match (peft's re.fullmatch), e.g.
 *   expression       ".*layer\.[01]\..*\.(query|value)".
 *
 * Regular expressions are POSIX extended ones (glibc), with the Python
 * spellings peft users write translated: (?:...) groups, \d \D (digits),
 * \w \W \s \S, and lazy quantifiers (*? +? ??, which match the same strings
 * under a full match). Other (?...) constructs and backslashes inside [...]
 * are refused with a message.
 *
 * Ownership: a pt_nn_targets owns its strings; release with
 * pt_nn_targets_free (a zeroed struct is an empty list that matches
 * nothing). */
#ifndef PT_TARGETS_H
#define PT_TARGETS_H

#include <stdbool.h>

#include "tensor/pt_status.h"

typedef struct {
  char **names; /* the list (n entries), or NULL */
  int n;
  char *regex;  /* or the expression (as written, Python spelling), or NULL */
} pt_nn_targets;

/* From command-line text: a regular expression when it holds one of
 * * + ? [ ] ( ) { } | ^ $ \ (a '.' alone does not make one: "output.dense"
 * is a name), else a comma-separated list of names ("query,value").
 * `what` names the source in messages (e.g. "--target-modules"). */
pt_status pt_nn_targets_parse(const char *text, const char *what, pt_nn_targets *out);
/* A list of n names (copied), or a regular expression (copied, checked). */
pt_status pt_nn_targets_set_list(pt_nn_targets *t, int n, const char *const *names,
                                 const char *what);
pt_status pt_nn_targets_set_regex(pt_nn_targets *t, const char *regex, const char *what);
/* Deep copy into *out. */
pt_status pt_nn_targets_copy(const pt_nn_targets *t, pt_nn_targets *out);
void pt_nn_targets_free(pt_nn_targets *t);

/* Whether the module at `path` is targeted. */
bool pt_nn_targets_match(const pt_nn_targets *t, const char *path);

/* The targets as command-line text (owned string, free()): the names
 * joined by ',' or the expression; NULL when out of memory. */
char *pt_nn_targets_text(const pt_nn_targets *t);

#endif
