"""A DfE Common Transfer File (CTF XML): parsed without entities or DTDs, one element per pupil."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from typing import Any
from xml.parsers import expat

from .values import (EARLIEST_BIRTH, MAX_LENGTHS, MAX_ROWS, Problems, REQUIRED, Row, SEN_WORDS, TOO_LARGE,
                    check_duplicates, file_problem, parse_date, upn_problem, word_key, year_group)

# --- CTF --------------------------------------------------------------------------------------

class _Refused(Exception):
    pass


def _refuse(*_args):
    raise _Refused()


def parse_xml(data: bytes) -> ET.Element:
    """Parse with expat directly, refusing any DOCTYPE or entity declaration before it can be used:
    no entity expansion (billion laughs), no external entities or DTDs (file or network reads).
    Namespaces are dropped: element names are matched by their local name."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.StartElementHandler = lambda tag, _attrs: builder.start(tag.rsplit("}", 1)[-1], {})
    parser.EndElementHandler = lambda tag: builder.end(tag.rsplit("}", 1)[-1])
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except _Refused:
        raise file_problem("The file declares a DOCTYPE or entities, which a Common Transfer File never needs; "
                           "Haven does not read such files. Export the CTF from the MIS again.") from None
    except expat.ExpatError as exc:
        raise file_problem(f"The file is not a valid XML file (line {exc.lineno}: "
                           f"{expat.ErrorString(exc.code)}). Export the CTF from the MIS again.") from None
    return builder.close()


def _child(element: ET.Element | None, *path: str) -> ET.Element | None:
    for name in path:
        if element is None:
            return None
        element = element.find(name)
    return element


def _first(pupil: ET.Element, *paths: tuple[str, ...]) -> tuple[str, ET.Element] | None:
    """The first of these paths present under the pupil, as ("BasicDetails/NCyearActual", element)."""
    for path in paths:
        found = _child(pupil, *path)
        if found is not None:
            return "/".join(path), found
    return None


def _content(element: ET.Element | None, path: str | None = None) -> str:
    if element is not None and path is not None:
        element = element.find(path)
    return (element.text or "").strip() if element is not None else ""


CTF_FIELDS = {
    "legal_surname": [("Surname",)],
    "legal_forename": [("Forename",)],
    "preferred_surname": [("BasicDetails", "PreferredSurname"), ("PreferredSurname",)],
    "preferred_forename": [("BasicDetails", "PreferredForename"), ("PreferredForename",)],
    "year_group": [("BasicDetails", "NCyearActual"), ("NCyearActual",)],
    # Not in the DfE schema, but some MIS add the registration group; take it when present.
    "form": [("BasicDetails", "RegGroup"), ("RegGroup",), ("BasicDetails", "RegistrationGroup"),
             ("RegistrationGroup",)],
}
CTF_YEARS = {"R": "Reception", "N1": "Nursery 1", "N2": "Nursery 2", "X": "Not following the NC"}
ENGLISH = {"ENG", "ENB"}  # DfE language codes for English and "believed to be English"
UNKNOWN_LANGUAGE = {"NOT", "REF", ""}


def read_ctf(data: bytes, today: date) -> list[Row]:
    root = parse_xml(data)
    if root.tag != "CTfile":
        raise file_problem(f"The file is not a Common Transfer File: it starts with <{root.tag}>, not <CTfile>.")
    problems = Problems()
    if root.find("Header") is None:
        problems.add("CTfile/Header: missing. Export the CTF from the MIS again.")
    pupil_data = root.find("CTFpupilData")
    if pupil_data is None:
        problems.add("CTfile/CTFpupilData: missing; the file holds no pupils.")
    problems.raise_if_any()
    pupils = pupil_data.findall("Pupil")
    if len(pupils) > MAX_ROWS:
        raise file_problem(TOO_LARGE)
    rows = []
    for n, pupil in enumerate(pupils, 1):
        where = f"CTFpupilData/Pupil[{n}]"
        rows.append(Row(where, _ctf_pupil(pupil, where, problems, today)))
    check_duplicates(rows, problems)
    problems.raise_if_any()
    return rows


