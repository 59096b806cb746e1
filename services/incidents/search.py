"""The pupil picker: find a pupil by any part of a name, a preferred name or a UPN, forgiving the
typos of a hurried teacher ("Jhon Smtih" finds John Smith).

Each service process keeps an index of each school's on-roll pupils in memory, so a keystroke costs
one primary-key read (the school's `roll_version`) and some dictionary work, never a scan of the
pupils table. Any change to a pupil through the ORM gives the school a fresh `roll_version` (see
`_note_roll_changes`), and an index whose version no longer matches is rebuilt on the next search.
Code that changes pupils with a bulk UPDATE/INSERT statement must call `roll_changed` itself.

Ranking, per word typed: the exact name part > a name part starting with it > a name part
containing it > a name part within one typo (two for words of 8 letters or more) > a name part
starting with something within those typos. A pupil must match every word; ties go in roll order
(surname, then forename).
"""
from __future__ import annotations

import heapq
import re
import threading
import unicodedata
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from services.common.actor import Actor

from .models import Pupil, School

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
MAX_WORDS = 6
MAX_QUERY_CHARS = 200
MAX_CACHED_SCHOOLS = 64

EXACT, PREFIX, INFIX, FUZZY, FUZZY_PREFIX = 100, 80, 50, 40, 30
INFIX_MIN, FUZZY1_MIN, FUZZY2_MIN = 3, 4, 8  # word lengths from which each kind of match is tried

_APOSTROPHES = dict.fromkeys(map(ord, "'’‘`´ʼ"), None)
# Letters NFKD does not decompose, spelt the way a teacher would type them on an English keyboard.
_LETTERS = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i"})
_SEPARATORS = re.compile(r"[\W_]+")
_END = "\uffff"  # sorts after every character a folded name can hold


def fold(text: str) -> str:
    """Lower case, accents and apostrophes gone: "Zoë O'Brien" → "zoe obrien"."""
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    return "".join(c for c in text if not unicodedata.combining(c)).casefold().translate(_LETTERS)


def words(text: str) -> list[str]:
    return [w for w in _SEPARATORS.split(fold(text)) if w]


def name_tokens(text: str) -> set[str]:
    """A name's searchable parts; a double-barrelled name is also kept joined ("smith-jones" →
    smith, jones, smithjones) so typing it either way finds it."""
    parts = words(text)
    return {*parts, "".join(parts)} if len(parts) > 1 else set(parts)


def allowed_typos(word: str) -> int:
    return 2 if len(word) >= FUZZY2_MIN else 1 if len(word) >= FUZZY1_MIN else 0


# --- keeping the index fresh ------------------------------------------------------------------

def roll_changed(session: Session, school_ids: Iterable[int]) -> None:
    """Give these schools a new roll version (in the caller's transaction): their indexes are stale."""
    ids = sorted({i for i in school_ids if i is not None})
    if ids:
        session.connection().execute(
            update(School.__table__).where(School.__table__.c.id.in_(ids)).values(roll_version=uuid.uuid4().hex))


@event.listens_for(Session, "after_flush")
def _note_roll_changes(session: Session, flush_context) -> None:
    # After a flush the session still lists what it has just written as new, dirty and deleted.
    schools = {obj.school_id for obj in session.new if isinstance(obj, Pupil)}
    schools |= {obj.school_id for obj in session.deleted if isinstance(obj, Pupil)}
    schools |= {obj.school_id for obj in session.dirty
                if isinstance(obj, Pupil) and session.is_modified(obj, include_collections=False)}
    roll_changed(session, schools)


# --- the index --------------------------------------------------------------------------------

