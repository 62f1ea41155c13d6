"""The deterministic, offline extractor of decisions, rejected alternatives and constraints.

It reads the prompts, reasoning and responses of a checkpoint and keeps the sentences
that state a choice ("I'll go with X because Y", "Decision: …"), an approach turned
down ("I considered X but …", "instead of Y", "X won't work because …") or a rule the
work had to follow ("Don't add new dependencies", "keep … compatible", a cited
``CLAUDE.md``). Precision comes first: quoted code, pasted tool output, questions,
hypotheticals, options merely listed and plans the session later dropped are skipped,
and each record carries its evidence (the event and the verbatim sentence) and a
confidence. Only :mod:`re` and :mod:`hashlib`: the same events always give the same
records and ids.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

import attrs

from bitloops.checkpoint._transcript import Transcript
from bitloops.model import Alternative, Constraint, Decision, Event, EventKind, Evidence

__all__ = ["MAX_PER_CATEGORY", "MIN_CONFIDENCE", "Extracted", "extract", "normalise"]

#: Records below this confidence are not kept.
MIN_CONFIDENCE = 0.6
#: At most this many records of each category per checkpoint (the most confident).
MAX_PER_CATEGORY = 20

_KINDS = (EventKind.PROMPT, EventKind.REASONING, EventKind.RESPONSE)
_EXCERPT_LIMIT = 600


@attrs.frozen(kw_only=True)
class Extracted:
    """What :func:`extract` found, each category in order of appearance."""

    decisions: tuple[Decision, ...] = ()
    alternatives: tuple[Alternative, ...] = ()
    constraints: tuple[Constraint, ...] = ()


class _Lazy:
    """A pattern compiled on first use.

    The extractor has some fifty patterns, and Python compiles long alternations slowly
    (tens of milliseconds in all, at every promotion's start-up); most drafts need few
    of them, as the word tests below skip the rest. The object stays what the module
    names (code compares patterns by identity); it forwards to the compiled pattern.
    """

    __slots__ = ("_args", "_compiled")

    def __init__(self, pattern: str, flags: int) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, attribute: str) -> Any:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(*self._args)
        return getattr(compiled, attribute)


def _lazy(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return cast("re.Pattern[str]", _Lazy(pattern, flags))


def normalise(text: str) -> str:
    """Lower case, letters and digits only, single spaces: how records are compared."""
    return " ".join(_WORD.findall(text.lower()))


_WORD = _lazy(r"[^\W_]+")
_I = re.IGNORECASE

# -- what is not prose --------------------------------------------------------------------

# Cheap tests on words before any pattern runs: most sentences (and most events) hold
# none of the words a pattern of a category needs, and Python's re is slow at long
# alternations. Words are ASCII bytes: bytes.translate is the fastest way to find them, and
# encoding with errors="replace" keeps one byte per character, so offsets still hold.
# Lower-cased as they are kept: one pass over the bytes, not two.
_WORD_BYTES = bytes(
    (c | 32) if (chr(c).isalpha() and c < 128) else 39 if c == 39 else 32 for c in range(256)
)


def _letters(text: str) -> bytes:
    """``text`` as lower-case ASCII letters and apostrophes, the rest spaces, same length."""
    return text.replace("\u2019", "'").encode("ascii", "replace").translate(_WORD_BYTES)


def _words(text: str) -> frozenset[bytes]:
    """The lower-case words of ``text``, ``won't`` and ``i'll`` whole."""
    return frozenset(_letters(text).split())


def _set(words: str) -> frozenset[bytes]:
    return frozenset(w.encode() for w in words.split())


# One of these in each pattern of its kind: a decision's label, "a better approach", a
# subject that commits ("I'll", "let's"), or a verb that chose ("going with", "used").
_DECISION_WORDS = _set(
    "decision decided verdict conclusion better simpler cleaner safer best right robust i'll"
    " will going let's let we'll i'm we're am using keeping went opted settled chose picked"
    " switched used kept replaced moved stuck opting settling sticking"
)
_ALTERNATIVE_WORDS = _set(
    "reject rejected discard discarded drop dropped against ruled gave abandoned considered"
    " thought looked tried evaluated weighed work won't didn't doesn't can't cannot not out non"
)
_CONSTRAINT_WORDS = _set(
    "must mustn't never always only just keep don't dont do avoid stop no zero without can't"
    " cannot shouldn't should may allowed isn't aren't has have need needs stay stays remain"
    " remains"
    " standard stdlib claude agents gemini contributing conventions styleguide cursorrules"
    " cursor windsurfrules copilot"
)
_RETRACT_WORDS = _set(
    "scratch never mind nevermind second reflection wrong forget actually revert reverting undo"
    " roll work"
)
_PROMPT_DECISION_WORDS = _set("let's let we'll will instead")


def _may_hold_records(text: str) -> bool:
    """Whether an agent's text holds a word some pattern needs."""
    return not _AGENT_WORDS.isdisjoint(_letters(text).split())


_PAYLOAD_KEY, _SEQ_KEY = ',"payload":', ',"seq":'
# A JSON escape: in a canonical line (ensure_ascii=False) each stands for a character
# that is no letter (a quote, a backslash, a control character).
_ESCAPE = _lazy(r"\\(?:u[0-9a-fA-F]{4}|.)", re.DOTALL)


def _line_may_hold_records(line: str) -> bool:
    """:func:`_may_hold_records` of an event's text, told from its stored line unparsed.

    Only the payload is read (``seq`` follows it, and nothing after that can hold the
    key): the words of the agent's and model's names ("claude", "gemini", "copilot")
    are rule-file words and would let every event of those agents through. Each escape
    becomes a space, as its character does in the text, so the payload has every word
    of the text: no event that may hold a record is skipped.
    """
    start, end = line.find(_PAYLOAD_KEY), line.rfind(_SEQ_KEY)
    if 0 <= start < end:
        line = line[start:end]
    if "\\" in line:
        line = _ESCAPE.sub(" ", line)
    return not _AGENT_WORDS.isdisjoint(_letters(line).split())


_FENCE = _lazy(r"^[ \t]*(```|~~~)")
# Markup blocks agents and their hosts wrap around material that is not the user's or
# the agent's own words: system reminders, command output, tool results.
_TAG_BLOCK = _lazy(r"<([A-Za-z][\w-]*)\b[^>\n]*>.*?</\1\s*>", re.DOTALL)
_LIST_ITEM = _lazy(r"^\s*(?:[-*+•]|\d{1,2}[.)])\s+")
_OUTPUT_LINE = _lazy(
    r"^\s*(?:E\s{2,}|FAILED\b|PASSED\b|ERROR\b|WARN(?:ING)?\b|INFO\b|DEBUG\b|CRITICAL\b"
    r"|Traceback \(most recent|File \"|[A-Z]\w*(?:Error|Exception|Warning)\b:|={3,}|-{3,}"
    r"|\+{3}|@@|diff --git|npm (?:ERR|WARN)|error(?:\[\w+\])?:|warning:|\[\d|\$ |>>>? |% "
    r"|\d{4}-\d\d-\d\d[ T]\d\d:|\d+ (?:passed|failed)\b|(?:not )?ok \d|\||>)"
)
_CODE_LINE = _lazy(
    r"\s*(?:(?:async\s+)?def \w+\(|class \w+[(:]|import [\w.]+\s*$|import [\w.]+ as |import \{"
    r"|from [\w.]+ import |return(?:\s+\S+)?;?\s*$|return\b.*[(\[{;]|raise \w+\(|await [\w.]+\("
    r"|(?:const|let|var)\s+\w+\s*[=:]|function\s*\w*\s*\(|export\s+(?:default|function|const"
    r"|class|interface|type)\b|(?:public|private|protected)\s+(?:static\s+)?\w+[\s<]"
    r"|fn \w+\s*[(<]|func \w+\s*\(|#include|(?:SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP)"
    r" [A-Z]|--\s|//|/\*|@\w+(?:\(|\s*$)|if .*:\s*$|for \w+(?:, \w+)* in .+:\s*$|elif |else:"
    r"|try:|except\b|with .+ as \w+:\s*$|[{}\])]|[\w.\[\]'\"]+\s*(?:[-+*/|&]?=|:=)\s*\S)"
)
# Deletes the characters code is full of, to count them.
_CODE_CHARS = str.maketrans("", "", "{}[]();=<>|&$\\")
# A line introducing pasted output or a list of options: what follows, up to the next
# blank line, is quoted material.
_INTRO = _lazy(
    r"\b(?:printed|prints|output|outputs|says|said|shows|showed|logs?|errors?|traceback"
    r"|stderr|stdout|returned|returns|gave|got|results?|reads|message|options|approaches"
    r"|alternatives|possibilities|choices|ideas)\b[^:\n]*:\s*$",
    _I,
)
# Where a sentence ends: . ! or ? before a space (people typing fast start the next one in
# lower case), a blank line, a list item, a heading, or a line ending in . ! ? or :.
_SENTENCE_END = _lazy(
    r"[.!?][\"')\]*_]*(?=\s+[\"'(`*_\[A-Za-z0-9])|[.!?:]\n"
    r"|\n(?:\s*\n|(?=\s*(?:[-*+•]|\d{1,2}[.)])\s|\s*#|\s*\*\*))"
)
_ABBREVIATION = _lazy(r"(?:\b(?:e\.g|i\.e|etc|vs|cf|approx|Mr|Dr|Mrs|Ms|No|al)|\.\.)\.$", _I)
_LEAD = _lazy(r"(?:\s+|[-*+•>]\s|#+\s|\d{1,2}[.)]\s|\*\*|__)+")
_MARKUP = _lazy(r"\*\*|__|(?<!\w)[*_](?=\w)|(?<=\w)[*_](?!\w)")
_INLINE_CODE_ONLY = _lazy(r"^`[^`]+`[\s.,;:!]*$")
_QUOTED = _lazy(r"\"[^\"\n]{1,200}\"|“[^”\n]{1,200}”")

# -- what makes a statement not a commitment ------------------------------------------------

_HYPOTHETICAL = _lazy(
    r"\b(?:if|unless|whether|we could|i could|you could|could (?:we|i|also)|might|maybe|perhaps"
    r"|possibly|probably|would|wouldn't|should (?:we|i)|what if|in theory|ideally|hopefully"
    r"|option \d+\s*:|approach \d+\s*:|one option|another option|alternatively|either"
    r"|considering|wondering|not sure|unsure|thinking about|weighing|depending)\b",
    _I,
)
_RATIONALE = _lazy(
    r"(?:,\s*|\s+[-\u2013\u2014]\s*|;\s*|\s+)(?<![\w-])(?:because|since|given that|so that"
    r"|as (?=it\b|it's\b|they\b|we\b|there\b|this is\b|that is\b)"
    r"|which (?=means|keeps|avoids|cuts|lets|makes))\s*"
    r"|,\s*so\s+(?!(?:I|we|I'll|we'll|let's|far|much|many)\b)"
    r"|\s+so\s+(?=(?:the|it|its|this|these|they|there|a|an|every|each|no|nothing|only)\b)",
    _I,
)
_SO_SUBJECT = _lazy(r"(?:^|[,;:]\s*|\s)(?:and\s+)?so,?\s*$", _I)

# -- decisions --------------------------------------------------------------------------------

_STRONG_VERB = (
    r"go with|going with|opt for|opting for|settle on|settling on|stick with|sticking with"
    r"|choose|pick|switch to|move to|standardi[sz]e on"
)
_SUBJECT = (
    r"(?:I'll|I will|I'm going to|I am going to|I've decided to|I decided to|we'll|we will"
    r"|we're going to|we are going to|we decided to|let's|let us|I'm|I am|we're)"
)
_DECISION_LABEL = _lazy(
    r"^(?:final |my |the )?(?:decision|decided|verdict|conclusion)\s*[:\-\u2013\u2014]\s*"
    r"(?P<x>\S.+)$",
    _I,
)
_BETTER = _lazy(
    r"\b(?:a|the)\s+(?:better|simpler|cleaner|safer|best|right|more robust)\s+"
    r"(?:approach|option|fix|solution|way|plan)(?:\s+here)?(?:\s*:\s*|\s+(?:is|would be)\s+"
    r"(?:to\s+)?)(?P<x>\S.+)$",
    _I,
)
_COMMIT = _lazy(
    rf"(?:^|(?<=[\s,;:(\u2014\u2013-]))(?P<subj>{_SUBJECT})\s+"
    rf"(?:(?:just|simply|instead|also|now|only|still|then|first)\s+)?"
    rf"(?P<verb>(?:{_STRONG_VERB})\b|(?!not\b|never\b|need\b|want\b"
    rf"|have to\b|try\b|look\b|check\b|read\b|search\b|see\b|start\b|think\b|first\b"
    rf"|going\b|wondering\b|thinking\b|not\b|sure\b|looking\b|checking\b|reading\b|able\b"
    rf"|done\b|here\b|glad\b|happy\b|sorry\b|afraid\b|run\b|open\b|inspect\b|examine\b"
    rf"|explore\b|investigate\b|verify\b|grep\b|view\b|review\b|debug\b|analy[sz]e\b"
    rf"|understand\b|figure\b|find\b|locate\b|begin\b|continue\b|proceed\b|test\b|mark\b"
    rf"|summari[sz]e\b|explain\b|answer\b|respond\b|report\b|wait\b|ask\b|confirm\b"
    rf"|double-check\b|rerun\b|re-run\b|also\b|get\b|go\b(?! with)|take a look\b)"
    rf"[a-z]+\b)(?P<x>.*)$",
    _I,
)
# Using a tool is no decision about the work ("I'll use the Read tool since ...").
_TOOL_USE = _lazy(
    r"(?:use|call|invoke)\s+(?:the\s+)?(?:\w+\s+)?(?:tool|command|grep|rg|ripgrep|bash|shell"
    r"|terminal|find|ls|cat|sed|todo ?write|todo list)\b",
    _I,
)
_GERUND = _lazy(
    r"^(?P<verb>going with|opting for|settling on|sticking with|using|keeping)\s+(?P<x>\S.+)$",
    _I,
)
_PAST = _lazy(
    r"^(?:I\s+|we\s+)?(?P<verb>went with|opted for|settled on|chose|picked|switched to"
    r"|used|kept|replaced|moved to|stuck with)\s+(?P<x>\S.+)$",
    _I,
)
_CHOSE_OVER = _lazy(r"\b(?:over|instead of)\s+(?P<y>.+)$", _I)
_INSTEAD_WORD = _lazy(r"\b(?:instead|rather than)\b", _I)
_INSTEAD_AFTER = _lazy(r",\s*(?:instead of|rather than)\s+(?P<y>\S.*)$", _I)
_INSTEAD = _lazy(r"\b(?:instead of|rather than)\s+(?P<y>\S.*)$", _I)
_PROMPT_DECISION = _lazy(
    r"^(?:(?:no|ok(?:ay)?|yes|right|then|sure|great|alright)\b[,.!]?\s*)?(?:let's|let us|we'll"
    r"|we will)\s+"
    rf"(?:{_STRONG_VERB}|use)\s+(?P<x>\S.+)$"
    r"|^(?:(?:no|nope|ok(?:ay)?|actually)\s*[,.!]\s*)?(?:please\s+)?(?P<verb>use|go with"
    r"|switch to|stick with|do|try|fetch|keep|make)\s+(?P<x2>\S.+?)\s+instead\b.*$",
    _I,
)

# -- alternatives -----------------------------------------------------------------------------

_REJECT = _lazy(
    r"\b(?:I(?:'ll| will)?|we(?:'ll| will)?)\s+(?:reject|rejected|discard|discarded|drop|dropped)"
    r"\s+(?P<x>(?:the\s+)?(?:\w+\s+){0,3}?(?:option|approach|idea|alternative|plan|proposal"
    r"|suggestion|solution|design)\b.*?|(?:using|adding|switching|moving|keeping)\b.*?)"
    r"(?:(?:,\s*|\s+)(?:because|since|as)\s+(?P<why>.+))?$",
    _I,
)
_AGAINST = _lazy(
    r"\b(?:decided against|ruled out|dropped the idea of|gave up on|abandoned|I'm against"
    r"|we're against)\s+(?P<x>\w.*?)(?:(?:,\s*|\s+)(?:because|since|as)\s+(?P<why>.+))?$",
    _I,
)
_CONSIDERED = _lazy(
    r"\b(?:I|we)\s+(?:considered|thought about|looked at|tried|evaluated|weighed)\s+"
    r"(?P<x>\w.*?),?\s+but\s+(?P<why>.+)$",
    _I,
)
_WONT_WORK = _lazy(
    r"^(?P<x>\S.*?)\s+(?:won't|will not|doesn't|does not|didn't|did not|can't|cannot)\s+work"
    r"(?:\s+(?:here|for us|either))?(?:(?:,\s*|\s+)(?:because|since|as)\s+(?P<why>.+)|\s*$)",
    _I,
)
_IS_OUT = _lazy(
    r"^(?P<x>\S.*?)\s+(?:is|are)\s+(?:out|ruled out|not an option|a non-starter)"
    r"(?:(?:,\s*|\s+)(?:because|since|as)\s+(?P<why>.+))?$",
    _I,
)
_WONT_USE = _lazy(
    r"\b(?:I|we)\s+(?:won't|will not|didn't|did not|am not going to|'m not going to"
    r"|are not going to|'re not going to)\s+(?P<verb>use|switch|add|go with|adopt|introduce"
    r"|pull in|move|rewrite|migrate|depend on)\b\s*(?P<x>.*?)(?:,\s*|\s+)(?:because|since|as)"
    r"\s+(?P<why>.+)$",
    _I,
)
# What "X won't work" must name to be a rejected approach rather than a bug report ("the
# login won't work because ..."), unless an earlier decision of the session names it.
_APPROACH = _lazy(
    r"^(?:just\s+|simply\s+)?\w+ing\b|\b(?:approach|option|idea|plan|solution|fix|workaround"
    r"|trick|hack|strategy|alternative)\b",
    _I,
)
_ALTERNATIVE_PATTERNS = (
    (_REJECT, _set("reject rejected discard discarded drop dropped"), 0.85),
    (_AGAINST, _set("against ruled dropped gave abandoned"), 0.85),
    (_CONSIDERED, _set("considered thought looked tried evaluated weighed"), 0.85),
    (_WONT_USE, _set("won't didn't not"), 0.8),
    (_IS_OUT, _set("out non"), 0.8),
    (_WONT_WORK, _set("work"), 0.8),
)
_PRONOUN = _lazy(r"^(?:(?:wait|hmm|but|no|ok|okay|actually|so)[,.!]?\s+)*(?:that|this|it)$", _I)

# -- constraints ------------------------------------------------------------------------------

_RULE_FILE = _lazy(
    r"(?:\b(?:CLAUDE|AGENTS|GEMINI|CONTRIBUTING|CONVENTIONS|STYLEGUIDE|STYLE_GUIDE)(?:\.md)?\b"
    r"|\.cursorrules\b|\.cursor/rules\b|copilot-instructions(?:\.md)?|\.windsurfrules\b)"
)
_RULE_VERB = _lazy(
    r"(?:\bsays?\b|\brequires?\b|\basks?\b|\bstates?\b|\bwants?\b|\bmandates?\b|\bforbids?\b"
    r"|\binsists?\b|\bper\b|\baccording to\b|\bspells out\b|:)\s*(?:that\s+|to\s+|us\s+to\s+)?"
    r"\w+\W+\w+",
    _I,
)
_EPISTEMIC = _lazy(
    r"\bmust (?:have\b|be (?:a|an|the|due|caused|because|coming|from|something|related|why"
    r"|what|where|happening|it|that|this)\b)",
    _I,
)
_PROMPT_LEAD = _lazy(r"^(?:(?:and|also|but|oh|plus|then|ok(?:ay)?|please|thanks)[,!]?\s+)+", _I)
_PROHIBITION = _lazy(
    r"^(?:don'?t|do not|never|avoid|no need to)\b(?!\s+(?:worry|bother|forget|hesitate|know"
    r"|think|understand|see|get it|mind|care))",
    _I,
)
_CLAUSE = _lazy(r"[,;]\s+(?:and\s+|but\s+)?|\s+(?:and|but)\s+(?=don't|do not|never)", _I)
_ALWAYS = _lazy(r"^(?:always|only|just)\s+(?!(?:a|the|one|two)\b)\w+", _I)
_KEEP = _lazy(r"^keep\s+(?!going\b|looking\b|trying\b|digging\b|at it\b|in mind\b|it up\b)\w+", _I)
_MUST = _lazy(r"\bmust(?:n't| not| never| always)?\s+\w+", _I)
_RULE_ANYWHERE = _lazy(
    r"\bwithout\s+(?:changing|breaking|touching|modifying|altering|adding|introducing|removing"
    r"|renaming|regex|any new|new)\b"
    r"|\b(?:no|zero)\s+(?:new|extra|additional|external|third[- ]party|more)\s+(?:dependenc\w*"
    r"|deps|packages|libraries|services|infrastructure|endpoints?|tables?|columns?)\b"
    r"|\b(?:can't|cannot|must not|mustn't|shouldn't|should not|may not|(?:are|is)n't allowed to"
    r"|(?:are|is) not allowed to)\s+(?:add|change|touch|modify|use|break|remove|rename"
    r"|introduce|depend|bump|install|edit|alter|upgrade|drop|log|print|store|expose)\b"
    r"|\b(?:has|have|needs?) to (?:stay|remain|keep|be kept|keep working)\b"
    r"|\b(?:stays?|remains?) (?:backwards?[- ])?compatible\b"
    r"|\b(?:standard library only|stdlib only|only the standard library)\b",
    _I,
)
_AGENT_RULE = _lazy(
    r"\b(?:I|we)\s+(?:must not|mustn't|must never|can't|cannot|shouldn't|should not|may not"
    r"|am not allowed to|are not allowed to)\s+(?:add|change|touch|modify|use|break|remove"
    r"|rename|introduce|log|write|store|print|expose|leak|edit|bump|depend|alter|drop)\b"
    r"|^must(?: not| never)?\s+\w+"
    r"|^(?:the|this|our|every|each|all|any)\b[\w\s`.'/-]{1,60}?\bmust (?:not|never)\s+\w+",
    _I,
)
_RULE_FILE_WORDS = _set(
    "claude agents gemini contributing conventions styleguide style cursorrules cursor"
    " windsurfrules copilot"
)
_RULE_ANYWHERE_WORDS = _set(
    "without no zero can't cannot must mustn't shouldn't should may aren't isn't not has have"
    " need needs stay stays remain remains standard stdlib only"
)
_AGENT_RULE_WORDS = _set("must mustn't can't cannot shouldn't should may allowed")
_AGENT_GATE = _AGENT_RULE_WORDS | _RULE_FILE_WORDS
# The words a sentence must hold one of to be read at all, by who wrote it.
_PROMPT_WORDS = _PROMPT_DECISION_WORDS | _ALTERNATIVE_WORDS | _CONSTRAINT_WORDS
_AGENT_WORDS = _DECISION_WORDS | _ALTERNATIVE_WORDS | _AGENT_GATE | _RETRACT_WORDS
_RESTATED_WORDS = _set("user user's you requested asked prompt request")
_LABEL_WORDS = _set("decision decided verdict conclusion")
_BETTER_WORDS = _set("better simpler cleaner safer best right robust")
_COMMIT_WORDS = _set("i'll will i'm going we'll let's let we're am decided")
_HYPOTHETICAL_WORDS = _set(
    "if unless whether might maybe perhaps possibly probably would wouldn't ideally hopefully"
    " alternatively either considering wondering unsure weighing depending"
)
_HYPOTHETICAL_HINTS = _set("could should what theory option approach sure thinking")


def _hypothetical(text: str, words: frozenset[bytes] | None = None) -> bool:
    """Whether ``text`` hedges, asks or supposes ("we could", "if", "maybe", "option 2:")."""
    words = _words(text) if words is None else words
    if not words.isdisjoint(_HYPOTHETICAL_WORDS):
        return True
    return not words.isdisjoint(_HYPOTHETICAL_HINTS) and _HYPOTHETICAL.search(text) is not None


_RESTATED = _lazy(
    r"\b(?:the user|user's|you asked|you said|you wanted|as requested|as asked|the prompt"
    r"|the request)\b",
    _I,
)

# -- plans that were dropped -------------------------------------------------------------------

_RETRACT = _lazy(
    r"\b(?:scratch that|on second thought|on reflection|I was wrong"
    r"|(?<![\w'] )(?<![\w'])(?:never ?mind|forget (?:that|it))\b(?! the\b)"
    r"|actually,? (?:no\b|let's not|let me not|I won't|I shouldn't|that's wrong|that won't)"
    r"|(?:I'll|I will|let me|I'm going to|I am going to) (?:revert|undo|back out|roll back)"
    r"|I'm reverting|reverting (?:that|this|my|the)|undo (?:that|this|my)"
    r"|back (?:that|this) out|(?:that|this)(?: approach| plan| idea)? (?:won't|doesn't|didn't"
    r"|does not|did not|will not) work)",
    _I,
)
_USER_NO = _lazy(
    r"^(?:no|nope|don't do that|do not do that|that's wrong|that is wrong|stop)\b[\s,.!]", _I
)


@attrs.frozen
class _Sentence:
    event: Event
    start: int
    end: int
    text: str  # without list markers and emphasis, for matching
    order: int
    words: frozenset[bytes]


@attrs.frozen
class _Found:
    category: str  # decision, alternative, constraint
    text: str
    why: str | None
    confidence: float
    sentence: _Sentence
    weak: bool = False  # kept only if it names an earlier decision of the session
    exclusive: bool = False  # the sentence turns something down: no decision in it


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with each span replaced by spaces (newlines kept), so offsets still hold."""
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            start = last
        if start >= end:
            continue
        out.append(text[last:start])
        out.append(re.sub(r"[^\n]", " ", text[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out)


def _looks_like_code(line: str) -> bool:
    stripped = line.strip()
    if not stripped:
        return False
    if line.startswith(("    ", "\t")) and not _LIST_ITEM.match(line):
        return True
    if stripped.endswith((";", "{")) or _CODE_LINE.match(line) or _OUTPUT_LINE.match(line):
        return True
    size = len(stripped)
    return size >= 12 and size - len(stripped.translate(_CODE_CHARS)) > 0.12 * size


def _prose(text: str) -> str:
    """``text`` with code, pasted output and quoted blocks blanked out."""
    spans = [m.span() for m in _TAG_BLOCK.finditer(text)] if "</" in text else []
    fences = "```" in text or "~~~" in text
    offset, fence, quoting = 0, False, False
    for line in text.splitlines(keepends=True):
        start, end = offset, offset + len(line)
        offset = end
        if fences and _FENCE.match(line):
            fence = not fence
            spans.append((start, end))
            continue
        if fence:
            spans.append((start, end))
            continue
        if not line.strip():
            quoting = False
            continue
        if quoting or _looks_like_code(line):
            spans.append((start, end))
            continue
        if line.rstrip().endswith(":") and _INTRO.search(line):
            quoting = True
    return _blank(text, spans) if spans else text


def _sentences(event: Event, text: str, order: int) -> Iterator[_Sentence]:
    gate = _PROMPT_WORDS if event.kind == EventKind.PROMPT else _AGENT_WORDS
    # The cheapest test first, on the whole text: a sentence's words are words of the
    # text (code is blanked out whole lines and tags at a time, sentences end after
    # punctuation or a newline), so a text without a gate word has no sentence to read.
    if gate.isdisjoint(_letters(text).split()):
        return
    prose = _prose(text)
    letters = _letters(prose)
    size = len(prose)
    begin = 0
    ends = [m.end() for m in _SENTENCE_END.finditer(prose)]
    ends.append(size)
    for cut in ends:
        if cut != size:
            window = prose[max(begin, cut - 8) : cut].rstrip()
            if window.endswith(".") and _ABBREVIATION.search(window):
                continue  # "e.g." ends no sentence
        # The cheap test first: most sentences hold no word any pattern needs.
        if gate.isdisjoint(letters[begin:cut].split()):
            begin = cut
            continue
        piece = prose[begin:cut]
        start = begin + len(piece) - len(piece.lstrip())
        lead = _LEAD.match(prose, start)
        if lead:
            start = lead.end()
        end = begin + len(piece.rstrip())
        begin = cut
        if end - start < 8:
            continue
        raw = text[start:end]
        if "*" in raw or "_" in raw:
            raw = _MARKUP.sub("", raw)
        clean = " ".join(raw.replace("\u2019", "'").split())
        words = clean.count(" ") + 1
        if words < 3 or words > 80 or clean.rstrip(" \"')]*_").endswith("?"):
            continue
        if clean.startswith("`") and _INLINE_CODE_ONLY.match(clean):
            continue
        yield _Sentence(event, start, end, clean, order, frozenset(letters[start:end].split()))
        order += 1


def _trim(text: str) -> str:
    return text.strip().strip(" ,;:\u2014\u2013-").rstrip(".!").strip()


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _split_why(x: str) -> tuple[str, str | None]:
    match = _RATIONALE.search(x)
    if match is None or match.start() < 3:
        return _trim(x), None
    why = _trim(x[match.end() :])
    return _trim(x[: match.start()]), why or None


def _decision(s: _Sentence, kind: str) -> list[_Found]:
    """The decision ``s`` states, and the alternatives it turns down in passing."""
    text = s.text
    w = s.words
    if w.isdisjoint(_PROMPT_DECISION_WORDS if kind == EventKind.PROMPT else _DECISION_WORDS):
        return []
    found: list[_Found] = []
    what: str | None = None
    why: str | None = None
    confidence = 0.0
    head = text
    if kind == EventKind.PROMPT:
        m = _PROMPT_DECISION.search(text)
        if m is None:
            return []
        what = m.group("x") or f"{m.group('verb')} {m.group('x2')} instead"
        what, why = _split_why(what)
        confidence = 0.8
        head = text
    elif not w.isdisjoint(_LABEL_WORDS) and (m := _DECISION_LABEL.match(text)):
        what, why = _split_why(m.group("x"))
        confidence, head = 0.95, ""
    elif not w.isdisjoint(_BETTER_WORDS) and (m := _BETTER.search(text)):
        what, why = _split_why(m.group("x"))
        confidence, head = 0.8, text[: m.start("x")]
        head = re.sub(r"\bwould be\b", "", head, flags=_I)
    elif not w.isdisjoint(_COMMIT_WORDS) and (m := _COMMIT.search(text)):
        prefix = text[: m.start()]
        verb = m.group("verb")
        if verb.lower() in ("reject", "discard", "drop") and _REJECT.search(text):
            return []  # turning an option down: an alternative
        what, why = _split_why(verb + m.group("x"))
        strong = re.match(_STRONG_VERB, verb, _I) is not None
        so = _SO_SUBJECT.search(prefix)
        if why is None and so is not None and so.start() > 8:
            why = _trim(prefix[: so.start()])
            prefix = ""
        reasoned = why is not None or _INSTEAD_WORD.search(what) is not None
        progressive = m.group("subj").lower() in ("i'm", "i am", "we're")
        if progressive and not strong and not (verb.lower().endswith("ing") and reasoned):
            return []
        confidence = 0.85 if strong else (0.75 if reasoned else 0.5)
        if why is not None and strong:
            confidence = 0.9
        head = prefix + " " + what  # what the sentence commits to, without its reason
    elif (m := _GERUND.match(text)) or (m := _PAST.match(text)):
        verb = m.group("verb").lower()
        what, why = _split_why(m.group("verb") + " " + m.group("x"))
        plain = verb in ("using", "keeping", "used", "kept", "replaced")
        reasoned = why is not None or _INSTEAD_WORD.search(what) is not None
        if plain and not reasoned:
            return []
        confidence = 0.8 if not plain else 0.7
        head = what
    else:
        return []
    if head and _hypothetical(head):
        return []
    what = _trim(what or "")
    if len(what) < 3 or _TOOL_USE.match(what):
        return []
    over = _CHOSE_OVER.search(what) if re.match(r"chose|picked|prefer", what, _I) else None
    instead = over or _INSTEAD.search(what)
    if instead is None and why and (instead := _INSTEAD_AFTER.search(why)):
        why = _trim(why[: instead.start()]) or None  # "X, since Y, rather than Z"
    if instead is not None:
        other = _trim(re.split(r"[,;]|\s[-\u2013\u2014]\s", instead.group("y"))[0])
        if len(other) >= 3 and not _hypothetical(other):
            found.append(_Found("alternative", _cap(other), why, confidence - 0.05, s))
    found.insert(0, _Found("decision", _cap(what), why, confidence, s))
    return found


def _alternative(s: _Sentence) -> _Found | None:
    text = s.text
    if s.words.isdisjoint(_ALTERNATIVE_WORDS):
        return None
    for pattern, needs, confidence in _ALTERNATIVE_PATTERNS:
        if s.words.isdisjoint(needs):
            continue
        m = pattern.search(text)
        if m is None:
            continue
        x = _trim(m.group("x"))
        why = m.groupdict().get("why")
        head = text[: m.start("why")] if why else text
        if _hypothetical(head):
            return None
        if pattern is _WONT_USE:
            x = f"{m.group('verb')} {x}".strip()
        exclusive = pattern in (_WONT_USE, _IS_OUT, _WONT_WORK, _REJECT)
        if pattern in (_WONT_WORK, _IS_OUT):
            x = re.sub(r"^(?:(?:wait|hmm|but|no|ok|okay|actually|so)[,.!]?\s+)+", "", x, flags=_I)
        weak = pattern is _WONT_WORK and not _APPROACH.search(x) and not _PRONOUN.match(x)
        return _Found(
            "alternative",
            _cap(x),
            _trim(why) if why else None,
            confidence,
            s,
            weak=weak,
            exclusive=exclusive,
        )
    return None


def _constraint(s: _Sentence, kind: str) -> _Found | None:
    text = s.text
    w = s.words
    if w.isdisjoint(_CONSTRAINT_WORDS if kind == EventKind.PROMPT else _AGENT_GATE):
        return None
    if kind != EventKind.PROMPT and ('"' in text or "\u201c" in text) and _QUOTED.search(text):
        return None  # quoting someone (an error message, the user) is no rule of its own
    if not w.isdisjoint(_RULE_FILE_WORDS) and _RULE_FILE.search(text) and _RULE_VERB.search(text):
        return _Found("constraint", _trim(text), "repository", 0.85, s)
    if _hypothetical(text, w) or (b"must" in w and _EPISTEMIC.search(text)):
        return None
    if kind == EventKind.PROMPT:
        body = _PROMPT_LEAD.sub("", text)
        if _PROHIBITION.match(body) or any(
            _PROHIBITION.match(clause) for clause in _CLAUSE.split(body)[1:]
        ):
            confidence = 0.85
        elif (
            (not w.isdisjoint(_RULE_ANYWHERE_WORDS) and _RULE_ANYWHERE.search(body))
            or (b"must" in w and _MUST.search(body))
            or _ALWAYS.match(body)
        ):
            confidence = 0.8
        elif _KEEP.match(body):
            confidence = 0.75
        else:
            return None
        return _Found("constraint", _cap(_trim(body)), "user", confidence, s)
    if w.isdisjoint(_AGENT_RULE_WORDS):
        return None
    if not w.isdisjoint(_RESTATED_WORDS) and _RESTATED.search(text):
        return None  # the prompt holds the user's own words
    if kind == EventKind.REASONING and _AGENT_RULE.search(text):
        return _Found("constraint", _cap(_trim(text)), "agent", 0.7, s)
    return None


class _Mentions:
    """Finds the files (path or basename) and symbols (name) a sentence names."""

    def __init__(self, files: Sequence[str], symbols: Sequence[str]) -> None:
        names: dict[str, list[str]] = {}
        for path in files:
            names.setdefault(path, []).append(path)
            base = path.rsplit("/", 1)[-1]
            if base != path:
                names.setdefault(base, []).append(path)
        self._plain: set[str] = set()
        for symbol in symbols:
            _, sep, name = symbol.partition("::")
            if not sep or len(name) < 3:
                continue
            names.setdefault(name, []).append(symbol)
            if not re.search(r"[_.\dA-Z]", name):
                self._plain.add(name)  # an English word too: only in `code` or as a call
            last = name.rsplit(".", 1)[-1]
            if last != name and len(last) >= 4 and re.search(r"[_\dA-Z]", last[1:]):
                names.setdefault(last, []).append(symbol)
        self._names = {k: tuple(dict.fromkeys(v)) for k, v in names.items()}

    def __call__(self, text: str) -> tuple[str, ...]:
        if not self._names:
            return ()
        out: dict[str, None] = {}
        for m in _NAME_TOKEN.finditer(text):
            token = m.group().rstrip(".-/")
            name = token if token in self._names else token.rsplit(".", 1)[-1]
            if name not in self._names:
                continue
            if name in self._plain:
                end = m.start() + len(token)
                before, after = text[m.start() - 1 : m.start()], text[end : end + 1]
                if not (before == after == "`" or after == "("):
                    continue
            targets = self._names[name]
            full = [t for t in targets if t == name or t.endswith("::" + name)]
            if len(targets) > 1 and not full:
                continue  # a basename two files share names neither
            for target in full or targets:
                out.setdefault(target, None)
        return tuple(out)


# What may name a file or a symbol: word characters, dots, slashes and dashes.
_NAME_TOKEN = _lazy(r"[\w./-]+")


def _candidates(events: Sequence[Event]) -> Iterator[Event]:
    """The prompt, reasoning and response events that may hold a record."""
    if isinstance(events, Transcript):
        lines = events.lines
        for index, kind in enumerate(events.kinds):
            # Every prompt: it starts a turn, and a user's "No" ends the last one.
            if kind == EventKind.PROMPT or (
                kind in _KINDS and _line_may_hold_records(lines[index])
            ):
                yield events[index]  # kept, or not, by the transcript: see summary.wanted
        return
    for event in events:
        if event.kind in _KINDS:
            text = event.payload.get("text")
            if isinstance(text, str) and (
                event.kind == EventKind.PROMPT or _may_hold_records(text)
            ):
                yield event


# How many of a session's latest decisions a later statement may drop.
_LOOKBACK = 32
_FILLER = frozenset(
    {"a", "an", "the", "to", "of", "in", "on", "for", "with", "and", "or", "it", "this", "that"}
    | {"go", "use", "using", "add", "keep", "switch"}
)


def _content_words(text: str) -> frozenset[str]:
    return frozenset(normalise(text).split()) - _FILLER


def _named(past: list[tuple[int, frozenset[str]]], alternative: str) -> set[int]:
    """The recent decisions ``alternative`` turns down (most of their words shared)."""
    words = _content_words(alternative)
    if not words:
        return set()
    return {
        i
        for i, chosen in past
        if chosen and len(words & chosen) / min(len(words), len(chosen)) >= 0.6
    }


def _record_id(event_id: str, category: str, text: str) -> str:
    digest = hashlib.sha256(f"{event_id}\0{category}\0{normalise(text)}".encode()).hexdigest()
    return "x-" + digest[:16]


def extract(
    events: Sequence[Event],
    *,
    files: Sequence[str] = (),
    symbols: Sequence[str] = (),
    min_confidence: float = MIN_CONFIDENCE,
    limit: int = MAX_PER_CATEGORY,
) -> Extracted:
    """Find the decisions, rejected alternatives and constraints stated in ``events``.

    ``files`` (paths) and ``symbols`` (``path::name``) are what a record's
    ``applies_to`` may name. Records below ``min_confidence`` are left out, and at most
    ``limit`` of each category are kept (the most confident, earliest first on ties),
    in order of appearance. A decision the same session later drops ("scratch that",
    "I'll revert", a user's "No, ..."; or an alternative that rejects it) is left out;
    of records with the same normalised text the first is kept.
    """
    mentions = _Mentions(files, symbols)
    found: list[_Found] = []
    dropped: set[int] = set()
    # Per session: the decisions still standing (index into found, with their words),
    # and those of the agent's turn since the last prompt.
    history: dict[str, list[tuple[int, frozenset[str]]]] = {}
    turn: dict[str, list[int]] = {}
    order = 0

    def drop(past: list[tuple[int, frozenset[str]]], gone: set[int]) -> None:
        dropped.update(gone)
        past[:] = [entry for entry in past if entry[0] not in gone]

    for event in _candidates(events):
        text = event.payload.get("text")
        if not isinstance(text, str):
            continue
        kind, session = event.kind, event.session_id
        past = history.setdefault(session, [])
        if kind == EventKind.PROMPT:
            if _USER_NO.match(_PROMPT_LEAD.sub("", text.lstrip())):
                drop(past, set(turn.get(session, ())))
            turn[session] = []
        this_turn = turn.setdefault(session, [])
        for s in _sentences(event, text, order):
            order = s.order + 1
            retract = (
                kind != EventKind.PROMPT
                and not s.words.isdisjoint(_RETRACT_WORDS)
                and _RETRACT.search(s.text) is not None
            )
            undone: _Found | None = None
            if retract and past:
                undone = found[past[-1][0]]
                drop(past, {i for i, _ in past if found[i].sentence.order == undone.sentence.order})
            alternative = _alternative(s)
            records = [] if alternative and alternative.exclusive else _decision(s, kind)
            if retract and records and records[0].text.lower().startswith(("revert", "undo")):
                records = []
            if len(records) > 1:
                alternative = None  # "X instead of Y" already named what was turned down
            if alternative is not None and undone is not None and _PRONOUN.match(alternative.text):
                alternative = attrs.evolve(alternative, text=undone.text)
            if alternative is not None:
                alternative = _resolve_option(alternative, text)
            if (
                alternative is not None
                and not _PRONOUN.match(alternative.text)
                and (not alternative.weak or _named(past, alternative.text))
            ):
                records.append(alternative)
            for record in records:
                if record.category == "alternative":  # a later rejection drops the choice
                    drop(past, _named(past, record.text))
            constraint = _constraint(s, kind)
            if constraint is not None:
                records.append(constraint)
            for record in records:
                index = len(found)
                found.append(record)
                if record.category == "decision":
                    past.append((index, _content_words(record.text)))
                    this_turn.append(index)
                    if len(past) > _LOOKBACK:  # what is older stays, whatever comes later
                        del past[0]
    return _select(found, dropped, mentions, min_confidence, limit)


# "option 2", "approach B": a reference to a choice the same text enumerated.
_OPTION_REF = _lazy(r"(?:the\s+)?(?:option|approach|alternative)\s+(\w{1,3})", _I)


def _resolve_option(found: _Found, text: str) -> _Found:
    """ "Option 1" becomes "Option 1 (apply VAT per item)" when the text listed option 1.

    The listing is looked for as ``1) X``, ``1. X``, ``(1) X`` or ``Option 1: X``; the
    described choice runs to the next listed item or the end of its sentence.
    """
    m = _OPTION_REF.fullmatch(found.text.strip())
    if m is None:
        return found
    label = re.escape(m.group(1))
    listed = re.search(
        rf"(?:^|[\s(:;])(?:\(?{label}\)|{label}\.|(?:option|approach|alternative)\s+{label}\s*:)"
        rf"\s+(?P<x>[^\n]+?)(?=,?\s+(?:\(?\w\)|\d{{1,2}}\.)\s|[.;](?:\s|$)|$)",
        text,
        _I | re.M,
    )
    if listed is None:
        return found
    what = _trim(listed.group("x")).rstrip(",")
    if not what or len(what) > 200:
        return found
    return attrs.evolve(found, text=f"{found.text} ({what})")


def _select(
    found: list[_Found],
    dropped: set[int],
    mentions: _Mentions,
    min_confidence: float,
    limit: int,
) -> Extracted:
    seen: set[tuple[str, str]] = set()
    kept: dict[str, list[tuple[int, _Found]]] = {
        "decision": [],
        "alternative": [],
        "constraint": [],
    }
    for index, record in enumerate(found):
        confidence = round(min(max(record.confidence, 0.0), 1.0), 2)
        if index in dropped or confidence < min_confidence:
            continue
        key = (record.category, normalise(record.text))
        if key in seen:
            continue
        seen.add(key)
        kept[record.category].append((index, record))
    chosen = {
        category: sorted(sorted(rows, key=lambda r: (-r[1].confidence, r[0]))[:limit])
        for category, rows in kept.items()
    }
    decisions: list[Decision] = []
    alternatives: list[Alternative] = []
    constraints: list[Constraint] = []
    for category, rows in chosen.items():
        for _, record in rows:
            s = record.sentence
            excerpt = s.event.payload["text"][s.start : s.end][:_EXCERPT_LIMIT]
            evidence = Evidence.of(s.event, excerpt)
            applies_to = mentions(excerpt)
            confidence = round(min(max(record.confidence, 0.0), 1.0), 2)
            record_id = _record_id(s.event.event_id, category, record.text)
            if category == "decision":
                decisions.append(
                    Decision(
                        text=record.text,
                        rationale=record.why,
                        source="extracted",
                        applies_to=applies_to,
                        evidence=evidence,
                        confidence=confidence,
                        record_id=record_id,
                    )
                )
            elif category == "alternative":
                alternatives.append(
                    Alternative(
                        text=record.text,
                        reason=record.why,
                        source="extracted",
                        applies_to=applies_to,
                        evidence=evidence,
                        confidence=confidence,
                        record_id=record_id,
                    )
                )
            else:
                constraints.append(
                    Constraint(
                        text=record.text,
                        stated_by=record.why,
                        source="extracted",
                        applies_to=applies_to,
                        evidence=evidence,
                        confidence=confidence,
                        record_id=record_id,
                    )
                )
    return Extracted(
        decisions=tuple(decisions), alternatives=tuple(alternatives), constraints=tuple(constraints)
    )
