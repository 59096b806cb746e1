"""search_pupils: what a member of staff finds when they start typing a pupil's name."""
from __future__ import annotations

from services.incidents.roll import search
from services.incidents.models import Pupil

from .conftest import OTHER_SCHOOL, SCHOOL, actor


def names(session, q, who=None, **kwargs) -> list[str]:
    return [p["name"] for p in search.search_pupils(session, who or actor(), q, **kwargs)]


def test_finds_by_legal_forename_case_insensitively(session):
    assert names(session, "kIERA") == ["Kiera Green"]


def test_finds_by_surname(session):
    assert names(session, "quigley") == ["Quinn Quigley"]


def test_finds_by_preferred_name_and_shows_it(session):
    session.add(Pupil(school_id=SCHOOL, upn="P000000000001", legal_forename="Alexandra",
                      legal_surname="Mountbatten", preferred_forename="Lexi", year_group="Year 2"))
    session.flush()
    # Typo tolerance may add near misses (Ezra Lewis for "lexi"), always below the real match.
    assert names(session, "lexi")[0] == "Lexi Mountbatten"
    assert names(session, "alexandra") == ["Lexi Mountbatten"]


def test_finds_by_upn_and_returns_the_pupils_fields(session):
    [found] = search.search_pupils(session, actor(), "H801000000016")
    assert found["upn"] == "H801000000016"
    assert found["name"] == "Quinn Quigley"
    assert found["year_group"] == "Year 2"
    assert set(found) == {"id", "name", "year_group", "form", "upn"}


def test_every_term_must_match(session):
    # Two pupils are called Amara Abbott (Reception and Year 4); two are called Amara at all.
    assert names(session, "amara") == ["Amara Abbott", "Amara Abbott"]
    assert names(session, "amara abbott") == ["Amara Abbott", "Amara Abbott"]
    assert names(session, "amara green") == []
    assert names(session, "  kiera   green ") == ["Kiera Green"]


def test_only_pupils_on_the_roll(session):
    assert names(session, "leaver") == []
    assert names(session, "lottie") == []


def test_only_the_actors_own_school(session):
    assert names(session, "otto") == []
    assert names(session, "otto", actor(school_id=OTHER_SCHOOL)) == ["Otto Elsewhere"]
    assert names(session, "kiera", actor(school_id=OTHER_SCHOOL)) == []


def test_empty_query_lists_the_roll_in_surname_order_up_to_the_limit(session):
    everyone = search.search_pupils(session, actor(), "", limit=100)
    assert len(everyone) == 40  # the demo roll, not the leaver, not the other school
    assert len(search.search_pupils(session, actor(), "")) == 20
    surnames = [p["name"].split(" ", 1)[1] for p in everyone]
    assert surnames == sorted(surnames)


def test_limit_is_kept(session):
    assert len(search.search_pupils(session, actor(), "", limit=5)) == 5
    for n in range(70):
        session.add(Pupil(school_id=SCHOOL, upn=f"X{n:012d}", legal_forename="Extra",
                          legal_surname=f"Pupil{n:02d}", year_group="Year 1"))
    session.flush()
    assert len(search.search_pupils(session, actor(), "", limit=100)) == 100
