"""Answer specs: plain data (Brian2 strings), validated with one clear message per problem.

Validation happens in two steps. :func:`validate` is static and cheap (types, size, syntax,
required variables, features Brian2GeNN refuses) and never executes student code. :func:`dry_run`
lets Brian check units and identifiers by preparing (not running) the objects on the runtime
device; it runs inside the sandboxed simulation process, under its time and memory limits.

Imports inside functions: Brian2 (about 4.7 s to import) loads only for the checks that parse with
it and for the dry run.
"""

from __future__ import annotations

import ast
import difflib
import re

from .assignments.base import METHODS, Assignment
from .hints import hard_coded, readable_units, units_hint
from .results import Problem, SpecError

MAX_FIELD_BYTES = 10_000

# Fields students sometimes add that Brian2GeNN cannot run; each gets a tailored message.
REFUSED_FIELDS = {
    "events": "custom events are not supported by Brian2GeNN; express the behaviour with the "
    "threshold and reset only",
    "delay": "synaptic delays are not part of this answer, and Brian2GeNN does not support "
    "heterogeneous (per-synapse) delays; remove the 'delay' field",
    "run_regularly": "run_regularly operations are not part of this answer; Brian2GeNN allows "
    "only one clock for them. Put the dynamics into the model equations",
    "timed_array": "TimedArray inputs are supplied by the grader; Brian2GeNN only reads a "
    "TimedArray inside run_regularly. Remove this field",
    "duration": "the simulation time is chosen by the grader (Brian2GeNN allows one run per "
    "build); remove this field",
    "runs": "Brian2GeNN allows one run per build; the grader runs the network once. Remove "
    "this field",
}

_POST_MINUS = re.compile(r"^(\s*)([A-Za-z_]\w*_post)\s*-=\s*(.+?)\s*$")


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _strip_comment(line: str) -> str:
    return line.split("#", 1)[0]


def _syntax_problem(field: str, text: str, err: SyntaxError, what: str) -> Problem:
    where = ""
    if err.lineno:
        lines = text.splitlines() or [text]
        idx = min(max(err.lineno - 1, 0), len(lines) - 1)
        where = f" on line {err.lineno}: {lines[idx].strip()!r}"
    msg = err.msg if hasattr(err, "msg") else str(err)
    return Problem(field, "syntax", f"syntax error in {what}{where} ({msg}); fix the Python syntax")


def _check_equations(a: Assignment, name: str, text: str) -> list[Problem]:
    from brian2 import Equations

    problems = []
    for n, line in enumerate(text.splitlines(), 1):
        code = _strip_comment(line).strip()
        if code and ":" not in code:
            problems.append(
                Problem(
                    name,
                    "syntax",
                    f"line {n} ({code!r}) has no unit: every equation ends with ': unit', "
                    "e.g. 'dv/dt = (vr - v + I)/tau : volt'",
                )
            )
    if problems:
        return problems
    try:
        eqs = Equations(text)
    except SyntaxError as err:
        return [_syntax_problem(name, text, err, "the equations")]
    except Exception as err:  # EquationError and friends carry Brian's own explanation
        msg = " ".join(str(err).split())
        return [Problem(name, "syntax", f"Brian2 cannot parse the equations: {msg}")]
    for eq in eqs.values():
        if "linked" in eq.flags:
            problems.append(
                Problem(
                    name,
                    "genn_unsupported",
                    f"'{eq.varname}' is a linked variable; Brian2GeNN does not support linked "
                    "variables. Define it as a parameter or an equation instead",
                )
            )
    defined = set(eqs.names)
    for name_ in sorted(defined & set(a.usable_parameters())):
        problems.append(
            Problem(
                name,
                "defines_parameter",
                f"the model defines '{name_}', a parameter the grader supplies (hidden cases use "
                "other values); remove that line and use the parameter by name",
            )
        )
    for var in a.required_variables.get(name, ()):
        if var not in defined:
            problems.append(
                Problem(
                    name,
                    "missing_variable",
                    f"the model must define '{var}'{_suggest(var, defined)}; {a.field(name).help}",
                )
            )
    return problems


def _check_expression(name: str, text: str) -> list[Problem]:
    from brian2.parsing.rendering import NodeRenderer

    try:
        ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        return [_syntax_problem(name, text, err, "the condition")]
    try:
        NodeRenderer().render_expr(text.strip())
    except SyntaxError as err:
        return [
            Problem(
                name,
                "syntax",
                f"Brian2 does not allow this in a condition ({err}); use variables, "
                "parameters, arithmetic, comparisons and and/or/not",
            )
        ]
    return []


