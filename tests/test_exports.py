"""Grades an LMS accepts: ``grades.csv`` one row per student, a column per assignment (and per
check if asked), rounded as the course configures, sorted, with nbgrader's student fields;
Canvas's and Moodle's import files with the columns their documentation names, filled from a
roster imported into nbgrader's student table; Gradescope's ``results.json`` in the notebook's
order; an export that fails stops with its reason and loses nothing."""

from __future__ import annotations

import csv
import json
import warnings

import pytest
from nbgrader.api import Gradebook

from autograde import cli, exports, roster
from autograde.jobs import StudentStatus


def _gradebook(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with warnings.catch_warnings(), Gradebook(url) as gb:
        warnings.simplefilter("ignore")
        for a, cells in (("a1", {"hidden_x": 6.0, "hidden_y": 4.0, "selfcheck": 0.0}),
                         ("a2", {"hidden_z": 10.0})):  # fmt: skip
            gb.add_assignment(a)
            gb.add_notebook(a, a)
            for name, pts in cells.items():
                gb.add_grade_cell(name, a, a, max_score=pts, cell_type="code")
        gb.add_student("zoe", first_name="Zoe", last_name="Z", email="zoe@uni.test")
        gb.add_student("adam", first_name="Adam", last_name="A", email="adam@uni.test")
        gb.add_student("mia")
        scores = {
            ("zoe", "a1"): {"hidden_x": 4.8182, "hidden_y": 0.0, "selfcheck": 0.0},
            ("adam", "a1"): {"hidden_x": 6.0, "hidden_y": 1.33333, "selfcheck": 0.0},
            ("adam", "a2"): {"hidden_z": 9.99999},
        }
        for (s, a), cells in scores.items():
            gb.add_submission(a, s)
            for name, pts in cells.items():
                gb.find_grade(name, a, a, s).auto_score = pts
        gb.db.commit()
    return url


def _rows(path):
    return list(csv.DictReader(path.open()))


def test_one_row_per_student_sorted_rounded(tmp_path):
    url = _gradebook(tmp_path)
    exports.write(tmp_path, url)
    rows = _rows(tmp_path / "grades.csv")
    assert [r["student_id"] for r in rows] == ["adam", "mia", "zoe"]
    adam, mia, zoe = rows
    assert (adam["first_name"], adam["last_name"], adam["email"]) == ("Adam", "A", "adam@uni.test")
    assert adam["a1"] == "7.33" and adam["a2"] == "10.0" and adam["total"] == "17.33"
    assert zoe["a1"] == "4.82" and zoe["a2"] == ""  # no submission: blank, not zero
    assert mia["a1"] == "" and mia["total"] == "0.0" and adam["max_total"] == "20.0"
    assert "a1:hidden_x" not in adam  # per-check columns only when the course asks


def test_course_configures_rounding_and_per_check_columns(tmp_path):
    url = _gradebook(tmp_path)
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.GradesExport.decimals = 1\nc.GradesExport.per_check = True\n"
    )
    exports.write(tmp_path, url)
    rows = _rows(tmp_path / "grades.csv")
    adam = rows[0]
    assert adam["a1"] == "7.3" and adam["a1:hidden_y"] == "1.3" and adam["a2:hidden_z"] == "10.0"
    assert "a1:selfcheck" not in adam  # an ungraded self-check is no grade


def _notebook(path, grade_ids):
    cells = [
        {
            "cell_type": "code",
            "source": "",
            "metadata": {"nbgrader": {"grade": True, "grade_id": g}},
        }
        for g in grade_ids
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4}))


def test_gradescope_results_json(tmp_path):
    status = StudentStatus(
        "adam",
        "a1",
        ok=True,
        score=4.8182,
        seconds=12.5,
        checks={  # alphabetical, as a status file may hold them
            "a1": {
                "hidden_x": {"check": "x", "points": 1.8182, "max_points": 2.0, "message": "m"},
                "hidden_y": {"check": "y", "points": 3.0, "max_points": 3.0, "message": "ok"},
            }
        },
        events={"a1": ["code cell 4 hit the cell time limit (120 s) and was interrupted"]},
    )
    # the notebook asks y first (a self-check between them is no test)
    _notebook(tmp_path / "source/a1/a1.ipynb", ["selfcheck", "hidden_y", "hidden_x"])
    url = _gradebook(tmp_path)
    paths = exports.write(tmp_path, url, "a1", [status, StudentStatus.missing("a1", "x")])
    assert paths[-1] == tmp_path / "exports/gradescope/a1/adam/results.json"
    got = json.loads(paths[-1].read_text())
    assert got["score"] == 4.82 and got["execution_time"] == 12.5
    # Gradescope's fields per test (its autograder specification: number, name, score,
    # max_score, status, output, output_format, visibility), in the notebook's order
    assert [t["name"] for t in got["tests"]] == ["y", "x"]
    assert got["tests"][1] == {
        "number": "2", "name": "x", "score": 1.82, "max_score": 2.0, "status": "failed",
        "output": "m", "output_format": "text", "visibility": "visible",
    }  # fmt: skip
    assert got["tests"][0]["number"] == "1" and got["tests"][0]["status"] == "passed"
    assert "cell time limit" in got["output"]
    # without a source notebook, the records keep their order
    plain = exports.gradescope_results(status)
    assert [t["name"] for t in plain["tests"]] == ["x", "y"]


ROSTER = """Username,First name,Surname,Email address,LMS user id
zoe,Zoe,Zed,zoe@uni.test,1001
adam,Adam,Ant,,1002
ben,Ben,Bee,ben@uni.test,1003
"""
# The columns each LMS documents for its grade import (see the comments in autograde.exports)
CANVAS_DOCUMENTED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_DOCUMENTED = ["First name", "Last name", "Username", "Email address"]