def _ctf_pupil(pupil: ET.Element, where: str, problems: Problems, today: date) -> dict:
    values: dict[str, Any] = {}
    upn_element = pupil.find("UPN")
    upn = _content(upn_element).replace(" ", "").upper() if upn_element is not None else ""
    if not upn:
        problems.add(f"{where}/UPN: missing.")
    elif (why := upn_problem(upn)) is not None:
        problems.add(f"{where}/UPN: '{upn}' {why}.")
    values["upn"] = upn

    for f, paths in CTF_FIELDS.items():
        found = _first(pupil, *paths)
        if found is None:
            if f in REQUIRED:
                problems.add(f"{where}/{'/'.join(paths[0])}: missing.")
            continue
        text = _content(found[1])
        if f == "year_group":
            text = CTF_YEARS.get(text.upper(), year_group(text) if text else "")
        values[f] = text or (None if f not in REQUIRED else "")
        if f in REQUIRED and not text:
            problems.add(f"{where}/{found[0]}: empty.")
        elif f in MAX_LENGTHS and len(text) > MAX_LENGTHS[f]:
            problems.add(f"{where}/{found[0]}: longer than {MAX_LENGTHS[f]} characters.")

    found = _first(pupil, ("DOB",))
    if found is not None:
        text = _content(found[1])
        try:
            values["date_of_birth"] = parse_date(text, iso_only=True)
        except ValueError:
            problems.add(f"{where}/DOB: '{text}' is not a date (expected YYYY-MM-DD).")
        else:
            if values["date_of_birth"] > today:
                problems.add(f"{where}/DOB: '{text}' is in the future.")
            elif values["date_of_birth"] < EARLIEST_BIRTH:
                problems.add(f"{where}/DOB: '{text}' is too far in the past.")

    found = _first(pupil, ("Sex",), ("Gender",))  # "Gender" before CTF 20
    if found is not None:
        text = _content(found[1]).upper()
        if text not in ("M", "F", "X"):
            problems.add(f"{where}/{found[0]}: '{text}' is not M or F.")
        else:
            values["sex"] = text

    found = _first(pupil, ("LookedAfter", "InCare"))
    if found is not None:
        text = _content(found[1]).lower()
        if text not in ("true", "false", "1", "0"):
            problems.add(f"{where}/LookedAfter/InCare: '{text}' is not true or false.")
        else:
            values["looked_after"] = text in ("true", "1")

    found = _first(pupil, ("SENhistory", "SEN", "SENprovision"))
    if found is not None:
        text = _content(found[1])
        if word_key(text) not in SEN_WORDS:
            problems.add(f"{where}/SENhistory/SEN/SENprovision: '{text}' is not N, K or E.")
        else:
            values["sen_status"] = SEN_WORDS[word_key(text)]

    history = pupil.find("FSMhistory")
    if history is not None:
        values["free_school_meals"] = False
        for m, instance in enumerate(history.findall("FSMinstance"), 1):
            try:
                start = parse_date(_content(instance, "FSMstartDate"), iso_only=True)
                end = parse_date(_content(instance, "FSMendDate"), iso_only=True) \
                    if _content(instance, "FSMendDate") else None
            except ValueError:
                problems.add(f"{where}/FSMhistory/FSMinstance[{m}]: the start or end date is not a date "
                             "(expected YYYY-MM-DD).")
                continue
            if start <= today and (end is None or end >= today):
                values["free_school_meals"] = True

    for language in pupil.findall("BasicDetails/Languages/Type"):
        if _content(language, "LanguageType").upper() == "F":
            code = _content(language, "Language").upper()
            if code not in UNKNOWN_LANGUAGE:
                values["eal"] = code not in ENGLISH
    return values
