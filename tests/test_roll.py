"""The roll over HTTP, through every real part: the DSL imports the MIS export, a teacher finds a new
pupil with a typo; pupil details, family links and categories, each for whom they are meant."""
from __future__ import annotations

import uuid
from pathlib import Path

DSL, SLT, TEACHER = "dsl@demo.haven.test", "slt@demo.haven.test", "teacher@demo.haven.test"
MIS_CSV = (Path(__file__).parent / "data" / "roll_mis.csv").read_bytes()


def upload(client, content: bytes, file_format="csv", **fields):
    data = {"format": file_format, **{k: str(v).lower() for k, v in fields.items()}}
    return client.post("/api/v1/roll/import", files={"file": ("roll.csv", content, "text/csv")}, data=data)


def find(client, q: str) -> list[dict]:
    r = client.get("/api/v1/pupils", params={"q": q})
    assert r.status_code == 200, r.text
    return r.json()


def test_dsl_imports_the_mis_export_and_a_teacher_finds_a_new_pupil_despite_a_typo(api):
    dsl, teacher = api(DSL), api(TEACHER)
    assert find(teacher, "Jonathon Ashby") == []

    dry = upload(dsl, MIS_CSV, dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True and len(dry.json()["added"]) == 6
    assert find(teacher, "Jonathon Ashby") == []  # a dry run changes nothing

    r = upload(dsl, MIS_CSV)
    assert r.status_code == 200, r.text
    report = r.json()
    assert [a["name"] for a in report["added"]][:2] == ["Jonathan Ashby-Clarke", "Daisy Okonkwo"]
    assert (report["changed"], report["left"], report["dry_run"]) == ([], [], False)

    [jonathan] = find(teacher, "Jonathon Ashby")  # "Jonathon": one letter wrong
    assert (jonathan["name"], jonathan["year_group"], jonathan["form"]) == ("Jonathan Ashby-Clarke", "Year 2", "2B")
    [daisy] = find(teacher, "margerite okonkwo")  # found by her legal name…
    assert daisy["name"] == "Daisy Okonkwo" and "legal_name" not in daisy  # …shown by the one she uses
    [daisy] = find(dsl, "daisy okonkwo")
    assert daisy["legal_name"] == "Marguerite Okonkwo"  # the DSL team sees both

    again = upload(dsl, MIS_CSV).json()
    assert (again["added"], again["changed"], again["unchanged"]) == ([], [], 6)
    assert len(find(teacher, "Ashby-Clarke")) == 1  # never duplicated


def test_a_bad_file_is_refused_with_the_line_at_fault_and_nothing_is_imported(api):
    dsl = api(DSL)
    bad = MIS_CSV.replace(b"Threlkeld,Barnaby,,17/12/2021", b"Thistlewood,Barnaby,,31/02/2021")
    r = upload(dsl, bad)
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "file",
                                   "message": "Line 7: the date of birth '31/02/2021' is not a date (use dd/mm/yyyy)."}]
    assert find(api(TEACHER), "thistlewood") == []

    r = upload(dsl, b"x" * (5 * 1024 * 1024 + 1))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    assert r.json()["errors"][0]["message"].startswith("The file is too large")

    r = upload(dsl, b"<!DOCTYPE CTfile [<!ENTITY a 'b'>]><CTfile/>", "ctf")
    assert r.status_code == 422 and "DOCTYPE" in r.json()["errors"][0]["message"]

    r = upload(dsl, MIS_CSV, "xlsx")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "format"


def test_only_the_dsl_team_imports_the_roll(api):
    for who in (TEACHER, SLT):
        assert upload(api(who), MIS_CSV).status_code == 403
    assert api().post("/api/v1/roll/import", files={"file": ("r.csv", MIS_CSV)}, data={"format": "csv"}
                      ).status_code == 401


def test_pupil_details_depend_on_who_asks(api):
    quinn = find(api(TEACHER), "Quinn Quigley")[0]["id"]
    r = api(TEACHER).get(f"/api/v1/pupils/{quinn}")
    assert r.status_code == 200 and set(r.json()) == {"id", "name", "year_group", "form"}
    for who in (DSL, SLT):
        details = api(who).get(f"/api/v1/pupils/{quinn}").json()
        assert details["upn"] == "H801000000016"
    # Safeguarding flags for the DSL team alone (SLT saw them once).
    assert set(api(DSL).get(f"/api/v1/pupils/{quinn}").json()["flags"]) >= {"cp_plan", "looked_after"}
    assert "flags" not in api(SLT).get(f"/api/v1/pupils/{quinn}").json()
    assert api(TEACHER).get("/api/v1/pupils/999999").status_code == 404


def test_the_dsl_links_siblings_and_any_teacher_can_add_them_in_one_click(api):
    teacher, dsl = api(TEACHER), api(DSL)
    kiera, ruby = find(teacher, "Kiera Green")[0]["id"], find(teacher, "Ruby Young")[0]["id"]
    assert teacher.post(f"/api/v1/pupils/{kiera}/siblings", json={"pupil_id": ruby}).status_code == 403
    r = dsl.post(f"/api/v1/pupils/{kiera}/siblings", json={"pupil_id": ruby})
    assert r.status_code == 200 and [s["name"] for s in r.json()] == ["Ruby Young"]
    r = teacher.get(f"/api/v1/pupils/{ruby}/siblings")
    assert r.status_code == 200 and r.json() == [{"id": kiera, "name": "Kiera Green", "year_group": "Year 3",
                                                  "form": "Y3A"}]
    assert dsl.post(f"/api/v1/pupils/{kiera}/siblings", json={"pupil_id": kiera}).status_code == 422
    assert dsl.request("DELETE", f"/api/v1/pupils/{kiera}/siblings/{ruby}").json() == []


def test_the_dsl_manages_categories(api):
    dsl, teacher = api(DSL), api(TEACHER)
    listed = dsl.get("/api/v1/categories").json()
    safeguarding = next(c for c in listed if c["name"] == "Safeguarding")
    name = f"Radicalisation {uuid.uuid4().hex[:6]}"
    body = {"name": name, "parent_id": safeguarding["id"], "colour": "#8e44ad", "sensitivity": "safeguarding",
            "default_alert_groups": ["dsl"]}
    assert teacher.post("/api/v1/categories", json=body).status_code == 403
    assert dsl.post("/api/v1/categories", json={**body, "default_alert_user_ids": [999_999]}).status_code == 422
    r = dsl.post("/api/v1/categories", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["parent_id"], created["depth"], created["colour"]) == (safeguarding["id"], 2, "#8e44ad")
    assert name in [c["name"] for c in teacher.get("/api/v1/categories").json()]

    r = dsl.request("PATCH", f"/api/v1/categories/{created['id']}", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert name not in [c["name"] for c in teacher.get("/api/v1/categories").json()]
    assert name in [c["name"] for c in dsl.get("/api/v1/categories", params={"include_inactive": "true"}).json()]
    assert teacher.get("/api/v1/categories", params={"include_inactive": "true"}).status_code == 403
    r = dsl.request("PATCH", f"/api/v1/categories/{safeguarding['id']}", json={"parent_id": created["id"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "parent_id"
