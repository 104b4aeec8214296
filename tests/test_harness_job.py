"""The simulation job: one frozen dataclass, written as plain JSON and read back unchanged."""

from __future__ import annotations

import dataclasses
import json

import pytest

from graders.assignments import get
from graders.assignments.adaptive_threshold import REFERENCE
from graders.job import JOB_FILE, Job

A = "adaptive_threshold"


def test_a_job_survives_its_file(tmp_path):
    cases = get(A).cases()
    job = Job(A, "runtime", tuple(cases), spec=dict(REFERENCE))
    path = job.write(tmp_path)
    assert path == tmp_path / JOB_FILE
    assert [p.name for p in tmp_path.iterdir()] == [JOB_FILE]  # no temporary file left behind
    assert Job.read(tmp_path) == job
    # the format the simulation process reads
    data = json.loads(path.read_text())
    assert data == {
        "assignment": A,
        "spec": dict(REFERENCE),
        "cases": json.loads(json.dumps(cases)),  # a case's (value, unit) pairs as lists
        "backend": "runtime",
        "dry_run": True,
    }


def test_a_batch_job_carries_its_answers_in_order(tmp_path):
    specs = [dict(REFERENCE), dict(REFERENCE, method="euler")]
    job = Job(A, "genn-cpu", [], specs=specs, dry_run=False)
    assert job.batch and "spec" not in job.to_json()
    job.write(tmp_path)
    back = Job.read(tmp_path)
    assert back == job and back.specs == specs and back.dry_run is False


def test_a_job_is_frozen_and_takes_one_kind_of_answer():
    job = Job(A, "runtime", [], spec={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.backend = "genn"  # type: ignore[misc]
    with pytest.raises(ValueError, match="exactly one of spec"):
        Job(A, "runtime", [])
    with pytest.raises(ValueError, match="exactly one of spec"):
        Job(A, "runtime", [], spec={}, specs=[{}])


def test_a_job_file_without_dry_run_means_a_dry_run():
    assert Job.from_json({"assignment": A, "backend": "runtime", "cases": [], "spec": {}}).dry_run


def test_what_json_cannot_carry_is_refused_when_the_job_is_made():
    with pytest.raises(TypeError, match="plain JSON data"):
        Job(A, "runtime", [{"drive": object()}], spec={})
