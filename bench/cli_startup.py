"""Start-up time of ``crm --help`` and the light commands, as a ratio to ``python -c "import flask, sqlalchemy"``.

``python bench/run.py cli_startup [--rounds 7]``. A throw-away instance (SQLite, one user) is made in a
temporary folder; each command runs as a fresh process, baseline and commands interleaved, best of
``--rounds`` (the machines are noisy), after one warm-up run of each that compiles the bytecode (as an install does). Also prints which heavy libraries each command imported. Target: 2x.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("numpy", "scipy", "sklearn", "pandas", "lifetimes", "pypinyin", "schemathesis", "flask_admin",
         "flask_smorest", "cryptography")
COMMANDS = {
    "crm --help": ["--help"],
    "crm plugins": ["plugins"],
    "crm jobs list": ["jobs", "list"],
    "crm token list": ["token", "list", "bench"],
}
# Runs a command in this interpreter and prints the heavy modules it loaded (to stderr, after the output).
PROBE = ("import sys, atexit\n"
         "atexit.register(lambda: print('HEAVY=' + ','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr))\n"
         "sys.argv = ['crm', *{args!r}]\n"
         "from crmcore.cli import main\n"
         "main()\n")


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system: less disturbed by other processes on a shared machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cli_startup")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    python = sys.executable
    crm = [python, "-c", "import sys; sys.argv[0] = 'crm'; from crmcore.cli import main; main()"]
    with tempfile.TemporaryDirectory(prefix="crm-bench-cli-") as tmp:
        env = {**os.environ, "CRM_DATABASE_URL": f"sqlite:///{Path(tmp) / 'crm.sqlite'}", "CRM_INSTANCE_PATH": tmp,
               # bytecode compiled once and reused, as in an install (pip compiles it), by the baseline as well:
               # with PYTHONDONTWRITEBYTECODE set, every run would compile the CRM's sources again
               "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([*crm, "init-db"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*crm, "create-user", "bench", "--role", "admin", "--password", "bench-password"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*crm, "token", "create", "bench"], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        baseline_cmd = [python, "-c", "import flask, sqlalchemy"]
        inf = (float("inf"), float("inf"))
        best = {"baseline": inf, **{name: inf for name in COMMANDS}}
        for argv_ in [baseline_cmd, *([*crm, *a] for a in COMMANDS.values())]:  # warm-up: writes the bytecode
            _run(argv_, env)
        for _ in range(args.rounds):  # interleaved: each round runs the baseline and every command once
            for name, argv_ in [("baseline", baseline_cmd), *((n, [*crm, *a]) for n, a in COMMANDS.items())]:
                wall, cpu = _run(argv_, env)
                best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
        base_wall, base_cpu = best["baseline"]
        print(f"baseline python -c 'import flask, sqlalchemy': {base_wall * 1000:.0f} ms wall, "
              f"{base_cpu * 1000:.0f} ms CPU (best of {args.rounds})")
        worst = 0.0
        for name, cmd_args in COMMANDS.items():
            probe = subprocess.run([python, "-c", PROBE.format(heavy=HEAVY, args=cmd_args)], env=env,
                                   capture_output=True, text=True)
            heavy = next((line[6:] for line in probe.stderr.splitlines() if line.startswith("HEAVY=")), "?")
            wall, cpu = best[name]
            worst = max(worst, wall / base_wall)
            print(f"{name:16} {wall * 1000:6.0f} ms wall {wall / base_wall:5.2f}x, {cpu * 1000:6.0f} ms CPU "
                  f"{cpu / base_cpu:5.2f}x  heavy modules loaded: {heavy or 'none'}")
        print(f"worst wall-time ratio {worst:.2f}x (target 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
