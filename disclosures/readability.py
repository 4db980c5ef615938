"""Plain language, measured: Flesch-Kincaid for English, sentence length for Chinese.

What is measured is the prose a customer reads: paragraphs, list items and table cells of the
Markdown, taken from markdown-it's token stream. Headings, code spans (ids, hashes) and table
cells without a full stop (labels, values) are left out, since they are not sentences.

- English: sentences end at `.`, `!`, `?` followed by a space or the end; words are runs of
  letters, digits and apostrophes; syllables are counted with the usual vowel-group heuristic
  (a silent final `e` dropped, at least one per word, a number counts as one word of one
  syllable per digit group). Flesch-Kincaid grade = 0.39 words/sentence + 11.8
  syllables/word - 15.59; reading ease = 206.835 - 1.015 words/sentence - 84.6 syllables/word.
- Chinese: sentences end at `。！？；`; a sentence's length counts every character except
  white space and punctuation (Latin words and numbers count one per character).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

LONG_CHINESE_SENTENCE = 40


@dataclass(frozen=True)
class Readability:
    """Readability figures of one document."""

    lang: str
    sentences: int
    words: int = 0
    syllables: int = 0
    characters: int = 0
    longest: int = 0
    long_sentences: int = 0  # Chinese: sentences over LONG_CHINESE_SENTENCE characters

    @property
    def grade(self) -> float:
        """Flesch-Kincaid grade level (English)."""
        if not self.sentences or not self.words:
            return 0.0
        return 0.39 * self.words / self.sentences + 11.8 * self.syllables / self.words - 15.59

    @property
    def reading_ease(self) -> float:
        """Flesch reading ease, 0-100, higher is easier (English)."""
        if not self.sentences or not self.words:
            return 100.0
        return 206.835 - 1.015 * self.words / self.sentences - 84.6 * self.syllables / self.words

    @property
    def chars_per_sentence(self) -> float:
        """Average characters per sentence (Chinese)."""
        return self.characters / self.sentences if self.sentences else 0.0

    @property
    def long_share(self) -> float:
        """Share of sentences over LONG_CHINESE_SENTENCE characters (Chinese)."""
        return self.long_sentences / self.sentences if self.sentences else 0.0

    def report(self) -> str:
        """A one-paragraph summary for `clearline disclose --stats`."""
        if self.lang.startswith("zh"):
            return (
                f"{self.lang}: {self.sentences} sentences, "
                f"{self.chars_per_sentence:.1f} characters per sentence, "
                f"longest {self.longest}, "
                f"{self.long_share:.0%} over {LONG_CHINESE_SENTENCE} characters"
            )
        return (
            f"{self.lang}: {self.sentences} sentences, {self.words} words, "
            f"Flesch-Kincaid grade {self.grade:.1f}, reading ease {self.reading_ease:.1f}"
        )


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def prose(markdown: str) -> list[str]:
    """The text fragments a reader reads as sentences, from the Markdown's token stream."""
    fragments: list[str] = []
    in_heading = False
    in_cell = False
    for token in _parser().parse(markdown):
        if token.type == "heading_open":
            in_heading = True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type in ("td_open", "th_open"):
            in_cell = True
        elif token.type in ("td_close", "th_close"):
            in_cell = False
        elif token.type == "inline" and not in_heading:
            text = _inline_text(token)
            if in_cell and not re.search(r"[.!?。！？]\s*$", text):
                continue
            if text:
                fragments.append(text)
    return fragments


def _inline_text(token: Token) -> str:
    parts = [
        child.content
        for child in token.children or ()
        if child.type in ("text", "softbreak", "hardbreak")
    ]
    return " ".join(" ".join(parts).split())


def english_sentences(fragments: list[str]) -> list[str]:
    """English sentences of prose fragments."""
    found: list[str] = []
    for fragment in fragments:
        found.extend(s for s in re.split(r"(?<=[.!?])\s+", fragment) if s.strip())
    return found


def chinese_sentences(fragments: list[str]) -> list[str]:
    """Chinese sentences of prose fragments."""
    found: list[str] = []
    for fragment in fragments:
        found.extend(s for s in re.split(r"(?<=[。！？；])", fragment) if _length(s))
    return found


_WORD = re.compile(r"[A-Za-z][A-Za-z']*|\d[\d,.%-]*")


def syllables(word: str) -> int:
    """Syllables of an English word (heuristic); a number counts one per digit group."""
    if word[0].isdigit():
        return max(1, len(re.findall(r"\d+", word)))
    w = word.lower().strip("'")
    if len(w) <= 3:
        return 1
    w = re.sub(r"(?:[^laeiouy]es|[^laeiouy]ed|[^laeiouy]e)$", "", w)
    w = re.sub(r"^y", "", w)
    return max(1, len(re.findall(r"[aeiouy]{1,2}", w)))


def _length(sentence: str) -> int:
    return sum(
        1
        for ch in sentence
        if not ch.isspace() and not unicodedata.category(ch).startswith(("P", "S"))
    )


def measure(markdown: str, lang: str) -> Readability:
    """Readability of a Markdown document in `lang`."""
    fragments = prose(markdown)
    if lang.startswith("zh"):
        sentences = chinese_sentences(fragments)
        lengths = [_length(s) for s in sentences]
        return Readability(
            lang=lang,
            sentences=len(sentences),
            characters=sum(lengths),
            longest=max(lengths, default=0),
            long_sentences=sum(1 for n in lengths if n > LONG_CHINESE_SENTENCE),
        )
    sentences = english_sentences(fragments)
    words = [w for s in sentences for w in _WORD.findall(s)]
    return Readability(
        lang=lang,
        sentences=len(sentences),
        words=len(words),
        syllables=sum(syllables(w) for w in words),
        longest=max((len(_WORD.findall(s)) for s in sentences), default=0),
    )


def long_sentences(markdown: str, lang: str, limit: int) -> list[str]:
    """Sentences longer than `limit` (Chinese characters, or English words)."""
    fragments = prose(markdown)
    if lang.startswith("zh"):
        return [s for s in chinese_sentences(fragments) if _length(s) > limit]
    return [s for s in english_sentences(fragments) if len(_WORD.findall(s)) > limit]