def _check_statements(name: str, text: str) -> list[Problem]:
    from brian2.parsing.rendering import NodeRenderer

    try:
        tree = ast.parse(text)
    except SyntaxError as err:
        return [_syntax_problem(name, text, err, "the statements")]
    problems = []
    for node in tree.body:
        target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
        if not isinstance(node, ast.Assign | ast.AugAssign) or not isinstance(target, ast.Name):
            problems.append(
                Problem(
                    name,
                    "syntax",
                    f"line {node.lineno} is not a statement of the form 'variable = "
                    "expression' or 'variable += expression'",
                )
            )
            continue
        try:
            NodeRenderer().render_expr(ast.unparse(node.value))
        except SyntaxError as err:
            problems.append(
                Problem(name, "syntax", f"line {node.lineno}: Brian2 does not allow this ({err})")
            )
    return problems


def _normalise_statements(text: str) -> str:
    """One statement per line, unindented, comments dropped (``a = 1; b = 2`` is two lines)."""
    lines = []
    for raw in text.splitlines():
        code = raw.partition("#")[0]
        lines += [p.strip() for p in code.split(";") if p.strip()]
    return "\n".join(lines)


#: The words that mark a note about a rewrite made for Brian2GeNN: it concerns the student only
#: where GeNN runs the network (:func:`notes_for`).
BRIAN2GENN_NOTE = "because Brian2GeNN only supports += on postsynaptic variables"


def notes_for(notes: list[str], backend: str) -> list[str]:
    """The notes that concern a student graded on ``backend``, each once: a rewrite for
    Brian2GeNN only on a GeNN backend (C++ standalone and runtime run the strings as written)."""
    out = []
    for note in notes:
        genn_only = BRIAN2GENN_NOTE in note and backend not in ("genn", "genn-cpu")
        if not genn_only and note not in out:
            out.append(note)
    return out


def _rewrite_post_minus(name: str, text: str) -> tuple[str, list[str]]:
    """``X_post -= e`` becomes ``X_post += -(e)``: Brian2GeNN only allows ``+=`` there."""
    notes, out = [], []
    for raw in text.replace(";", "\n").splitlines():
        code, hash_, comment = raw.partition("#")
        m = _POST_MINUS.match(code)
        if m:
            new = f"{m.group(1)}{m.group(2)} += -({m.group(3)})"
            notes.append(
                f"{name}: rewrote '{code.strip()}' as '{new.strip()}' {BRIAN2GENN_NOTE} "
                "(same effect)"
            )
            code = new
        out.append(code + (hash_ + comment if hash_ else ""))
    return ("\n".join(out) if notes else text), notes


def _refused_text(name: str, text: str) -> list[Problem]:
    problems = []
    if re.search(r"\brun\s*\(", text):
        problems.append(
            Problem(
                name,
                "genn_unsupported",
                "calls run(); Brian2GeNN allows one run per build and the grader does the "
                "running. Write only Brian2 equations and statements here",
            )
        )
    if "TimedArray" in text:
        problems.append(
            Problem(
                name,
                "genn_unsupported",
                "uses a TimedArray; Brian2GeNN only reads TimedArrays inside run_regularly, "
                "and inputs are supplied by the grader. Use the input variable the task names",
            )
        )
    return problems


