"""The pupil picker: find a pupil by any part of a name, a preferred name or a UPN, forgiving the
typos of a hurried teacher ("Jhon Smtih" finds John Smith).

Each service process keeps an index of each school's on-roll pupils in memory, so a keystroke costs
one primary-key read (the school's `roll_version`) and some dictionary work, never a scan of the
pupils table. Any change to a pupil through the ORM gives the school a fresh `roll_version` (see
`note_roll_changes`), and an index whose version no longer matches is rebuilt on the next search.
Code that changes pupils with a bulk UPDATE/INSERT statement must call `roll_changed` itself.

Ranking, per word typed: the exact name part > a name part starting with it > a name part
containing it (3 letters or more) > a name part within one typo (4 letters or more; two typos for 8
or more) > a name part starting with something within one typo. A pupil must match every word, in
any order; ties go in roll order (surname, then forename). A word with a digit matches UPNs by their
start.
"""
from __future__ import annotations

import heapq
import json
import re
import threading
import unicodedata
import uuid
from bisect import bisect_left, bisect_right
from collections import Counter, OrderedDict
from collections.abc import Iterable
from functools import lru_cache

from sqlalchemy import Text, cast, func, select, update
from sqlalchemy.orm import Session

from services.common.actor import Actor

from ..exceptions import Forbidden
from ..models import Pupil, School
from ..policy import excluded_pupil_ids, may_look_up_pupils, sees_details

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


@lru_cache(maxsize=100_000)  # names repeat: a roll of 50,000 has a few thousand distinct name parts
def fold(text: str) -> str:
    """Lower case, accents and apostrophes gone: "Zoë O'Brien" → "zoe obrien"."""
    text = text.translate(_APOSTROPHES)
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).casefold().translate(_LETTERS)


def words(text: str) -> list[str]:
    return [w for w in _SEPARATORS.split(fold(text)) if w]


@lru_cache(maxsize=100_000)
def name_tokens(text: str) -> frozenset[str]:
    """A name's searchable parts; a double-barrelled name is also kept joined ("smith-jones" →
    smith, jones, smithjones) so typing it either way finds it."""
    parts = words(text)
    return frozenset({*parts, "".join(parts)} if len(parts) > 1 else parts)


def allowed_typos(word: str) -> int:
    return 2 if len(word) >= FUZZY2_MIN else 1 if len(word) >= FUZZY1_MIN else 0


def _letter_pairs(token: str) -> set[str]:
    padded = f"^{token}$"
    return {padded[i:i + 2] for i in range(len(padded) - 1)}


