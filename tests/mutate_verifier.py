"""Mutation testing of the verifier's rules, on demand (not in CI):

    .venv/bin/python -m tests.mutate_verifier                  # all three files
    .venv/bin/python -m tests.mutate_verifier --files claims.py --jobs 2

A mutant is the source of service/reporter/{verify,claims,figures}.py with one change:
a comparison flipped (== !=, < <=, > >=, in / not in, is / is not), ``and``/``or``
swapped, a ``not`` dropped, + and - swapped, a whole-number constant off by one (0 → 1,
1 → 0, n → n + 1) or a True/False flipped. Each is written into a copy of the checkout
(service/ and tests/ under a temporary directory, so the working tree is never touched)
and the verifier's unit tests (``TESTS``: the planted lies and true sentences, the forms,
the corpus) run against it; a mutant is killed when they fail (or run
past ``--timeout``). Printed: killed / total per file and every survivor with its line,
to be judged equivalent or killed by a new test.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILES = ("verify.py", "claims.py", "figures.py")
TESTS = (
    "tests/unit/test_verify_lies.py",
    "tests/unit/test_verify_forms.py",
    "tests/unit/test_verifier_corpus.py",
)
_FLIP: dict[type, type] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


# Survivors judged equivalent (no input tells them apart), keyed by the mutated line's
# text and the mutation, with why. Decorator flags (``@dataclass(frozen=True, slots=True)``)
# are equivalent too and counted as such without being listed here.
EQUIVALENT: dict[tuple[str, str], str] = {
    (
        'way = "a rise" if f.trend > 0 else "a fall" if f.trend < 0 else "no change"',
        "int:0",
    ): "f.trend < 1 differs at trend 0 only, and a level reached with no change never fails",
    (
        'way = "a rise" if f.sign > 0 else "a fall" if f.sign < 0 else "no change"',
        "int:0",
    ): "f.sign < 1 differs at sign 0 only, and a zero change never fails",
    (
        "token = _Token(t.start, t.end + used)",
        "binop:Add",
    ): "the token's end is not read (the check's end is given apart)",
    (
        "if rank_list(text[m.end() : m.end() + 40]) is None:",
        "int:40",
    ): "the width of the look-ahead for 'по выручке' after an ordinal",
    (
        "rest = text[m.end() : m.end() + 30]",
        "int:30",
    ): "the width of the look-ahead for a counted noun after a number word",
    (
        "if ca.share_of_revenue is not None and cb.share_of_revenue is not None:",
        "boolop:And",
    ): "shares are all None (a day without revenue) or none is",
    (
        "if decimals or not loose or v == 0:",
        "int:0",
    ): "v == 1 without decimals has no trailing zeros either: the same exponent",
    (
        "def _readings(body: str, *, loose: bool = False, factor: Decimal = _ONE) -> list[_Reading]:",
        "bool:False",
    ): "only _two_numbers uses the default, and it compares exact values",
    (
        'point = "," if plain.rfind(",") > plain.rfind(".") else "."',
        "compare:0:Gt",
    ): "with both separators present their positions differ",
    (
        "return [f for f in table.between(v - c, v) if abs(f.value) < v]",
        "compare:0:Lt",
    ): "between(v - c, v) is half-open: no figure equals v",
    (
        "lo, hi = (v, v + u) if h.bound > 0 else (v - u, v)",
        "compare:0:Gt",
    ): "inside `if h.bound`: the bound is never 0",
    ("return sign > 0 or f.sign == 0", "compare:0:Gt"): "called only with a sign of +1 or -1",
    (
        'if f.count or (v == v.to_integral_value() and f.source.endswith((".units", "units_now"))):',
        "compare:0:Eq",
    ): "every whole-number figure is a count (ints are counts), so the first test decides",
    (
        "return r.decimals == 1 and round_one(v) == r.value",
        "boolop:And",
    ): "a percent accepted with one decimal always equals its rounding to one decimal",
    (
        "pct: bool = False",
        "bool:False",
    ): "_Token.pct is read only for digit tokens, which always set it",
    (
        "if not any(s < w.end and w.start < e for s, e in taken):",
        "compare:0:Lt",
    ): "a number word cannot touch digits (its pattern needs a non-word boundary)",
    (
        "last_end = tokens[i - 1].end if i else 0",
        "int:0",
    ): "a name at offset 0 is found again by the sentence rule",
    (
        "value = readings[0].value if readings else Decimal(0)",
        "int:0",
    ): "a matched number always has a reading",
    (
        'way = "a rise" if f.trend > 0 else "a fall" if f.trend < 0 else "no change"',
        "compare:0:Gt",
    ): "a level reached with no change (trend 0) never fails: its text is never made",
    (
        'way = "a rise" if f.trend > 0 else "a fall" if f.trend < 0 else "no change"',
        "compare:0:Lt",
    ): "likewise",
    (
        'way = "a rise" if f.sign > 0 else "a fall" if f.sign < 0 else "no change"',
        "compare:0:Gt",
    ): "a zero change takes any sign and direction: never fails",
    (
        'way = "a rise" if f.sign > 0 else "a fall" if f.sign < 0 else "no change"',
        "compare:0:Lt",
    ): "likewise",
    (
        "r = _Reading(w.value, _TENTH, 1)",
        "int:1",
    ): "the decimals of a multiple in words are not read again",
    (
        "r = _Reading(w.value * factor, _TENTH * factor if factor != _ONE else _ONE, 1)",
        "int:1",
    ): "the decimals of a number in words are not read again (never copied)",
    (
        "if i < 0 or words[i].isdigit():",
        "boolop:Or",
    ): "i < 0 never reaches it; a digit has no direction either way",
    (
        'if words[i] in ("up", "down") and i > 0 and words[i - 1] in _PHRASAL:',
        "compare:0:Gt",
    ): "at i = 0, words[-1] is the word itself, never a phrasal verb",
    (
        "return _word_direction(w, comparatives=False)",
        "bool:False",
    ): "only nouns reach it, and no noun is a comparative",
    (
        "words = _HEDGE_WORD.findall(before.lower())[-4:]",
        "int:4",
    ): "after popping на/by and чем/than, only the last two words are read",
    (
        'if "than" not in before.lower()[-12:]:',
        "int:12",
    ): "the width of the window that looks for 'than' right before",
    (
        'way: int = 0  # "halved": the multiple is a fall',
        "int:0",
    ): "every WordNumber is made with its way",
    (
        "_WHOLE = Decimal(1)",
        "int:1",
    ): "quantize to Decimal(0) and Decimal(1) give the same exponent",
    ("clean_name = lru_cache(maxsize=8192)(_clean_name)", "int:8192"): "a cache size",
    (
        "value: Decimal = Decimal(0)  # exact, unrounded, signed",
        "int:0",
    ): "every Figure is made with its value",
    (
        'count: bool = False  # a whole count (products, units, days): what "три товара" may state',
        "bool:False",
    ): "every Figure is made with count",
    (
        "pair: bool = False  # of two products or categories: both must be named in its sentence",
        "bool:False",
    ): "every Figure is made with pair",
    (
        "past: bool = False  # an earlier day's or the average's: its sentence must say so",
        "bool:False",
    ): "every Figure is made with past",
    (
        't.add([("total_units", facts.total_units)], trend=h.units_change if h else None, count=True)',
        "bool:True",
    ): "an int is a count anyway",
    ("count=True,", "bool:True"): "ints are counts anyway",
    (
        't.add([(f"rank {r}", r) for r in range(1, longest + 1)], count=True)',
        "bool:True",
    ): "ranks are ints: counts anyway",
    (
        't.add([("history.previous_units", h.previous_units)], count=True, past=True)',
        "bool:True",
    ): "an int is a count anyway",
    (
        "running = Decimal(0)",
        "int:0",
    ): "one rouble more in a running sum of revenues moves no share at one decimal",
    (
        "if now is None or before is None or now <= 0 or before <= 0:",
        "compare:0:LtE",
    ): "a zero denominator gives no ratio (ratio() is None and is skipped)",
    (
        "if now is None or before is None or now <= 0 or before <= 0:",
        "boolop:Or",
    ): "None or non-positive sides give no ratio either way (ratio() None, skipped)",
    (
        "way = ((now > before) - (now < before)) if directed else 0",
        "compare:0:Gt",
    ): "equal sides give a ratio of 1, which no writer states as a multiple",
    ("way = ((now > before) - (now < before)) if directed else 0", "compare:0:Lt"): "likewise",
    ("way = ((now > before) - (now < before)) if directed else 0", "int:0"): "likewise",
}


def equivalent(m: Mutant) -> str | None:
    """Why a mutant is equivalent, or None."""
    line = _source(m.file).splitlines()[m.line - 1].strip()
    if line.startswith("@"):
        return "a decorator flag (frozen, slots): no behaviour"
    return EQUIVALENT.get((line, m.what))


@dataclass(frozen=True)
class Mutant:
    file: str
    index: int  # which mutation point of the file
    line: int
    what: str


def _points(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Every node a mutation changes, with what it does; docstrings and annotations aside."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _FLIP:
                    yield node, f"compare:{i}:{type(op).__name__}"
        elif isinstance(node, ast.BoolOp):
            yield node, f"boolop:{type(node.op).__name__}"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            yield node, f"binop:{type(node.op).__name__}"
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            yield node, f"bool:{node.value}"
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield node, f"int:{node.value}"


def _apply(node: ast.AST, what: str) -> ast.AST | None:
    """Change the node in place (or return the node that replaces it)."""
    kind, _, rest = what.partition(":")
    if kind == "compare":
        assert isinstance(node, ast.Compare)
        i = int(rest.partition(":")[0])
        node.ops[i] = _FLIP[type(node.ops[i])]()
    elif kind == "boolop":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "not":
        assert isinstance(node, ast.UnaryOp)
        return node.operand
    elif kind == "binop":
        assert isinstance(node, ast.BinOp)
        node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
    elif kind == "bool":
        assert isinstance(node, ast.Constant)
        node.value = not node.value
    elif kind == "int":
        assert isinstance(node, ast.Constant) and isinstance(node.value, int)
        node.value = {0: 1, 1: 0}.get(node.value, node.value + 1)
    return None


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, replacement: ast.AST) -> None:
        self.target, self.replacement = target, replacement

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if node is self.target:
            return self.replacement
        return super().generic_visit(node)


def _skip(tree: ast.Module) -> set[int]:
    """ids of nodes not worth mutating: docstrings, annotations, __all__, regex text."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for arg in [*node.args.args, *node.args.kwonlyargs]:
                if arg.annotation is not None:
                    out |= {id(n) for n in ast.walk(arg.annotation)}
            if node.returns is not None:
                out |= {id(n) for n in ast.walk(node.returns)}
        if isinstance(node, (ast.Dict, ast.List, ast.Set, ast.Tuple)):
            # word tables ("три": 3): data, not rules
            out |= {id(n) for n in ast.walk(node) if isinstance(n, ast.Constant)}
        if isinstance(node, ast.AnnAssign):
            out |= {id(n) for n in ast.walk(node.annotation)}
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("Literal", "tuple", "dict", "list", "set", "frozenset")
        ):
            out |= {id(n) for n in ast.walk(node.slice)}
    return out


