"""Grades an LMS accepts: ``grades.csv`` one row per student, a column per assignment (and per
check if asked), rounded as the course configures, sorted, with nbgrader's student fields;
Gradescope's ``results.json``; an export that fails stops with its reason and loses nothing."""

from __future__ import annotations

import csv
import warnings

import pytest
from nbgrader.api import Gradebook

from autograde import exports


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


def test_gradescope_results_json(tmp_path):
    status = {
        "student": "adam",
        "ok": True,
        "score": 4.8182,
        "seconds": 12.5,
        "checks": {
            "a1": {
                "hidden_x": {"check": "x", "points": 1.8182, "max_points": 2.0, "message": "m"},
                "hidden_y": {"check": "y", "points": 3.0, "max_points": 3.0, "message": "ok"},
            }
        },
        "events": {"a1": ["code cell 4 hit the cell time limit (120 s) and was interrupted"]},
    }
    url = _gradebook(tmp_path)
    paths = exports.write(tmp_path, url, "a1", [status, {"student": "x", "ok": False}])
    assert paths[-1] == tmp_path / "exports/gradescope/a1/adam/results.json"
    got = exports.gradescope_results(status)
    assert got["score"] == 4.82 and got["execution_time"] == 12.5
    assert got["tests"][0] == {
        "name": "x", "score": 1.82, "max_score": 2.0, "output": "m", "visibility": "visible"
    }  # fmt: skip
    assert "cell time limit" in got["output"]


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