class RollIndex:
    """One school's on-roll pupils, ready for searching: name parts in sorted order (prefix ranges
    by bisection, typos by walking the sorted list as a trie), each with the pupils holding it."""

    def __init__(self, version: str, rows: Iterable[tuple]):
        self.version = version
        self.pupils: dict[int, dict] = {}
        holders: dict[str, list[int]] = {}
        order = []
        upns = []
        for pid, legal_forename, legal_surname, preferred_forename, preferred_surname, year, form, upn in rows:
            forename, surname = preferred_forename or legal_forename, preferred_surname or legal_surname
            found = {"id": pid, "name": f"{forename} {surname}", "year_group": year, "form": form, "upn": upn}
            legal_name = f"{legal_forename} {legal_surname}"
            if legal_name != found["name"]:
                found["legal_name"] = legal_name
            self.pupils[pid] = found
            order.append((fold(surname), fold(forename), pid))
            upns.append((fold(upn), pid))
            tokens: set[str] = set()
            for part in (legal_forename, legal_surname, preferred_forename, preferred_surname):
                if part:
                    tokens |= name_tokens(part)
            for token in tokens:
                holders.setdefault(token, []).append(pid)
        order.sort()
        self.roll_order = [pid for *_, pid in order]
        self.rank = {pid: n for n, pid in enumerate(self.roll_order)}
        self.vocab = sorted(holders)
        self.holders = [holders[t] for t in self.vocab]
        self.blob = "\n".join(self.vocab)  # for "contains" matches at C speed
        self.starts, at = [], 0
        for token in self.vocab:
            self.starts.append(at)
            at += len(token) + 1
        upns.sort()
        self.upn_keys = [u for u, _ in upns]
        self.upn_pupils = [pid for _, pid in upns]

    def __len__(self) -> int:
        return len(self.pupils)

    def search(self, q: str, limit: int) -> list[dict]:
        typed = words(q[:MAX_QUERY_CHARS])[:MAX_WORDS]
        if not typed:
            return [self.pupils[pid] for pid in self.roll_order[:limit]]
        total: dict[int, int] | None = None
        for word in sorted(typed, key=len, reverse=True):  # the longest word usually narrows most
            scores = self._match(word)
            if total is None:
                total = scores
            else:
                small, large = (total, scores) if len(total) <= len(scores) else (scores, total)
                total = {pid: s + large[pid] for pid, s in small.items() if pid in large}
            if not total:
                return []
        rank = self.rank
        best = heapq.nsmallest(limit, total.items(), key=lambda kv: (-kv[1], rank[kv[0]]))
        return [self.pupils[pid] for pid, _ in best]

    # One word → {pupil id: best score for that word}.
    def _match(self, word: str) -> dict[int, int]:
        scores: dict[int, int] = {}
        if any(c.isdigit() for c in word):
            lo = bisect_left(self.upn_keys, word)
            hi = bisect_left(self.upn_keys, word + _END, lo)
            for n in range(lo, hi):
                scores[self.upn_pupils[n]] = EXACT if self.upn_keys[n] == word else PREFIX
            return scores

        def credit(lo: int, hi: int, score: int) -> None:
            get = scores.get
            for n in range(lo, hi):
                for pid in self.holders[n]:
                    if get(pid, 0) < score:
                        scores[pid] = score

        typos = allowed_typos(word)
        if typos:
            for lo, hi, score in self._typo_ranges(word, typos):
                credit(lo, hi, score)
        if len(word) >= INFIX_MIN:
            for found in re.finditer(re.escape(word), self.blob):
                n = bisect_right(self.starts, found.start()) - 1
                if self.starts[n] != found.start():
                    credit(n, n + 1, INFIX)
        lo = bisect_left(self.vocab, word)
        hi = bisect_left(self.vocab, word + _END, lo)
        if lo < hi and self.vocab[lo] == word:
            credit(lo, lo + 1, EXACT)
            lo += 1
        credit(lo, hi, PREFIX)
        return scores

    def _typo_ranges(self, word: str, k: int) -> list[tuple[int, int, int]]:
        """Ranges of the vocabulary within k edits of `word` (insert, delete, substitute, or swap two
        neighbouring letters): whole name parts, and name parts that start with such a near miss.

        Walks the sorted vocabulary as if it were a trie, one row of the edit-distance table per
        node, and leaves a branch as soon as no cell of its row is within k."""
        vocab, n, found = self.vocab, len(word), []

        def walk(lo: int, hi: int, prefix: str, row: list[int], above: list[int] | None, covered: bool) -> None:
            depth = len(prefix)
            i = lo + 1 if lo < hi and len(vocab[lo]) == depth else lo  # skip the part equal to `prefix`
            while i < hi:
                c = vocab[i][depth]
                j = bisect_left(vocab, prefix + c + _END, i, hi)
                new = [row[0] + 1]
                for x in range(1, n + 1):
                    best = min(new[x - 1] + 1, row[x] + 1, row[x - 1] + (word[x - 1] != c))
                    if above is not None and x > 1 and word[x - 1] == prefix[-1] and word[x - 2] == c:
                        best = min(best, above[x - 2] + 1)  # two neighbouring letters swapped
                    new.append(best)
                if min(new) <= k:
                    here = covered
                    if new[n] <= k:
                        if len(vocab[i]) == depth + 1:
                            found.append((i, i + 1, FUZZY - 5 * (new[n] - 1)))
                        if not covered:
                            found.append((i, j, FUZZY_PREFIX))
                            here = True
                    walk(i, j, prefix + c, new, row, here)
                i = j

        walk(0, len(vocab), "", list(range(n + 1)), None, False)
        return found


# --- the cache --------------------------------------------------------------------------------

_indexes: dict[int, RollIndex] = {}
_building: dict[int, threading.Lock] = {}
_guard = threading.Lock()


def _index_rows(session: Session, school_id: int):
    return session.execute(
        select(Pupil.id, Pupil.legal_forename, Pupil.legal_surname, Pupil.preferred_forename,
               Pupil.preferred_surname, Pupil.year_group, Pupil.form, Pupil.upn)
        .where(Pupil.school_id == school_id, Pupil.on_roll.is_(True))).all()


def index_for(session: Session, school_id: int) -> RollIndex:
    """The school's index as this session sees the roll, rebuilt if the roll has changed."""
    # Read the version before the pupils: a change committed in between makes the index look
    # older than it is (rebuilt again next time), never newer.
    version = session.scalar(select(School.roll_version).where(School.id == school_id))
    if version is None:
        return RollIndex("", [])
    index = _indexes.get(school_id)
    if index is not None and index.version == version:
        return index
    with _guard:
        lock = _building.setdefault(school_id, threading.Lock())
    with lock:  # one build per school at a time; the others then find it ready
        index = _indexes.get(school_id)
        if index is None or index.version != version:
            index = RollIndex(version, _index_rows(session, school_id))
            if len(_indexes) >= MAX_CACHED_SCHOOLS and school_id not in _indexes:
                _indexes.pop(next(iter(_indexes)))
            _indexes[school_id] = index
    return index


def forget_indexes() -> None:
    """Drop every cached index (benchmarks use it to time a cold build)."""
    _indexes.clear()


def search_pupils(session: Session, actor: Actor, q: str, limit: int = DEFAULT_LIMIT) -> list[dict]:
    """On-roll pupils of the actor's school matching `q`, best first: [{id, name (preferred names
    first), legal_name (only when different), year_group, form, upn}]. An empty `q` lists the roll
    in surname order."""
    if not isinstance(limit, int) or isinstance(limit, bool):
        limit = DEFAULT_LIMIT
    limit = max(1, min(limit, MAX_LIMIT))
    q = q if isinstance(q, str) else ""
    return [dict(found) for found in index_for(session, actor.school_id).search(q, limit)]
