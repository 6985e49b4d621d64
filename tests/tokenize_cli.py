#!/usr/bin/env python3
"""ptune tokenize over the three golden files (pairs included), its output
compared record by record with Hugging Face's: ids, token_type_ids and, for
single texts, the token strings. Exits non-zero naming the first mismatch.

usage: tokenize_cli.py PTUNE FIXTURES OUTDIR"""
import json
import subprocess
import sys


def records(path):
    # split on \\n only: some texts hold U+2028/U+2029/U+0085 (see the README)
    with open(path, 'rb') as f:
        return [json.loads(line) for line in f.read().decode('utf-8').split('\n') if line]


def main():
    ptune, fixtures, outdir = sys.argv[1:4]
    for model in ('bert-base-cased', 'bert-base-uncased', 'roberta-base'):
        golden = f'{fixtures}/tokenizer-golden/{model}.jsonl'
        out = f'{outdir}/tokenize_cli-{model}.jsonl'
        subprocess.run([ptune, 'tokenize', '--model', f'{fixtures}/vocab/{model}',
                        '--input', golden, '--output', out], check=True)
        want, got = records(golden), records(out)
        if len(want) != len(got):
            sys.exit(f'{model}: {len(got)} records written for {len(want)} inputs')
        for i, (w, g) in enumerate(zip(want, got)):
            for key in ('ids', 'token_type_ids', 'tokens'):
                if key in w and w[key] != g.get(key):
                    sys.exit(f'{model} record {i + 1} ({w["text"][:40]!r}): {key} {g.get(key)} '
                             f'instead of {w[key]}')
        pairs = sum('text_pair' in w for w in want)
        print(f'{model}: {len(want)} records ({pairs} pairs) identical to Hugging Face')


if __name__ == '__main__':
    main()
