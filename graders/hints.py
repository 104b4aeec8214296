"""Hints beside a spec's problems: units in the volts and seconds of the tasks, and numbers
written where the task names a parameter.

Brian reports a unit it has no name for in SI base units ("metre ** 2 * kilogram * second ** -4
* amp ** -1"); :func:`readable_units` writes it as "volt / second". :func:`units_hint` says what
to check for each kind of field. :func:`hard_coded` notes ``vth += 5*mV`` where the task names
``vth_inc``: hidden cases give parameters other values, so such an answer loses their points.

Imports inside functions: Brian2's units (about 4.7 s with Brian) load only when a spec is
checked.
"""

from __future__ import annotations

import ast
import re

from .assignments.base import Assignment


def _strip_comment(line: str) -> str:
    return line.split("#", 1)[0]


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


def units_hint(a: Assignment, field: str) -> str:
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