_SOURCES: dict[str, str] = {}  # each file as it was when the run began


def _source(file: str) -> str:
    if file not in _SOURCES:
        _SOURCES[file] = (REPO / "service" / "reporter" / file).read_text()
    return _SOURCES[file]


def mutants(file: str) -> list[Mutant]:
    source = _source(file)
    tree = ast.parse(source)
    skip = _skip(tree)
    return [
        Mutant(file, i, getattr(node, "lineno", 0), what)
        for i, (node, what) in enumerate(p for p in _points(tree) if id(p[0]) not in skip)
    ]


def mutated_source(m: Mutant) -> str:
    tree = ast.parse(_source(m.file))
    skip = _skip(tree)
    node, what = [p for p in _points(tree) if id(p[0]) not in skip][m.index]
    replacement = _apply(node, what)
    if replacement is not None:
        tree = _Replace(node, replacement).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree))


def _copy(into: Path) -> None:
    shutil.copytree(REPO / "service", into / "service")
    for file in FILES:  # the sources the mutants are made from
        (into / "service" / "reporter" / file).write_text(_source(file))
    shutil.copytree(
        REPO / "tests", into / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.png")
    )
    shutil.copy(REPO / "pyproject.toml", into / "pyproject.toml")


def worker(work: str, timeout: int) -> None:
    """Run mutants read from stdin ("file index" lines) in this process, in the copy
    `work`: each is written there, the verifier's modules and tests are imported
    afresh and pytest runs in-process (no interpreter start per mutant)."""
    import os
    import signal

    import pytest

    os.chdir(work)
    sys.path.insert(0, work)

    def alarm(*_: object) -> None:
        raise TimeoutError("mutant ran too long")

    signal.signal(signal.SIGALRM, alarm)
    # The control: the copy as it is must pass, or every mutant would look killed.
    code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *TESTS])
    print(f"CONTROL {int(code)}", flush=True)
    for line in sys.stdin:
        file, index = line.split()
        m = mutants(file)[int(index)]
        target = Path(work) / "service" / "reporter" / file
        original = target.read_text()
        target.write_text(mutated_source(m))
        for name in [n for n in sys.modules if n.startswith(("service.reporter", "tests.unit"))]:
            del sys.modules[name]
        signal.alarm(timeout)
        try:
            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *TESTS])
        except TimeoutError:
            code = 1
        finally:
            signal.alarm(0)
            target.write_text(original)
        print(f"RESULT {file} {index} {int(code != 0)}", flush=True)


