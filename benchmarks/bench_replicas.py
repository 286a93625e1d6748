"""Benchmark of the DSM model for any number of noise samples m (issue 8).

Run: ``python benchmarks/bench_replicas.py [--points 60] [--runs 3] [--baseline REV]``, or
``python benchmarks/bench_replicas.py --repeat 7`` for the interleaved comparison below.

For each m (1, 2, 4, 16, 64, 10^6, inf), in a fresh process: the setup (pencil, Dyson system,
compiled form), the first point (cold) and the median time per point of a warm-started sweep of
``--points`` values of psi_p (0.1 to 16, geometric; isotropic data, t = 0.1, lam = 1e-3, tanh,
dps 30: train, test, DSM loss, certified), the CPU time and the peak resident memory.

Two baselines, measured in the same run:

* ``--baseline REV`` (default ``6edb21c``, the main before this issue): the same sweep with the code
  of that revision (a git worktree in a temporary folder), for m = 1, 2 and 4;
* the *smallest system* of the same model: the Dyson system reduced by symbolic substitution of
  every unknown given explicitly by the others (SymPy; 2 unknowns at m = 1, 3 for m >= 2, m
  substituted by its value), lambdified with common subexpressions and solved with
  ``mpmath.findroot`` (analytic Jacobian) at the same dps, warm-started from the previous point,
  with implicit derivatives in lam and zeta from the same Jacobian — what a careful person writes
  by hand. It certifies nothing; pencils' time is shown with and without its certificate.

``--repeat N`` measures the ratios on a shared machine, where one process per row cannot: all m in
one process (every theory built and one sweep run first), N rounds, each round one sweep per m in a rotated
order, the per-point time of each m divided by that of m = 1 *in the same round*; then N rounds of
m = 1 now against m = 1 at ``--baseline``, one fresh process each, alternating. Medians and the
spread of the per-round ratios are printed, with the load average, for the wall time and for the
CPU time of the process (which other jobs on the machine do not inflate).

Prints Markdown tables. Machines are noisy: compare the ratios, measured side by side.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MS = ["1", "2", "4", "16", "64", "1000000", "inf"]
POINT = dict(t="0.1", activation="tanh", psi_n=2, lam="1e-3", dps=30)


def _grid(points):
    try:
        from pencils.sweep import points as grid_points
    except ImportError:  # the baseline 6edb21c names it grid
        from pencils.sweep import grid as grid_points

    return grid_points("0.1", "16", points, log=True, dps=POINT["dps"])


def measure(m, points, runs, certify=True):
    """One m in this process: setup, cold point, per-point median of the sweep, CPU, peak RSS."""
    from derivations.dsm.equivalence import gaussian_equivalence
    from derivations.dsm.theory import CONSTANT_DIGITS, Theory

    gaussian_equivalence(POINT["activation"], POINT["t"], 1, dps=POINT["dps"] + CONSTANT_DIGITS)  # not timed here
    start = time.perf_counter()
    theory = Theory(m=m, t=POINT["t"], activation=POINT["activation"], dps=POINT["dps"])
    try:
        from pencils.solver.compiled import compile_system

        compile_system(theory.system)
    except ImportError:
        pass
    setup = time.perf_counter() - start
    values = _grid(points)
    if not certify:
        _without_certificate()
    start = time.perf_counter()
    theory.curve(POINT["psi_n"], values[:1], POINT["lam"])
    cold = time.perf_counter() - start
    per_point, per_point_cpu = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        records = theory.curve(POINT["psi_n"], values, POINT["lam"])
        per_point.append((time.perf_counter() - start) / points)
        per_point_cpu.append((time.process_time() - cpu) / points)
    digits = min(r["test_error_digits"] for r in records)
    return dict(setup=setup, cold=cold, per_point=statistics.median(per_point),
                per_point_cpu=statistics.median(per_point_cpu), digits=digits,
                cpu=time.process_time(), rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                unknowns=len(theory.system.unknowns), test_error=str(records[-1]["test_error"]))


def interleaved(ms, points, rounds):
    """All ``ms`` in this process: ``rounds`` rounds of one sweep per m (rotated order); per-point times."""
    from derivations.dsm.theory import Theory

    values = _grid(points)
    theories = {m: Theory(m=m, t=POINT["t"], activation=POINT["activation"], dps=POINT["dps"]) for m in ms}
    for theory in theories.values():  # compile and warm up: one whole sweep each, not timed
        theory.curve(POINT["psi_n"], values, POINT["lam"])
    times, cpu_times = {m: [] for m in ms}, {m: [] for m in ms}
    for r in range(rounds):
        for m in ms[r % len(ms):] + ms[:r % len(ms)]:
            start, cpu = time.perf_counter(), time.process_time()
            theories[m].curve(POINT["psi_n"], values, POINT["lam"])
            times[m].append((time.perf_counter() - start) / points)
            cpu_times[m].append((time.process_time() - cpu) / points)
    return dict(times=times, cpu=cpu_times, load=os.getloadavg()[0])


def _repeat(args):
    """``--repeat``: the interleaved rounds of the module docstring, printed as Markdown."""
    ms = args.ms.split(",")
    if "1" not in ms:
        ms = ["1"] + ms
    load = os.getloadavg()[0]
    result = _child(["--one", ",".join(ms), "--mode", "interleaved", "--points", str(args.points),
                     "--runs", str(args.repeat)])
    if "error" in result:
        raise SystemExit(f"interleaved run failed: {result['error']}")
    print(f"All m in one process, {args.repeat} rounds of a {args.points}-point sweep each (rotated order); "
          f"load average {load:.2f} before, {result['load']:.2f} after")
    for kind, times in (("wall", result["times"]), ("CPU", result["cpu"])):
        one = times["1"]
        print()
        print(f"| m | per point, {kind} (median) | per point / m = 1, per round | median ratio | largest ratio |")
        print("| --- | --- | --- | --- | --- |")
        for m in ms:
            ratios = [a / b for a, b in zip(times[m], one)]
            print(f"| {m} | {_ms(statistics.median(times[m]))} | {', '.join(f'{x:.2f}' for x in ratios)} | "
                  f"{statistics.median(ratios):.2f} | {max(ratios):.2f} |")
    print()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
                       check=True, capture_output=True)
        try:
            script = base / "benchmarks" / "bench_replicas.py"
            script.write_text(Path(__file__).read_text())
            env = {**os.environ, "PYTHONPATH": str(base), "PENCILS_CACHE_DIR": "off"}
            common = ["--one", "1", "--points", str(args.points), "--runs", "3"]
            rounds = []
            for _ in range(args.repeat):
                now = _child(common)
                out = subprocess.run([sys.executable, str(script), *common], capture_output=True, text=True, env=env,
                                     cwd=str(base))
                rounds.append((json.loads(out.stdout.strip().splitlines()[-1]), now, os.getloadavg()[0]))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
    print(f"m = 1 against {args.baseline}, one fresh process each (median of 3 sweeps), alternating "
          "(wall time; CPU time):")
    print()
    print(f"| round | {args.baseline}: per point | now: per point | speed-up | speed-up in CPU time | load average |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n, (b, a, la) in enumerate(rounds, 1):
        print(f"| {n} | {_ms(b['per_point'])} | {_ms(a['per_point'])} | {b['per_point'] / a['per_point']:.2f}x | "
              f"{b['per_point_cpu'] / a['per_point_cpu']:.2f}x | {la:.2f} |")
    wall = [b["per_point"] / a["per_point"] for b, a, _ in rounds]
    cpu = [b["per_point_cpu"] / a["per_point_cpu"] for b, a, _ in rounds]
    print(f"| median | {_ms(statistics.median(b['per_point'] for b, _, _ in rounds))} | "
          f"{_ms(statistics.median(a['per_point'] for _, a, _ in rounds))} | {statistics.median(wall):.2f}x | "
          f"{statistics.median(cpu):.2f}x | |")


def _without_certificate():
    """Make every solve of the DSM theory skip the certificate (for the comparison with the smallest system)."""
    import derivations.dsm.theory as theory
    import pencils.sweep as sweep

    original = sweep.solve

    def solve(*args, **kwargs):
        kwargs["certify"] = False
        return original(*args, **kwargs)

    sweep.solve = solve
    theory.solve = solve


def smallest_system(m, points, runs):
    """The sweep on the smallest system (see the module docstring), in this process."""
    import mpmath
    import sympy as sp

    from derivations.dsm.theory import Theory
    from pencils.values import to_mpmath

    theory = Theory(m=m, t=POINT["t"], activation=POINT["activation"], dps=POINT["dps"])
    system = theory.system
    start = time.perf_counter()
    count = {s: theory.fixed["m"] for s in system.parameters if str(s) == "m"}  # m as the number it is
    relations = {eq.lhs: eq.rhs.subs(count) for eq in system.equations}
    targets = {t: system.target_formulas[t].subs(count) for t in system.targets}
    # keep a smallest set of unknowns that cuts every cycle of "g_u's formula reads g_v" (a minimum
    # feedback vertex set, by brute force: ten unknowns at most); substitute the others, in order
    import itertools

    import networkx as nx

    graph = nx.DiGraph([(u, v) for u, r in relations.items() for v in r.free_symbols if v in relations])
    graph.add_nodes_from(relations)
    keep = next(set(c) for size in range(len(relations) + 1) for c in itertools.combinations(relations, size)
                if nx.is_directed_acyclic_graph(graph.subgraph(set(relations) - set(c))))
    order = list(nx.topological_sort(graph.subgraph(set(relations) - keep)))
    for u in reversed(order):  # a formula reads only kept unknowns and those substituted after it
        formula = relations.pop(u)
        relations = {v: r.subs(u, formula) for v, r in relations.items()}
        targets = {t: f.subs(u, formula) for t, f in targets.items()}
    unknowns = list(relations)
    fixed = dict(theory.fixed)
    parameters = [s for s in system.parameters if str(s) not in ("psi_p", "lam", "zeta", "m")]
    lam, zeta, psi_p = (next(s for s in system.parameters if str(s) == n) for n in ("lam", "zeta", "psi_p"))
    F = sp.Matrix([v - r for v, r in relations.items()])
    args = unknowns + [psi_p, lam, zeta] + parameters
    f = sp.lambdify(args, list(F), "mpmath", cse=True)
    jac = sp.lambdify(args, F.jacobian(unknowns).tolist(), "mpmath", cse=True)
    dparam = sp.lambdify(args, [list(F.diff(lam)), list(F.diff(zeta))], "mpmath", cse=True)
    T = sp.Matrix(list(targets.values()))
    tvals = sp.lambdify(args, list(T), "mpmath", cse=True)
    tjac = sp.lambdify(args, T.jacobian(unknowns).tolist(), "mpmath", cse=True)
    tparam = sp.lambdify(args, [list(T.diff(lam)), list(T.diff(zeta))], "mpmath", cse=True)
    setup = time.perf_counter() - start
    values = _grid(points)
    dps = POINT["dps"]
    with mpmath.workdps(dps + 10):
        known = {**fixed, "psi_n": POINT["psi_n"]}
        rest = [to_mpmath(known[str(p)]) for p in parameters]
        lam_v = mpmath.mpf(POINT["lam"])
        guess = _pencils_unknowns(theory, values[0], unknowns)
        runs_time = []
        for _ in range(runs):
            u = list(guess)
            begin = time.perf_counter()
            for p in values:
                point = lambda *x: [*x, p, lam_v, 0, *rest]  # noqa: E731
                u = list(mpmath.findroot(lambda *x: f(*point(*x)), u, J=lambda *x: jac(*point(*x)),
                                         tol=mpmath.mpf(10) ** (-2 * dps), maxsteps=50))
                at = point(*u)
                J = mpmath.matrix(jac(*at))
                tvals(*at)  # the targets, then their derivatives dt/dx = dT/du du/dx + dT/dx
                T_u, T_x = tjac(*at), tparam(*at)
                for column, direct in zip(dparam(*at), T_x):  # implicit derivatives in lam, zeta
                    du = mpmath.lu_solve(J, -mpmath.matrix(column))
                    [sum(a * b for a, b in zip(row, du)) + d for row, d in zip(T_u, direct)]
            runs_time.append((time.perf_counter() - begin) / len(values))
    return dict(setup=setup, per_point=statistics.median(runs_time), unknowns=len(unknowns))


def _pencils_unknowns(theory, psi_p, unknowns):
    """The unknowns of the smallest system at a point, read off pencils' solution (the warm start)."""
    from pencils import solve

    solution = solve(theory.system, {**theory.fixed, "psi_n": POINT["psi_n"], "psi_p": psi_p, "lam": POINT["lam"]},
                     dps=POINT["dps"], certify=False)
    by_name = {str(theory.system.symbols[e]): v for e, v in solution.unknowns.items()}
    return [by_name[str(u)] for u in unknowns]