def typo_distance(a: str, b: str, most: int) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from a to b; most + 1 if more than `most`.
    Only the cells within `most` of the diagonal are worked out: the others cannot be within it."""
    if abs(len(a) - len(b)) > most:
        return most + 1
    over, m = most + 1, len(b)
    above, row = None, [j if j <= most else over for j in range(m + 1)]
    for i in range(1, len(a) + 1):
        new = [over] * (m + 1)
        if i <= most:
            new[0] = i
        lowest = new[0]
        for j in range(max(1, i - most), min(m, i + most) + 1):
            best = min(new[j - 1] + 1, row[j] + 1, row[j - 1] + (a[i - 1] != b[j - 1]))
            if above is not None and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, above[j - 2] + 1)
            new[j] = min(best, over)
            lowest = min(lowest, new[j])
        if lowest > most:
            return over
        above, row = row, new
    return row[m]


# --- keeping the index fresh ------------------------------------------------------------------

def roll_changed(session: Session, school_ids: Iterable[int]) -> None:
    """Give these schools a new roll version (in the caller's transaction): their indexes are stale."""
    ids = sorted({i for i in school_ids if i is not None})
    if ids:
        session.connection().execute(
            update(School.__table__).where(School.__table__.c.id.in_(ids)).values(roll_version=uuid.uuid4().hex))


def note_roll_changes(session: Session, flush_context) -> None:
    """after_flush, registered per session factory by hooks.register: a changed pupil stales the index."""
    # After a flush the session still lists what it has just written as new, dirty and deleted.
    schools = {obj.school_id for obj in session.new if isinstance(obj, Pupil)}
    schools |= {obj.school_id for obj in session.deleted if isinstance(obj, Pupil)}
    schools |= {obj.school_id for obj in session.dirty
                if isinstance(obj, Pupil) and session.is_modified(obj, include_collections=False)}
    roll_changed(session, schools)


# --- the index --------------------------------------------------------------------------------

class RollIndex:
    """One school's on-roll pupils, ready for searching: the distinct name parts in sorted order
    (prefix ranges by bisection, typos by walking the sorted list as a trie), the pupils holding each
    part, and each pupil's parts."""

    TYPO_CACHE = 4096  # words whose near misses are remembered (a teacher types the same word letter by letter)

    def __init__(self, version: str, rows: Iterable[tuple]):
        self.version = version
        # id → (id, legal forename, legal surname, preferred forename, preferred surname, year, form, upn)
        self.rows: dict[int, tuple] = {}
        tokens_of: dict[int, frozenset[str]] = {}
        order, upns = [], []
        for row in rows:
            pid, legal_forename, legal_surname, preferred_forename, preferred_surname, _, _, upn = row
            self.rows[pid] = tuple(row)
            order.append((fold(preferred_surname or legal_surname), fold(preferred_forename or legal_forename), pid))
            upns.append((fold(upn), pid))
            tokens = name_tokens(legal_forename) | name_tokens(legal_surname)
            if preferred_forename:
                tokens |= name_tokens(preferred_forename)
            if preferred_surname:
                tokens |= name_tokens(preferred_surname)
            tokens_of[pid] = tokens
        order.sort()
        self.roll_order = [pid for *_, pid in order]
        self.rank = {pid: n for n, pid in enumerate(self.roll_order)}
        self.vocab = sorted({t for tokens in tokens_of.values() for t in tokens})
        number = {t: n for n, t in enumerate(self.vocab)}
        self.holders: list[list[int]] = [[] for _ in self.vocab]
        self.parts: dict[int, tuple[int, ...]] = {}  # pupil id → numbers of their name parts
        for pid, tokens in tokens_of.items():
            self.parts[pid] = tuple(number[t] for t in tokens)
            for n in self.parts[pid]:
                self.holders[n].append(pid)
        self.blob = "\n".join(self.vocab)  # for "contains" matches at C speed
        self.starts, at = [], 0
        for token in self.vocab:
            self.starts.append(at)
            at += len(token) + 1
        upns.sort()
        self.upn_keys = [u for u, _ in upns]
        self.upn_pupils = [pid for _, pid in upns]
        # Letter pairs of the longer name parts, to find those within two typos of a long word.
        self.pairs: dict[str, list[int]] = {}
        self.pair_counts: dict[int, int] = {}
        for n, token in enumerate(self.vocab):
            if len(token) >= FUZZY2_MIN - 2:
                pairs = _letter_pairs(token)
                self.pair_counts[n] = len(pairs)
                for pair in pairs:
                    self.pairs.setdefault(pair, []).append(n)
        self._typo_cache: OrderedDict[str, list] = OrderedDict()

    def found(self, pid: int) -> dict:
        """What the picker shows for a pupil: preferred names first, the legal name when different."""
        _, legal_forename, legal_surname, preferred_forename, preferred_surname, year, form, upn = self.rows[pid]
        name = f"{preferred_forename or legal_forename} {preferred_surname or legal_surname}"
        result = {"id": pid, "name": name, "year_group": year, "form": form, "upn": upn}
        if preferred_forename or preferred_surname:
            legal_name = f"{legal_forename} {legal_surname}"
            if legal_name != name:
                result["legal_name"] = legal_name
        return result

    def __len__(self) -> int:
        return len(self.rows)

    def search(self, q: str, limit: int) -> list[dict]:
        typed = words(q[:MAX_QUERY_CHARS])[:MAX_WORDS]
        if not typed:
            return [self.found(pid) for pid in self.roll_order[:limit]]
        # Each word: the name parts (or UPNs) it matches with their scores, and the pupils holding them.
        matches = []
        for word in typed:
            if any(c.isdigit() for c in word):
                by_pupil = self._upn_scores(word)
                matches.append((None, by_pupil, set(by_pupil)))
            else:
                by_part = self._part_scores(word)
                matches.append((by_part, None, set().union(*(self.holders[n] for n in by_part))))
        matches.sort(key=lambda m: len(m[2]))
        candidates = matches[0][2]
        for _, _, pupils in matches[1:]:
            candidates = candidates & pupils
        if not candidates:
            return []
        if len(matches) == 1 and matches[0][0] is not None:
            best = self._best_single(matches[0][0], limit)
        else:
            best = heapq.nsmallest(limit, candidates, key=lambda pid: (-self._score(pid, matches), self.rank[pid]))
        return [self.found(pid) for pid in best]

    def _score(self, pid: int, matches: list) -> int:
        total = 0
        for by_part, by_pupil, _ in matches:
            if by_part is None:
                total += by_pupil[pid]
            else:
                total += max(by_part.get(n, 0) for n in self.parts[pid])
        return total

    def _best_single(self, by_part: dict[int, int], limit: int) -> list[int]:
        """One word: take whole score levels, best first, each in roll order, until the list is full
        (cheap even when the word is one letter and matches thousands)."""
        levels: dict[int, list[int]] = {}
        for n, score in by_part.items():
            levels.setdefault(score, []).append(n)
        chosen: list[int] = []
        taken: set[int] = set()
        for score in sorted(levels, reverse=True):
            pool = set().union(*(self.holders[n] for n in levels[score])) - taken
            picked = heapq.nsmallest(limit - len(chosen), pool, key=self.rank.__getitem__)
            chosen += picked
            taken.update(picked)
            if len(chosen) >= limit:
                break
        return chosen

    def _upn_scores(self, word: str) -> dict[int, int]:
        lo = bisect_left(self.upn_keys, word)
        hi = bisect_left(self.upn_keys, word + _END, lo)
        return {self.upn_pupils[n]: EXACT if self.upn_keys[n] == word else PREFIX for n in range(lo, hi)}

    def _part_scores(self, word: str) -> dict[int, int]:
        """One word → {name part number: its best score for that word}."""
        scores: dict[int, int] = {}
        typos = allowed_typos(word)
        if typos:
            for lo, hi, score in self._typo_ranges(word, typos):
                for n in range(lo, hi):
                    if scores.get(n, 0) < score:
                        scores[n] = score
        if len(word) >= INFIX_MIN:
            for found in re.finditer(re.escape(word), self.blob):
                n = bisect_right(self.starts, found.start()) - 1
                if self.starts[n] != found.start():
                    scores[n] = INFIX
        lo = bisect_left(self.vocab, word)
        hi = bisect_left(self.vocab, word + _END, lo)
        for n in range(lo, hi):
            scores[n] = PREFIX
        if lo < hi and self.vocab[lo] == word:
            scores[lo] = EXACT
        return scores

    def _typo_ranges(self, word: str, k: int) -> list[tuple[int, int, int]]:
        """Name parts within one typo of `word` or starting with such a near miss; with k = 2, also
        whole name parts within two typos."""
        cached = self._typo_cache.get(word)
        if cached is None:
            cached = self._walk(word, 1)
            if k >= 2:
                cached += [(n, n + 1, FUZZY - 5) for n in self._two_typos(word)]
            self._typo_cache[word] = cached
            if len(self._typo_cache) > self.TYPO_CACHE:
                self._typo_cache.popitem(last=False)
        return cached

    def _two_typos(self, word: str) -> list[int]:
        """Whole name parts exactly two typos from a long word: those sharing enough letter pairs with
        it (each typo spoils at most three pairs), checked one by one."""
        pairs = _letter_pairs(word)
        shared: Counter[int] = Counter()
        for pair in pairs:
            shared.update(self.pairs.get(pair, ()))
        return [n for n, count in shared.items()
                if count >= max(len(pairs), self.pair_counts[n]) - 6 and abs(len(self.vocab[n]) - len(word)) <= 2
                and typo_distance(word, self.vocab[n], 2) == 2]

    def _walk(self, word: str, k: int) -> list[tuple[int, int, int]]:
        """Ranges of the sorted name parts within k edits of `word` (insert, delete, substitute, or swap
        two neighbouring letters): whole name parts, and name parts starting with such a near miss.

        Walks the sorted list as if it were a trie, one row of the edit-distance table per node,
        and leaves a branch as soon as no cell of its row is within k."""
        vocab, n, found, over = self.vocab, len(word), [], k + 1

        def walk(lo: int, hi: int, prefix: str, row: list[int], above: list[int] | None, covered: bool) -> None:
            depth = len(prefix) + 1  # of the children
            last = prefix[-1] if prefix else ""
            # Only cells within k of the diagonal can be within k: compute those, the rest stay `over`.
            first, final = max(1, depth - k), min(n, depth + k)
            i = lo + 1 if lo < hi and len(vocab[lo]) == depth - 1 else lo  # skip the part equal to `prefix`
            while i < hi:
                c = vocab[i][depth - 1]
                j = bisect_left(vocab, prefix + c + _END, i, hi)
                new = [over] * (n + 1)
                lowest = new[0] = depth if depth <= k else over
                for x in range(first, final + 1):
                    best = new[x - 1] + 1
                    other = row[x] + 1
                    if other < best:
                        best = other
                    other = row[x - 1] + (word[x - 1] != c)
                    if other < best:
                        best = other
                    if above is not None and x > 1 and word[x - 1] == last and word[x - 2] == c \
                            and above[x - 2] + 1 < best:
                        best = above[x - 2] + 1  # two neighbouring letters swapped
                    if best > over:
                        best = over
                    new[x] = best
                    if best < lowest:
                        lowest = best
                if lowest <= k:
                    here = covered
                    if new[n] <= k:
                        if len(vocab[i]) == depth:
                            found.append((i, i + 1, FUZZY - 5 * (new[n] - 1)))
                        if not covered:
                            found.append((i, j, FUZZY_PREFIX))
                            here = True
                    walk(i, j, prefix + c, new, row, here)
                i = j

        walk(0, len(vocab), "", [x if x <= k else over for x in range(n + 1)], None, False)
        return found


# --- the cache --------------------------------------------------------------------------------

_indexes: dict[int, RollIndex] = {}
_building: dict[int, threading.Lock] = {}
_guard = threading.Lock()


_COLUMNS = (Pupil.id, Pupil.legal_forename, Pupil.legal_surname, Pupil.preferred_forename, Pupil.preferred_surname,
            Pupil.year_group, Pupil.form, Pupil.upn)


def _index_rows(session: Session, school_id: int) -> list:
    on_roll = (Pupil.school_id == school_id, Pupil.on_roll.is_(True))
    if session.get_bind().dialect.name == "postgresql":
        # One JSON document instead of 50,000 rows: the driver's per-value work is most of the cost.
        text = session.scalar(select(cast(func.json_agg(func.json_build_array(*_COLUMNS)), Text))
                              .where(*on_roll))
        return json.loads(text) if text else []
    return session.execute(select(*_COLUMNS).where(*on_roll)).all()


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
    first), legal_name (only when different, and only for the DSL team and SLT), year_group, form,
    upn}]. An empty `q` lists the roll
    in surname order."""
    if not may_look_up_pupils(actor):
        raise Forbidden("Your role does not look up pupils.")
    # A pupil whose parent or carer the actor is does not exist for them (self-exclusion).
    hidden = set(session.scalars(excluded_pupil_ids(actor)))
    found = [p for p in index_for(session, actor.school_id).search(q, limit + len(hidden))
             if p["id"] not in hidden][:limit]
    if sees_details(actor):
        return found
    # A legal name that differs from the one a child uses (adoption, care) can itself be
    # sensitive: staff who only record see the name the child goes by.
    return [{k: v for k, v in pupil.items() if k != "legal_name"} for pupil in found]
