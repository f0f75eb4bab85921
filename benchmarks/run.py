"""Runs the keras_lr benchmarks and writes a Markdown report.

    python benchmarks/run.py                       # all benchmarks, all backends
    python benchmarks/run.py --backends jax --only callbacks finder
    python benchmarks/run.py --quick               # a smoke run: small sizes, 2 repeats
    python benchmarks/run.py --backends jax --only suggestion   # -> results-suggestion.md

Each backend runs in its own process (Keras fixes its backend at import).
Within a process every benchmark runs its cases interleaved after a warm-up
round and reports the median, over rounds, of each case's time divided by the
baseline's.  The report (default `benchmarks/results.md`, with the raw figures
in `results.json` next to it) names the machine, the library versions and the
accelerator, or says that there was none.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

from _common import markdown_table

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = ("tensorflow", "jax", "torch")
BENCHMARKS = ("callbacks", "finder", "ensemble", "history", "scaling", "suggestion")
# These do not depend on the backend (the history's memory, the quality of a
# suggestion): they run on the first one only.
ONCE = ("history", "suggestion")
MARK = "BENCHMARK-RESULT "


def _device() -> str:
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        elif backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":
                return device.device_kind
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_name(0)
    except Exception as err:  # a report without the name beats no report
        return f"unknown ({err})"
    return "CPU"


def worker(names: list[str], repeats: int, quick: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, HERE)
    import importlib

    import keras

    rows = []
    for name in names:
        module = importlib.import_module(f"bench_{name}")
        start = time.monotonic()
        rows += module.run(repeats=repeats, quick=quick)
        print(f"  {name}: {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    versions = {"keras": keras.__version__, keras.backend.backend(): _backend_version()}
    print(MARK + json.dumps({"device": _device(), "versions": versions, "rows": rows}))


def _backend_version() -> str:
    import keras

    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[keras.backend.backend()]
    return __import__(module).__version__


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _by_case(results: dict, benchmark: str, key=lambda row: row["case"]) -> dict:
    table: dict = {}
    for backend, result in results.items():
        for row in result["rows"]:
            if row["benchmark"] == benchmark:
                table.setdefault(key(row), {})[backend] = row
    return table


def _cell(row: dict) -> str:
    """The median ratio, and half the range of the per-round ratios around it."""
    if row["spread"] == 0:
        return f"{row['ratio']:.2f}x"
    return f"{row['ratio']:.2f}x ±{50 * row['spread']:.0f}%"


def _ratio_table(results: dict, benchmark: str, key=lambda row: row["case"]) -> str:
    backends = [b for b in results if any(r["benchmark"] == benchmark for r in results[b]["rows"])]
    rows = []
    for case, per_backend in _by_case(results, benchmark, key).items():
        cells = []
        for backend in backends:
            row = per_backend.get(backend)
            cells.append(_cell(row) if row else "")
        rows.append([case, *cells])
    return markdown_table(["case", *backends], rows)


def report(results: dict, quick: bool, seconds: float) -> str:
    devices = sorted({result["device"] for result in results.values()})
    versions: dict = {}
    for result in results.values():
        versions.update(result["versions"])
    accelerator = (
        "none (CPU only)" if devices == ["CPU"] else ", ".join(d for d in devices if d != "CPU")
    )
    parts = [
        "# keras_lr benchmark results",
        "",
        f"- machine: {_cpu()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"- accelerator: {accelerator}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- Python {platform.python_version()}; {'quick smoke run' if quick else 'full run'} "
        f"in {seconds:.0f} s; `python benchmarks/run.py`",
    ]
    if any("ratio" in row for result in results.values() for row in result["rows"]):
        parts += [
            "",
            "Ratios are medians over interleaved rounds of a case's time divided by the "
            "baseline's in the same round; ± is half the range of those per-round ratios, "
            "relative to the median.",
        ]
    for benchmark, title in (
        ("callbacks", "1. Scheduling callbacks against bare fit (tiny model, 2 x 1024 steps)"),
        ("finder", "2. Range test of N steps against N bare steps (restore included)"),
        ("ensemble", "3. Ensemble of 5 snapshots: one graph against 5 predict calls"),
    ):
        if _by_case(results, benchmark):
            parts += ["", f"## {title}", "", _ratio_table(results, benchmark)]
    history = _by_case(results, "history")
    if history:
        rows = []
        for case, per_backend in history.items():
            row = next(iter(per_backend.values()))
            rows.append(
                [
                    case,
                    f"{row['seconds']:.3f} s",
                    f"{row['peak_mb']:.1f} MB",
                    f"{row['frame_mb']:.1f} MB",
                    f"{row['held_kb']:.0f} kB",
                ]
            )
        parts += [
            "",
            "## 4. History of a long run, built on demand",
            "",
            markdown_table(
                ["case", "build time", "peak while building", "DataFrame", "held by callback"],
                rows,
            ),
        ]
    if _by_case(results, "scaling"):
        parts += [
            "",
            "## 5. Overhead as the model grows",
            "",
            _ratio_table(
                results, "scaling", key=lambda r: f"{r['model']}, {r['steps']} steps: {r['case']}"
            ),
        ]
    suggestion = [
        row
        for result in results.values()
        for row in result["rows"]
        if row["benchmark"] == "suggestion"
    ]
    if suggestion:
        sys.path.insert(0, HERE)
        import bench_suggestion

        backend = next(b for b in results if suggestion[0] in results[b]["rows"])
        parts += [
            "",
            f"## 6. The range test's suggestion against a grid search ({backend} backend)",
            "",
            bench_suggestion.tables(suggestion),
        ]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument(
        "--out",
        help="the report (default benchmarks/results.md; with --only a subset, "
        "benchmarks/results-<names>.md, so that a partial run keeps the full report)",
    )
    parser.add_argument(
        "--render", metavar="JSON", help="rewrite the report from a results .json file; no runs"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.out is None:
        subset = "" if set(args.only) == set(BENCHMARKS) else "-" + "-".join(args.only)
        args.out = os.path.join(HERE, f"results{subset}.md")
    if args.worker:
        worker(args.only, args.repeats, args.quick)
        return 0
    if args.render:
        with open(args.render) as source:
            saved = json.load(source)
        text = report(saved["results"], saved["quick"], saved["seconds"])
        with open(args.out, "w") as out:
            out.write(text)
        print(text)
        return 0
    start = time.monotonic()
    results = {}
    for index, backend in enumerate(args.backends):
        names = [n for n in args.only if index == 0 or n not in ONCE]
        if not names:
            continue
        print(f"== {backend}: {' '.join(names)}", file=sys.stderr, flush=True)
        command = [sys.executable, os.path.abspath(__file__), "--worker", "--only", *names]
        command += ["--repeats", str(args.repeats)] + (["--quick"] if args.quick else [])
        env = dict(os.environ, KERAS_BACKEND=backend)
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
        if done.returncode != 0 or not lines:
            print(f"benchmarks failed on {backend} (exit {done.returncode})", file=sys.stderr)
            return 1
        results[backend] = json.loads(lines[-1][len(MARK) :])
    text = report(results, args.quick, time.monotonic() - start)
    with open(args.out, "w") as out:
        out.write(text)
    seconds = time.monotonic() - start
    with open(os.path.splitext(args.out)[0] + ".json", "w") as out:
        json.dump({"results": results, "quick": args.quick, "seconds": seconds}, out, indent=1)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