def _students(url):
    with warnings.catch_warnings(), Gradebook(url) as gb:
        warnings.simplefilter("ignore")
        return {s.id: (s.first_name, s.last_name, s.email, s.lms_user_id) for s in gb.students}


def test_roster_import_fills_the_student_table(tmp_path):
    url = _gradebook(tmp_path)
    (tmp_path / "roster.csv").write_text("\ufeff" + ROSTER)  # with Excel's byte-order mark
    assert roster.import_roster(url, tmp_path / "roster.csv") == (1, 2)
    got = _students(url)
    assert got["zoe"] == ("Zoe", "Zed", "zoe@uni.test", "1001")
    assert got["adam"] == ("Adam", "Ant", "adam@uni.test", "1002")  # an empty cell keeps it
    assert got["ben"] == ("Ben", "Bee", "ben@uni.test", "1003")
    assert got["mia"] == (None, None, None, None)  # not on the roster: untouched


@pytest.mark.parametrize(
    "text, words",
    [
        ("id,first_name,emial\nzoe,Zoe,z@x\n", ["unknown column(s) 'emial'", "rename"]),
        ("first_name,email\nZoe,z@x\n", ["no id column"]),
        ("id,email\nzoe,a@x\n,b@x\nzoe,c@x\nx/y,d@x\n", ["line 3: no id", "line 4: the id "
         "'zoe' is also on line 2", "line 5: the id 'x/y' is not a folder name"]),
        ("", ["is empty"]),
    ],
)  # fmt: skip
def test_a_bad_roster_is_refused_whole_with_every_problem(tmp_path, text, words):
    url = _gradebook(tmp_path)
    before = _students(url)
    (tmp_path / "roster.csv").write_text(text)
    with pytest.raises(roster.RosterError) as err:
        roster.import_roster(url, tmp_path / "roster.csv")
    for w in words:
        assert w in str(err.value)
    assert _students(url) == before


def _import_roster(tmp_path):
    url = _gradebook(tmp_path)
    (tmp_path / "roster.csv").write_text(ROSTER)
    roster.import_roster(url, tmp_path / "roster.csv")
    return url


def test_canvas_file_has_canvas_columns_and_points_possible(tmp_path):
    url = _import_roster(tmp_path)
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.GradesExport.lms_columns = {'a2': 'Assignment 2 (4711)'}\n"
    )
    path = exports.write_format(tmp_path, url, "canvas")
    assert path == tmp_path / "grades-canvas.csv"
    rows = list(csv.reader(path.open()))
    assert rows[0] == [*CANVAS_DOCUMENTED, "a1", "Assignment 2 (4711)"]  # no total columns
    assert rows[1] == ["Points Possible", "", "", "", "", "10.0", "10.0"]
    by_login = {r[3]: r for r in rows[2:]}
    assert by_login["adam"] == ["Ant, Adam", "1002", "", "adam", "", "7.33", "10.0"]
    assert by_login["zoe"] == ["Zed, Zoe", "1001", "", "zoe", "", "4.82", ""]
    assert by_login["mia"][:2] == ["mia", ""]  # no name known: the id
    assert [r[3] for r in rows[2:]] == ["adam", "ben", "mia", "zoe"]


def test_moodle_file_maps_by_username_or_email(tmp_path):
    url = _import_roster(tmp_path)
    rows = list(csv.reader(exports.write_format(tmp_path, url, "moodle").open()))
    assert rows[0] == [*MOODLE_DOCUMENTED, "a1", "a2"]
    assert rows[1] == ["Adam", "Ant", "adam", "adam@uni.test", "7.33", "10.0"]
    assert rows[-1] == ["Zoe", "Zed", "zoe", "zoe@uni.test", "4.82", ""]


def test_export_and_roster_commands(tmp_path, capsys):
    url = _gradebook(tmp_path)
    (tmp_path / "roster.csv").write_text(ROSTER)
    course = ["--course", str(tmp_path)]
    assert cli.main(["roster", "import", str(tmp_path / "roster.csv"), *course]) == 0
    assert "1 students added, 2 updated" in capsys.readouterr().out
    for fmt, name in (("canvas", "grades-canvas.csv"), ("moodle", "grades-moodle.csv"),
                      ("plain", "grades.csv")):  # fmt: skip
        assert cli.main(["export", "--format", fmt, *course]) == 0
        assert (tmp_path / name).is_file()
    plain = _rows(tmp_path / "grades.csv")
    assert plain[0]["lms_user_id"] == "1002" and plain[0]["email"] == "adam@uni.test"
    (tmp_path / "bad.csv").write_text("id,shoe\nzoe,42\n")
    assert cli.main(["roster", "import", str(tmp_path / "bad.csv"), *course]) == 2
    assert "unknown column(s) 'shoe'" in capsys.readouterr().err
    assert url  # the same gradebook the commands found in the course folder


def test_failed_export_stops_with_its_reason_and_keeps_the_old_file(tmp_path):
    url = _gradebook(tmp_path)
    exports.write(tmp_path, url)
    before = (tmp_path / "grades.csv").read_text()
    (tmp_path / "locked").mkdir()
    bad = f"sqlite:///{tmp_path / 'locked'}"  # a folder, not a database
    with pytest.raises(exports.ExportError) as err:
        exports.write(tmp_path, bad)
    assert "could not export the grades" in str(err.value)
    assert "run `autograde grade`" in str(err.value)
    assert (tmp_path / "grades.csv").read_text() == before
