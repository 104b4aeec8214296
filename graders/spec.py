"""Answer specs: plain data (Brian2 strings), validated with one clear message per problem.

Validation happens in two steps. :func:`validate` is static and cheap (types, size, syntax,
required variables, features Brian2GeNN refuses) and never executes student code. :func:`dry_run`
lets Brian check units and identifiers by preparing (not running) the objects on the runtime
device; it runs inside the sandboxed simulation process, under its time and memory limits.
"""

from __future__ import annotations

import ast
import difflib
import re

from .assignments.base import METHODS, Assignment
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


def _rewrite_post_minus(name: str, text: str) -> tuple[str, list[str]]:
    """``X_post -= e`` becomes ``X_post += -(e)``: Brian2GeNN only allows ``+=`` there."""
    notes, out = [], []
    for raw in text.replace(";", "\n").splitlines():
        code, hash_, comment = raw.partition("#")
        m = _POST_MINUS.match(code)
        if m:
            new = f"{m.group(1)}{m.group(2)} += -({m.group(3)})"
            notes.append(
                f"{name}: rewrote '{code.strip()}' as '{new.strip()}' because Brian2GeNN only "
                "supports += on postsynaptic variables (same effect)"
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


def _unit_names() -> dict:
    import brian2.units as u
    import brian2.units.allunits as au

    return {**vars(au), **vars(u)}


def _number(node) -> float | None:
    """The value of ``3``, ``2.5`` or ``-70``; None for anything else."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    return None


def _code_parts(text: str, kind: str) -> list[str]:
    """The expressions of a field: right-hand sides of equations and statements."""
    out = []
    for line in text.splitlines():
        code = _strip_comment(line)
        if kind == "equations":  # 'dv/dt = expr : unit (flags)': only expr is code
            code = code.partition(":")[0].partition("=")[2]
        elif kind == "statements":
            code = re.split(r"[-+*/]?=", code, maxsplit=1)[-1]
        if code.strip():
            out.append(code.strip())
    return out


def _literal_quantities(text: str, kind: str):
    """``(source, value)`` of every number in the field's code: ``5*mV`` as a quantity, a bare
    ``0.2`` as a number."""
    units = _unit_names()
    for expr in _code_parts(text, kind):
        try:
            tree = ast.parse(expr, mode="eval")
        except SyntaxError:
            continue
        used = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
                pair = (node.left, node.right)
                number = [_number(n) for n in pair if _number(n) is not None]
                unit = [n.id for n in pair if isinstance(n, ast.Name) and n.id in units]
                if number and unit:
                    used |= {id(c) for n in pair for c in ast.walk(n)}
                    yield ast.unparse(node), number[0] * units[unit[0]]
        for node in ast.walk(tree):
            value = _number(node)
            if id(node) not in used and value is not None and value not in (0, 1, -1):
                used |= {id(c) for c in ast.walk(node)}
                yield ast.unparse(node), value


def hard_coded(a: Assignment, name: str, text: str, kind: str) -> list[str]:
    """Notes on numbers written where the task names a parameter (``vth += 5*mV`` for
    ``vth_inc``): hidden cases give the parameters other values, so such an answer loses the
    points those cases carry. The note names the parameter, never a hidden value."""
    from brian2.units.fundamentalunits import have_same_dimensions

    visible = {k: v for k, v in a.namespace().items() if k in a.usable_parameters()}
    found: dict[str, list[str]] = {}
    for source, q in _literal_quantities(text, kind):
        for param, value in visible.items():
            if not have_same_dimensions(q, value) or param in found.get(source, []):
                continue
            if abs(float(q) - float(value)) <= 1e-9 * abs(float(value)):
                found.setdefault(source, []).append(param)
    notes = []
    for source, params in found.items():
        names = " or ".join(f"'{p}'" for p in params)
        notes.append(
            f"{name}: you wrote {source} where the task names the parameter {names}; the "
            f"grader gives the parameters other values in hidden cases, so write "
            f"{' or '.join(params)} instead of its number"
        )
    return notes


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


# Brian prints a unit it has no name for in SI base units, in two spellings: "metre ** 2 *
# kilogram * second ** -4 * amp ** -1" and "m^2 kg s^-4 A^-1". Students think in volts.
_BASE_LONG = {
    "metre": "m",
    "kilogram": "kg",
    "second": "s",
    "amp": "A",
    "kelvin": "K",
    "mole": "mol",
    "candle": "cd",
}
_LONG_UNITS = re.compile(
    r"\b(?:metre|kilogram|second|amp|kelvin|mole|candle)(?: \*\* -?\d+)?"
    r"(?: \* (?:metre|kilogram|second|amp|kelvin|mole|candle)(?: \*\* -?\d+)?)+"
)
# At least one power, so that "s" or "a s A" in prose is left alone.
_SHORT_UNITS = re.compile(
    r"(?<![\w^])(?=[^()']*\^)(?:m|kg|s|A|K|mol|cd)(?:\^-?\d+)?"
    r"(?: (?:m|kg|s|A|K|mol|cd)(?:\^-?\d+)?)*(?![\w^])"
)


def _display_unit(exponents: dict[str, int]) -> str | None:
    """A dimension written in volt, amp and second (``volt / second``), the units of the
    tasks; None when it needs another base unit (then Brian's spelling stays)."""
    rest = {k: v for k, v in exponents.items() if k not in ("m", "kg", "s", "A") and v}
    a = exponents.get("kg", 0)  # a volt is m^2 kg s^-3 A^-1
    if rest or exponents.get("m", 0) != 2 * a:
        return None
    powers = {"volt": a, "amp": exponents.get("A", 0) + a, "second": exponents.get("s", 0) + 3 * a}

    def word(name: str, n: int) -> str:
        return name if n == 1 else f"{name} ** {n}"

    up = [word(k, n) for k, n in powers.items() if n > 0]
    down = [word(k, -n) for k, n in powers.items() if n < 0]
    if not up and not down:
        return "1 (no unit)"
    text = " * ".join(up) or "1"
    if down:
        text += " / " + (down[0] if len(down) == 1 else f"({' * '.join(down)})")
    return text


def _factors(text: str, long: bool) -> dict[str, int] | None:
    exps: dict[str, int] = {}
    if long:
        for part in text.split(" * "):
            name, _, power = part.partition(" ** ")
            exps[_BASE_LONG[name]] = exps.get(_BASE_LONG[name], 0) + int(power or 1)
    else:
        for part in text.split():
            name, _, power = part.partition("^")
            exps[name] = exps.get(name, 0) + int(power or 1)
    return exps


def readable_units(text: str) -> str:
    """Rewrite SI base-unit products in a Brian message as the units the task uses.

    ``"metre ** 2 * kilogram * second ** -4 * amp ** -1"`` becomes ``"volt / second"``; a
    product Brian has no name for is left as it was.
    """

    def sub(long: bool):
        def repl(m: re.Match) -> str:
            return _display_unit(_factors(m.group(0), long)) or m.group(0)

        return repl

    return _SHORT_UNITS.sub(sub(False), _LONG_UNITS.sub(sub(True), text))


def _units_hint(a: Assignment, field: str) -> str:
    """The assignment's unit hint for equations; for other fields, what an equation's
    derivative has to do with it would mislead, so name the parameters' units instead."""
    try:
        kind = a.field(field).kind
    except KeyError:
        kind = "equations"
    if kind == "equations":
        return f"{a.units_hint}; check which term is off"
    units: dict[str, list[str]] = {}
    for name in a.usable_parameters():
        value, unit = a.parameters[name]
        units.setdefault(unit, []).append(name)
    listed = "; ".join(f"{', '.join(sorted(ns))} in {u}" for u, ns in sorted(units.items()))
    what = "both sides of a comparison" if kind == "expression" else "both sides of '=' or '+='"
    return (
        f"Every term of a sum and {what} must have the same unit (the parameters: {listed}); "
        "a plain number has no unit, so write the parameter's name instead"
    )


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
        return Problem(field, "units", f"inconsistent units: {desc}. {_units_hint(a, field)}")
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