def _child(args, env=None, cwd=None):
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True,
                         env=env, cwd=cwd)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=60, help="points of the sweep (default 60)")
    parser.add_argument("--runs", type=int, default=3, help="repeated sweeps, median (default 3)")
    parser.add_argument("--baseline", default="6edb21c", help="git revision of the baseline (default 6edb21c)")
    parser.add_argument("--ms", default=",".join(MS), help="the m to measure, comma-separated")
    parser.add_argument("--repeat", type=int, default=0,
                        help="interleaved rounds instead of one process per row (see the module docstring)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="pencils", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        if args.mode == "interleaved":
            result = interleaved(args.one.split(","), args.points, args.runs)
        elif args.mode == "smallest":
            result = smallest_system(args.one, args.points, args.runs)
        else:
            result = measure(args.one, args.points, args.runs, certify=args.mode != "uncertified")
        print(json.dumps(result))
        return
    if args.repeat:
        _repeat(args)
        return
    ms = args.ms.split(",")
    common = ["--points", str(args.points), "--runs", str(args.runs)]
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
                       check=True, capture_output=True)
        try:
            env = {**os.environ, "PYTHONPATH": str(base), "PENCILS_CACHE_DIR": "off"}
            rows = []
            for m in ms:
                row = {"m": m, "now": _child(["--one", m, *common])}
                row["uncertified"] = _child(["--one", m, "--mode", "uncertified", *common])
                if m != "inf":
                    row["smallest"] = _child(["--one", m, "--mode", "smallest", *common])
                if m in ("1", "2", "4"):
                    script = base / "benchmarks" / "bench_replicas.py"
                    script.write_text(Path(__file__).read_text())
                    out = subprocess.run([sys.executable, str(script), "--one", m, *common], capture_output=True,
                                         text=True, env=env, cwd=str(base))
                    row["base"] = (json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0
                                   else {"error": out.stderr.strip().splitlines()[-1]})
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
    _report(rows, args)