def run_all(todo: list[Mutant], works: list[Path], *, timeout: float) -> list[tuple[Mutant, bool]]:
    """The mutants spread over one worker process per copy; results as they come."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.mutate_verifier",
                "--worker",
                str(w),
                "--timeout",
                str(int(timeout)),
            ],
            cwd=w,  # the copy's own tests and sources
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for w in works
    ]
    batches = [todo[j :: len(works)] for j in range(len(works))]
    results: list[tuple[Mutant, bool]] = []

    def drive(j: int) -> list[tuple[Mutant, bool]]:
        p, out = procs[j], []
        assert p.stdin is not None and p.stdout is not None
        while not (line := p.stdout.readline()).startswith("CONTROL"):
            if not line:
                raise RuntimeError("a worker died")
        if line.split()[1] != "0":
            raise RuntimeError("the unmutated tests fail in the copy: nothing to measure")
        for m in batches[j]:
            p.stdin.write(f"{m.file} {m.index}\n")
            p.stdin.flush()
            while not (line := p.stdout.readline()).startswith("RESULT"):
                if not line:
                    raise RuntimeError("a worker died")
            killed = line.split()[3] == "1"
            print(
                f"{m.file}:{m.index} line {m.line} {m.what}: {'killed' if killed else 'SURVIVED'}",
                flush=True,
            )
            out.append((m, killed))
        p.stdin.close()
        p.wait()
        return out

    with ThreadPoolExecutor(len(works)) as pool:
        for out in pool.map(drive, range(len(works))):
            results += out
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", nargs="*", default=list(FILES))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--only", nargs="*", help="file:index of mutants to run (the survivors)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", default="/tmp/mutate-verifier.json", help="where the results are kept")
    ap.add_argument("--summary", help="print the score of kept results (after judging survivors)")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, int(args.timeout))
        return
    if args.summary:
        kept = json.loads(Path(args.summary).read_text())
        index = {(m.file, m.index): m for f in FILES for m in mutants(f)}
        summary([(index[(f, i)], k) for f, i, k in kept], list(FILES))
        return
    todo = [m for f in args.files for m in mutants(f)]
    if args.only:
        todo = [m for m in todo if f"{m.file}:{m.index}" in set(args.only)]
    with tempfile.TemporaryDirectory(prefix="mutate-verifier-") as tmp:
        works = [Path(tmp) / f"w{j}" for j in range(args.jobs)]
        for w in works:
            _copy(w)
        results = run_all(todo, works, timeout=args.timeout)
    out = Path(args.out)
    if args.only and out.exists():  # a rerun of survivors: the rest of the last run stands
        index = {(m.file, m.index): m for f in FILES for m in mutants(f)}
        again = {(m.file, m.index) for m, _ in results}
        kept = json.loads(out.read_text())
        results = [(index[(f, i)], k) for f, i, k in kept if (f, i) not in again] + results
    out.write_text(json.dumps([[m.file, m.index, k] for m, k in results]))
    summary(results, list(FILES) if args.only else args.files)


def summary(results: list[tuple[Mutant, bool]], files: list[str]) -> None:
    """Killed / non-equivalent per file, and every survivor with its verdict."""
    total_killed = total_counted = 0
    for f in files:
        mine = [(m, k) for m, k in results if m.file == f]
        killed = sum(k for _, k in mine)
        same = [m for m, k in mine if not k and equivalent(m)]
        counted = len(mine) - len(same)
        total_killed, total_counted = total_killed + killed, total_counted + counted
        print(
            f"{f}: {killed}/{counted} non-equivalent mutants killed "
            f"({len(mine)} made, {len(same)} equivalent)"
        )
        for m, k in sorted(mine, key=lambda mk: mk[0].line):
            if not k:
                why = equivalent(m)
                tag = f"equivalent: {why}" if why else "SURVIVED"
                print(f"  {f}:{m.index} line {m.line} {m.what}: {tag}")
    share = 100 * total_killed / max(total_counted, 1)
    print(f"total: {total_killed}/{total_counted} non-equivalent killed ({share:.1f} %)")


if __name__ == "__main__":
    main()