def validate(a: Assignment, spec) -> tuple[dict, list[str]]:
    """Check ``spec`` statically and return it normalised, with notes for the student.

    Raises
    ------
    SpecError
        With one :class:`~graders.results.Problem` per thing wrong, each naming the field and
        the fix.
    """
    if not isinstance(spec, dict):
        raise SpecError(
            [
                Problem(
                    "spec",
                    "type",
                    f"the answer must be a JSON object with the fields "
                    f"{', '.join(f.name for f in a.fields)}, got {type(spec).__name__}",
                )
            ]
        )
    problems: list[Problem] = []
    notes: list[str] = []
    known = {f.name for f in a.fields}
    for key in spec:
        if key in known:
            continue
        if key in REFUSED_FIELDS:
            problems.append(Problem(key, "genn_unsupported", REFUSED_FIELDS[key]))
        else:
            problems.append(
                Problem(
                    key,
                    "unknown_field",
                    f"'{key}' is not a field of this answer{_suggest(key, known)}; the fields "
                    f"are {', '.join(sorted(known))}",
                )
            )
    out: dict = {}
    for f in a.fields:
        if f.name not in spec or spec[f.name] is None:
            if f.required:
                problems.append(Problem(f.name, "missing", f"missing field '{f.name}': {f.help}"))
            else:
                out[f.name] = f.default
            continue
        value = spec[f.name]
        if not isinstance(value, str):
            problems.append(
                Problem(
                    f.name,
                    "type",
                    f"must be a string of Brian2 code, got {type(value).__name__}; {f.help}",
                )
            )
            continue
        if len(value.encode()) > MAX_FIELD_BYTES:
            problems.append(
                Problem(
                    f.name,
                    "too_long",
                    f"is {len(value.encode())} bytes, over the limit of {MAX_FIELD_BYTES}; "
                    "the answer needs only a few lines",
                )
            )
            continue
        if f.kind == "method":
            if value.strip() not in METHODS:
                problems.append(
                    Problem(
                        f.name,
                        "value",
                        f"unknown integration method {value!r}{_suggest(value, METHODS)}; "
                        f"choose one of {', '.join(METHODS)}",
                    )
                )
            out[f.name] = value.strip()
            continue
        if not value.strip():
            if f.required:
                problems.append(Problem(f.name, "empty", f"is empty: {f.help}"))
            out[f.name] = value
            continue
        problems += _refused_text(f.name, value)
        notes += hard_coded(a, f.name, value, f.kind)
        if f.kind == "equations":
            problems += _check_equations(a, f.name, value)
        elif f.kind == "expression":
            problems += _check_expression(f.name, value)
        elif f.kind == "statements":
            value = _normalise_statements(value)
            if f.name in a.synaptic_fields:
                value, extra = _rewrite_post_minus(f.name, value)
                notes += extra
            problems += _check_statements(f.name, value)
        out[f.name] = value
    if problems:
        raise SpecError(problems)
    return out, notes


def _root_cause(err: BaseException) -> BaseException:
    seen = set()
    while id(err) not in seen:
        seen.add(id(err))
        nxt = err.__cause__ or err.__context__
        if nxt is None:
            break
        err = nxt
    return err


def explain(a: Assignment, field: str, err: BaseException, namespace: dict) -> Problem:
    """Turn a Brian exception raised while preparing ``field`` into a plain-words problem."""
    from brian2.units.fundamentalunits import DimensionMismatchError

    root = _root_cause(err)
    chain = []
    e: BaseException | None = err
    while e is not None and len(chain) < 10:
        chain.append(e)
        e = e.__cause__ or e.__context__
    given = next((c for c in chain if isinstance(c, SpecError)), None)
    if given is not None:  # raised by the assignment's own objects, already in plain words
        return given.problems[0]
    dim = next((c for c in chain if isinstance(c, DimensionMismatchError)), None)
    if dim is not None:
        desc = readable_units(" ".join(dim.desc.split())).rstrip(". ")
        return Problem(field, "units", f"inconsistent units: {desc}. {units_hint(a, field)}")
    text = " ".join(str(root).split())
    m = re.search(r'identifier "(\w+)" could not be resolved', " ".join(str(c) for c in chain))
    if m:
        ident = m.group(1)
        usable = a.usable_parameters()
        names = set(usable) | set(a.extra_identifiers)
        return Problem(
            field,
            "unknown_identifier",
            f"unknown identifier '{ident}'{_suggest(ident, names)}; the parameters you can use "
            f"are {', '.join(sorted(usable))}, and variables must be defined in the model",
        )
    return Problem(field, "brian", f"Brian2 rejected this field: {text}")


def dry_run(a: Assignment, spec: dict) -> list[Problem]:
    """Let Brian prepare the answer's objects on the runtime device, field by field.

    Returns the problems found (empty when Brian accepts every field). Must run before any
    standalone device is selected in this process.
    """
    import brian2

    # Only what the answer's strings may use, so a stray name is reported, not resolved.
    namespace = {k: v for k, v in a.namespace().items() if k in a.usable_parameters()}
    fields = [f.name for f in a.fields if f.kind != "method"]
    for name in fields:
        brian2.start_scope()
        try:
            objs = a.validation_objects(spec, namespace, upto=name)
            net = brian2.Network(objs)
            # before_run alone expects what Network.run sets first
            net._clocks = {obj.clock for obj in net.sorted_objects}
            net.before_run(namespace)
        except Exception as err:  # any Brian error is the student's field's problem
            return [explain(a, name, err, namespace)]
        finally:
            brian2.start_scope()
    return []
