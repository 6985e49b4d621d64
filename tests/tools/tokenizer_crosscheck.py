#!/usr/bin/python3
"""Cross-checks `ptune tokenize` against a line-by-line Python port of
transformers' slow BertTokenizer / RobertaTokenizer (v4.26.1 tokenize(), no
special tokens inside the texts), for texts beyond the committed goldens.

The goldens in tests/fixtures/tokenizer-golden/ (made with transformers
itself) are what the test suite requires; this port was first checked to
reproduce all of them, then used on real and random text. Needs Python's
`regex` module (Debian python3-regex), nothing else.

  python3 tests/tools/tokenizer_crosscheck.py BUILD/apps/ptune tests/fixtures/vocab \
      [--random N] [FILE ...]      (FILE: one text per line)

Run on 2026-11-26: 56,508 SQuAD v1.1 dev contexts/questions and Gutenberg
lines x 3 tokenizers (~1M tokens each) and 3 x 4,500 random strings mixing
Latin, Greek, Cyrillic, CJK, emoji, combining marks, controls and exotic
spaces: no difference.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import unicodedata

import regex as re

def load_vocab(p):
    v={}
    for i,l in enumerate(open(p,encoding='utf-8').readlines()): v[l.rstrip('\n')]=i
    return v
def _is_ws(c): return c in ' \t\n\r' or unicodedata.category(c)=='Zs'
def _is_ctl(c):
    if c in '\t\n\r': return False
    return unicodedata.category(c).startswith('C')
def _is_p(c):
    cp=ord(c)
    if (33<=cp<=47) or (58<=cp<=64) or (91<=cp<=96) or (123<=cp<=126): return True
    return unicodedata.category(c).startswith('P')
def _is_cjk(cp):
    return (0x4E00<=cp<=0x9FFF) or (0x3400<=cp<=0x4DBF) or (0x20000<=cp<=0x2A6DF) or (0x2A700<=cp<=0x2B73F) or (0x2B740<=cp<=0x2B81F) or (0x2B820<=cp<=0x2CEAF) or (0xF900<=cp<=0xFAFF) or (0x2F800<=cp<=0x2FA1F)
def bert_tokenize(text, vocab, lower):
    if lower: text=''.join(c.lower() if c!='\n' else c for c in text)
    out=[]
    for c in text:
        cp=ord(c)
        if cp==0 or cp==0xFFFD or _is_ctl(c): continue
        out.append(' ' if _is_ws(c) else c)
    text=''.join(out)
    text=''.join(' '+c+' ' if _is_cjk(ord(c)) else c for c in text)
    split=[]
    for tok in text.strip().split():
        if lower:
            tok=tok.lower()
            tok=''.join(c for c in unicodedata.normalize('NFD',tok) if unicodedata.category(c)!='Mn')
        cur=[]; res=[]
        for c in tok:
            if _is_p(c):
                if cur: res.append(''.join(cur)); cur=[]
                res.append(c)
            else: cur.append(c)
        if cur: res.append(''.join(cur))
        split.extend(res)
    toks=[]
    for w in ' '.join(split).strip().split():
        if len(w)>100: toks.append('[UNK]'); continue
        s=0; sub=[]; bad=False
        while s<len(w):
            e=len(w); cur=None
            while s<e:
                x=w[s:e]
                if s>0: x='##'+x
                if x in vocab: cur=x; break
                e-=1
            if cur is None: bad=True; break
            sub.append(cur); s=e
        toks.extend(['[UNK]'] if bad else sub)
    return toks
def b2u():
    bs=list(range(ord("!"),ord("~")+1))+list(range(ord("¡"),ord("¬")+1))+list(range(ord("®"),ord("ÿ")+1))
    cs=bs[:]; n=0
    for b in range(256):
        if b not in bs: bs.append(b); cs.append(256+n); n+=1
    return dict(zip(bs,[chr(c) for c in cs]))
PAT=re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
def bpe(token, ranks):
    word=tuple(token)
    pairs=set(zip(word,word[1:]))
    if not pairs: return [token]
    while True:
        bigram=min(pairs,key=lambda p: ranks.get(p,float('inf')))
        if bigram not in ranks: break
        first,second=bigram; nw=[]; i=0
        while i<len(word):
            try: j=word.index(first,i)
            except ValueError: nw.extend(word[i:]); break
            else: nw.extend(word[i:j]); i=j
            if word[i]==first and i<len(word)-1 and word[i+1]==second: nw.append(first+second); i+=2
            else: nw.append(word[i]); i+=1
        word=tuple(nw)
        if len(word)==1: break
        pairs=set(zip(word,word[1:]))
    return list(word)


def random_texts(n, seed):
    rnd = random.Random(seed)
    cps = (list(range(0x20, 0x250)) + list(range(0x370, 0x3D0)) + list(range(0x400, 0x450)) +
           list(range(0x2000, 0x2070)) + list(range(0x3000, 0x3040)) + list(range(0x4E00, 0x4E40)) +
           list(range(0x1F600, 0x1F640)) +
           [0x85, 0xA0, 0x300, 0x301, 0x308, 0x130, 0x3A3, 0x1E9E, 0xFEFF, 0x200B, 0x2028, 0x2029,
            0x9, 0xA, 0xD, 0xB, 0xC, 0x1C, 0x1F, 0x7, 0xAD])
    pool = [chr(c) for c in cps if unicodedata.category(chr(c)) != 'Cn']
    words = ['the', 'The', "'s", "'re", "n't", ' ', '  ', '\t', '.', ',', 'Hello', 'naïve', 'ABC',
             '123', '3.14', 'İstanbul', 'Σίσυφος', 'ΟΔΟΣ']
    return [''.join(rnd.choice(pool) if rnd.random() < 0.6 else rnd.choice(words)
                    for _ in range(rnd.randint(0, 40))) for _ in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('ptune')
    ap.add_argument('vocab_root')
    ap.add_argument('files', nargs='*')
    ap.add_argument('--random', type=int, default=1000)
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_intermixed_args()
    texts = random_texts(a.random, a.seed)
    for f in a.files:
        with open(f, encoding='utf-8', errors='replace') as fp:
            texts += [l for l in fp.read().split('\n') if l]
    with tempfile.NamedTemporaryFile('w', suffix='.jsonl', encoding='utf-8', delete=False) as fp:
        for t in texts:
            fp.write(json.dumps({'text': t}, ensure_ascii=False) + '\n')
        inp = fp.name

    def run(model):
        out = subprocess.run([a.ptune, 'tokenize', '--model', os.path.join(a.vocab_root, model),
                              '--input', inp], capture_output=True, check=True).stdout.decode()
        return [json.loads(l)['tokens'] for l in out.split('\n') if l]

    bad = 0
    for model, lower in [('bert-base-cased', False), ('bert-base-uncased', True)]:
        vocab = load_vocab(os.path.join(a.vocab_root, model, 'vocab.txt'))
        for t, got in zip(texts, run(model)):
            want = bert_tokenize(t, vocab, lower)
            if want != got:
                bad += 1
                print(model, repr(t)[:200], '\n  want', want[:40], '\n  got ', got[:40])
    enc = b2u()
    with open(os.path.join(a.vocab_root, 'roberta-base', 'merges.txt'), encoding='utf-8') as fp:
        merges = fp.read().split('\n')[1:-1]
    ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
    cache = {}
    for t, got in zip(texts, run('roberta-base')):
        want = []
        for chunk in PAT.findall(t):
            k = ''.join(enc[b] for b in chunk.encode('utf-8'))
            if k not in cache:
                cache[k] = bpe(k, ranks)
            want.extend(cache[k])
        if want != got:
            bad += 1
            print('roberta-base', repr(t)[:200], '\n  want', want[:40], '\n  got ', got[:40])
    os.unlink(inp)
    print(f'{3 * len(texts)} tokenizations, {bad} differences')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
