"""CoNLL-U (Universal Dependencies v2.5) read as XTREME's preprocessing read it: surface forms, not syntactic words.

XTREME converted every treebank with ud-conversion-tools' `--replace_subtokens_with_fused_forms`: a multi-word token
(`1-2  del` over `1 de ADP`, `2 el DET`) becomes one word, its fused surface form, tagged with the UPOS of the span's
head: the sub-word highest in the dependency tree (fewest ancestors); ties go to the UPOS that ranks first in
`HEAD_PRECEDENCE`. The google/xtreme hub copy keeps the syntactic words instead. Empty nodes (`8.1`) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from raytl.errors import InputError

# Tie-break between equally high sub-words of a fused token: content words first.
HEAD_PRECEDENCE = ("VERB", "NOUN", "PROPN", "PRON", "ADJ", "NUM", "ADV", "INTJ", "AUX", "ADP", "DET", "PART",
                   "SCONJ", "CCONJ", "PUNCT", "SYM", "X")
COLUMNS = 10


@dataclass(frozen=True)
class Word:
    form: str
    upos: str
    line: int  # 1-based line in the file, for error messages


@dataclass
class _Sentence:
    words: dict[int, Word]
    heads: dict[int, int]
    fused: list[tuple[int, int, Word]]

    def surface(self) -> list[Word]:
        """Words in order, each fused span replaced by its surface form with the head's UPOS."""
        spans = {start: (end, word) for start, end, word in self.fused}
        out, index = [], 1
        while index <= max(self.words, default=0):
            if index in spans:
                end, fused = spans[index]
                out.append(Word(fused.form, self._span_head(range(index, end + 1)).upos, fused.line))
                index = end + 1
            else:
                out.append(self.words[index])
                index += 1
        return out

    def _depth(self, index: int) -> int:
        depth, seen = 0, {index}
        while self.heads.get(index, 0) not in (0, *seen):
            index = self.heads[index]
            seen.add(index)
            depth += 1
        return depth

    def _span_head(self, span: range) -> Word:
        rank = {upos: i for i, upos in enumerate(HEAD_PRECEDENCE)}
        best = min(span, key=lambda i: (self._depth(i), rank.get(self.words[i].upos, len(rank))))
        return self.words[best]


def read_conllu(path: Path) -> list[list[Word]]:
    """Sentences of surface words; a line without 10 tab-separated columns or a bad id is an InputError.

    >>> words = [("1", "Vengo", "VERB", "0"), ("2-3", "del", "_", "_"), ("2", "de", "ADP", "4"),
    ...          ("3", "el", "DET", "4"), ("4", "mercado", "NOUN", "1")]  # id, form, UPOS, head
    >>> path = Path("/tmp/raytl-doc/es.conllu"); path.parent.mkdir(exist_ok=True)
    >>> _ = path.write_text("".join(f"{i}\\t{form}\\t_\\t{upos}\\t_\\t_\\t{head}\\t_\\t_\\t_\\n"
    ...                             for i, form, upos, head in words))
    >>> [(w.form, w.upos) for w in read_conllu(path)[0]]  # the fused `del` takes its head's UPOS (a tie: ADP first)
    [('Vengo', 'VERB'), ('del', 'ADP'), ('mercado', 'NOUN')]
    """
    sentences: list[list[Word]] = []
    sentence = _Sentence({}, {}, [])
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            if sentence.words:
                sentences.append(_checked(sentence, path, number))
            sentence = _Sentence({}, {}, [])
        elif not line.startswith("#"):
            _add(sentence, line, path, number)
    if sentence.words:
        sentences.append(_checked(sentence, path, len(lines)))
    return sentences


def _add(sentence: _Sentence, line: str, path: Path, number: int) -> None:
    fields = line.split("\t")
    if len(fields) != COLUMNS:
        raise InputError(f"{path}: line {number}: expected {COLUMNS} tab-separated columns, found {len(fields)}")
    token_id, form, upos, head = fields[0], fields[1], fields[3], fields[6]
    if "." in token_id:
        return  # an empty node of the enhanced graph: not a word
    try:
        if "-" in token_id:
            start, end = map(int, token_id.split("-"))
            sentence.fused.append((start, end, Word(form, "", number)))
            return
        index = int(token_id)
        sentence.heads[index] = int(head) if head != "_" else 0
    except ValueError:
        raise InputError(f"{path}: line {number}: bad id '{token_id}' or head '{head}'") from None
    sentence.words[index] = Word(form, upos, number)


def _checked(sentence: _Sentence, path: Path, number: int) -> list[Word]:
    expected = list(range(1, len(sentence.words) + 1))
    if sorted(sentence.words) != expected:
        raise InputError(f"{path}: line {number}: word ids of the sentence ending here are not 1..{len(expected)}")
    for start, end, word in sentence.fused:
        if not 1 <= start <= end <= len(expected):
            raise InputError(f"{path}: line {word.line}: multi-word range {start}-{end} is outside the sentence")
    return sentence.surface()