def _ms(x):
    return f"{1000 * x:.1f} ms" if x < 10 else f"{x:.0f} s"


def _report(rows, args):
    print(f"DSM, isotropic, tanh, t = 0.1, psi_n = 2, lam = 1e-3, dps 30; warm-started sweep of {args.points} points "
          f"in psi_p (0.1 to 16), median of {args.runs} sweeps, one process per row")
    print()
    print("| m | unknowns | setup (pencil, system, compile) | first point | per point | per point / m = 1 | "
          "certified digits | CPU of the process | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    one = next(r["now"]["per_point"] for r in rows if r["m"] == "1")
    for r in rows:
        n = r["now"]
        if "error" in n:
            print(f"| {r['m']} | failed: {n['error']} |||||||| ")
            continue
        print(f"| {r['m']} | {n['unknowns']} | {_ms(n['setup'])} | {_ms(n['cold'])} | {_ms(n['per_point'])} | "
              f"{n['per_point'] / one:.2f} | {n['digits']} | {n['cpu']:.1f} s | {n['rss']:.0f} MB |")
    print()
    print(f"Against main at {args.baseline} (same sweep, same run):")
    print()
    print("| m | main: per point | now: per point | speed-up |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        if "base" in r:
            b = r["base"]
            if "error" in b:
                print(f"| {r['m']} | failed: {b['error']} | {_ms(r['now']['per_point'])} | |")
            else:
                print(f"| {r['m']} | {_ms(b['per_point'])} | {_ms(r['now']['per_point'])} | "
                      f"{b['per_point'] / r['now']['per_point']:.1f}x |")
    print()
    print("Against the smallest system solved with mpmath.findroot (no certificate):")
    print()
    print("| m | its unknowns | its setup (SymPy) | its per point | pencils, certified | ratio | "
          "pencils, no certificate | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        s = r.get("smallest")
        if not s:
            continue
        if "error" in s:
            print(f"| {r['m']} | failed: {s['error']} |||||||")
            continue
        now, bare = r["now"]["per_point"], r["uncertified"]["per_point"]
        print(f"| {r['m']} | {s['unknowns']} | {_ms(s['setup'])} | {_ms(s['per_point'])} | {_ms(now)} | "
              f"{now / s['per_point']:.2f} | {_ms(bare)} | {bare / s['per_point']:.2f} |")


if __name__ == "__main__":
    main()
