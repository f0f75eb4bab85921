"""Benchmark 6: the range test's suggestion against a grid search.

For each task (`_suggestion_tasks.TASKS`) and seed (the initial weights and
the batch order; the data split is fixed):

1. `keras_lr.find_lr` with its default settings (only `batch_size` is the
   task's) records one range test;
2. every rule reads that recorded curve: keras_lr's methods (`valley`,
   `steepest`, `minimum`, `slide`) and its default (`suggestion()`), and the
   anchors' rules written from their definitions (`_suggestion_anchors`);
3. the model trains, from the same initial weights and batch order, for the
   task's fixed budget at a grid of constant rates (3 per decade) and at
   every rule's rate; the measure is the validation loss after the budget.

The grid's best mean validation loss (over seeds) is the reference.  A rule's
regret on a seed is (validation loss at its rate) / (grid best) - 1; the
report gives its mean and standard deviation over seeds.  A run whose loss is
not finite, or worse than the untrained model's, counts at the untrained
model's loss (it diverged: training did not help), and is marked.

Runs reuse one compiled model per task and seed: before each run the weights
and every optimizer variable are set back to their initial values and the
rate is set, so the compiled step is traced once.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
from _common import markdown_table
from _suggestion_anchors import ANCHORS
from _suggestion_tasks import TASKS

KERAS_LR_METHODS = ("zero_lag", "valley", "steepest", "minimum", "slide")
DEFAULT = "keras_lr default"
# Where the default test is unreliable, its warning says to raise `num_steps`:
# the benchmark then also runs one of ADVICE_STEPS steps and reads its default.
ADVICE_STEPS = 300
ADVICE = f"keras_lr default, num_steps={ADVICE_STEPS}"
PER_DECADE = 3
SEEDS = 3


def grid(low: float, high: float) -> np.ndarray:
    decades = round(math.log10(high / low))
    return low * 10.0 ** (np.arange(decades * PER_DECADE + 1) / PER_DECADE)


class Session:
    """One task and seed: a compiled model, its initial state, and the runs' results."""

    def __init__(self, task, data, seed: int, epochs: int):
        import keras

        self.task, self.seed, self.epochs = task, seed, epochs
        self.x, self.y, self.x_val, self.y_val = data
        keras.utils.set_random_seed(seed)
        self.model = task.model()
        self.model.compile(optimizer=task.optimizer(), loss=task.loss)
        self.model.optimizer.build(self.model.trainable_variables)
        self.initial = self.model.get_weights()
        self.untrained = self._val_loss()
        self.losses: dict[float, float] = {}

    def _val_loss(self) -> float:
        loss = self.model.evaluate(self.x_val, self.y_val, batch_size=len(self.x_val), verbose=0)
        return float(loss[0] if isinstance(loss, list) else loss)

    def reset(self, rate: float) -> None:
        self.model.set_weights(self.initial)
        for variable in self.model.optimizer.variables:
            variable.assign(np.zeros(variable.shape, variable.dtype))
        self.model.optimizer.learning_rate.assign(rate)

    def loss_at(self, rate: float) -> float:
        """Validation loss after the budget at `rate` (cached per rate)."""
        import keras

        rate = float(rate)
        if rate not in self.losses:
            self.reset(rate)
            keras.utils.set_random_seed(1000 + self.seed)
            self.model.fit(
                self.x, self.y, batch_size=self.task.batch_size, epochs=self.epochs, verbose=0
            )
            self.losses[rate] = self._val_loss()
        return self.losses[rate]

    def first_fit_seconds(self) -> float:
        """The time of one training run as a user meets it: a fresh copy of the
        model compiled and fit once (its trace or compile included)."""
        import keras

        model = self.task.model()
        model.set_weights(self.initial)
        model.compile(optimizer=self.task.optimizer(), loss=self.task.loss)
        keras.utils.set_random_seed(1000 + self.seed)
        start = time.perf_counter()
        model.fit(self.x, self.y, batch_size=self.task.batch_size, epochs=self.epochs, verbose=0)
        return time.perf_counter() - start

    def counted(self, rate: float) -> tuple[float, bool]:
        """(loss counted for the regret, whether the run diverged)."""
        loss = self.loss_at(rate)
        if not math.isfinite(loss) or loss > self.untrained:
            return self.untrained, True
        return loss, False

    def range_test(self, num_steps: int | None):
        import keras

        import keras_lr

        self.reset(1e-3)
        keras.utils.set_random_seed(2000 + self.seed)
        kwargs = {} if num_steps is None else {"num_steps": num_steps}
        with warnings.catch_warnings():
            # An unreliable test warns; the report counts them (`reliable`).
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            finder = keras_lr.find_lr(
                self.model, self.x, self.y, batch_size=self.task.batch_size, verbose=0, **kwargs
            )
            seconds = time.perf_counter() - start
            rates = {m: finder.suggestion(m) for m in KERAS_LR_METHODS}
            rates[DEFAULT] = finder.suggestion()
        history = finder.history
        lrs, raw = history["lr"].to_numpy(), history["loss"].to_numpy()
        for name, rule in ANCHORS.items():
            rates[name] = rule(lrs, raw)
        return finder, rates, seconds, (lrs.tolist(), raw.tolist())


def run_task(task, seeds, quick: bool) -> dict:
    data = task.data()
    epochs = 1 if quick else task.epochs
    rates = grid(*task.grid)
    if quick:
        rates = rates[:: max(1, len(rates) // 3)][:3]
    sessions = [Session(task, data, seed, epochs) for seed in seeds]
    rule_rates: dict[str, list[float]] = {}
    finder_seconds, finder_steps, reliable, curves = [], [], [], []
    for session in sessions:
        finder, found, seconds, curve = session.range_test(30 if quick else None)
        curves.append(curve)
        finder_seconds.append(seconds)
        finder_steps.append(len(finder.history))
        reliable.append(bool(finder.reliable))
        for name, rate in found.items():
            rule_rates.setdefault(name, []).append(rate)
    if not all(reliable) and not quick:
        for session in sessions:
            finder, found, _, _ = session.range_test(ADVICE_STEPS)
            rule_rates.setdefault(ADVICE, []).append(found[DEFAULT])
    grid_losses = {float(r): [s.counted(r)[0] for s in sessions] for r in rates}
    best_rate = min(grid_losses, key=lambda r: np.mean(grid_losses[r]))
    best = float(np.mean(grid_losses[best_rate]))
    rules = {}
    for name, found in rule_rates.items():
        losses, diverged = [], 0
        for session, rate in zip(sessions, found):
            if not math.isfinite(rate):
                loss, bad = session.untrained, True
            else:
                loss, bad = session.counted(rate)
            losses.append(loss)
            diverged += bad
        regret = np.asarray(losses) / best - 1.0
        rules[name] = {
            "rates": found,
            "losses": losses,
            "regret": float(regret.mean()),
            "regret_std": float(regret.std(ddof=1)) if len(regret) > 1 else 0.0,
            "diverged": diverged,
        }
    steps = epochs * math.ceil(len(data[0]) / task.batch_size)
    # The range test's time against a fresh model's first fit, each with its trace.
    run_seconds = float(np.median([s.first_fit_seconds() for s in sessions]))
    row = {
        "benchmark": "suggestion",
        "case": task.name,
        "what": task.what,
        "seeds": list(seeds),
        "epochs": epochs,
        "steps": steps,
        "grid": {str(r): losses for r, losses in grid_losses.items()},
        "best_rate": best_rate,
        "best_loss": best,
        "best_at_edge": best_rate in (float(rates[0]), float(rates[-1])),
        "untrained": float(np.mean([s.untrained for s in sessions])),
        "rules": rules,
        "reliable": reliable,
        "finder_steps": float(np.mean(finder_steps)),
        "finder_fraction": float(np.mean(finder_steps)) / steps,
        "finder_cost": float(np.median(finder_seconds)) / run_seconds,
        "curves": curves,  # per seed: (rates, raw losses) of the range test
    }
    if task.name == "least-squares":
        from _suggestion_tasks import hessian_max

        row["divergence_rate"] = 2.0 / hessian_max(data[0])
    return row


# -- the report ------------------------------------------------------------------


def _percent(value: float) -> str:
    return f"{100 * value:+.0f}%"


def _regret_cell(rule: dict) -> str:
    cell = _percent(rule["regret"])
    if rule["regret_std"]:
        cell += f" ±{100 * rule['regret_std']:.0f}"
    if rule["diverged"]:
        cell += f" ({rule['diverged']} diverged)"
    return cell


def summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per rule read on every task: the mean regret over tasks and the worst
    task's, over all tasks and over those whose every default test was reliable."""
    out = {}
    reliable = [row for row in rows if all(row["reliable"])]
    for name in rows[0]["rules"]:
        regrets = [row["rules"][name]["regret"] for row in rows if name in row["rules"]]
        if len(regrets) < len(rows):
            continue
        kept = [row["rules"][name]["regret"] for row in reliable]
        out[name] = {
            "mean": float(np.mean(regrets)),
            "max": float(np.max(regrets)),
            "reliable_mean": float(np.mean(kept)) if kept else float("nan"),
            "reliable_max": float(np.max(kept)) if kept else float("nan"),
            "within_10": sum(r <= 0.10 for r in regrets),
        }
    return out


def tables(rows: list[dict]) -> str:
    """The report's section: the tasks, then regret and rate per rule and task."""
    tasks = [
        [
            f"`{row['case']}`",
            row["what"],
            f"{row['epochs']} epochs, {row['steps']} steps",
            f"{row['best_rate']:.3g}" + (" (grid edge)" if row["best_at_edge"] else ""),
            f"{row['best_loss']:.4g}",
            f"{row['untrained']:.4g}",
            f"{row['finder_fraction']:.2f} ({row['finder_cost']:.1f})",
            f"{sum(row['reliable'])}/{len(row['reliable'])}",
        ]
        for row in rows
    ]
    names = [f"`{row['case']}`" for row in rows]
    means = summary(rows)
    every = list(dict.fromkeys(name for row in rows for name in row["rules"]))
    regret = [
        [name, *[_regret_cell(row["rules"][name]) if name in row["rules"] else "" for row in rows]]
        + (
            [_percent(means[name]["mean"]), _percent(means[name]["max"])]
            if name in means
            else ["", ""]
        )
        for name in every
    ]
    rates = [["grid best", *[f"{row['best_rate']:.3g}" for row in rows]]]
    rates += [
        [
            name,
            *[
                f"{np.median(row['rules'][name]['rates']):.3g}" if name in row["rules"] else ""
                for row in rows
            ],
        ]
        for name in every
    ]
    reliable = sum(all(row["reliable"]) for row in rows)
    overall = [
        [
            name,
            _percent(m["mean"]),
            _percent(m["max"]),
            f"{m['within_10']}/{len(rows)}",
            _percent(m["reliable_mean"]),
            _percent(m["reliable_max"]),
        ]
        for name, m in sorted(means.items(), key=lambda item: item[1]["mean"])
    ]
    return "\n\n".join(
        [
            markdown_table(
                [
                    "task",
                    "model, optimizer, loss",
                    "budget",
                    "grid best rate",
                    "its val loss",
                    "untrained",
                    "range test / run: steps (time)",
                    "reliable tests",
                ],
                tasks,
            ),
            "Regret (validation loss at the rule's rate / grid best - 1; mean ± standard "
            "deviation over seeds):",
            markdown_table(["rule", *names, "mean", "worst"], regret),
            "Over the tasks (mean and worst of the per-task mean regrets; the last two "
            f"columns over the {reliable} tasks whose default range tests were all reliable):",
            markdown_table(
                [
                    "rule",
                    "mean",
                    "worst",
                    "tasks within 10%",
                    "mean, reliable tests",
                    "worst, reliable tests",
                ],
                overall,
            ),
            "Rates (median over seeds):",
            markdown_table(["rule", *names], rates),
        ]
    )


def run(repeats: int = SEEDS, quick: bool = False, tasks=None) -> list[dict]:
    """One row per task.  A full run uses `SEEDS` seeds whatever `repeats` (the
    timed rounds of the other benchmarks) is; the quick one, 1 seed, 1 epoch,
    3 grid rates and a 30-step range test."""
    seeds = range(1 if quick else SEEDS)
    chosen = [t for t in TASKS if tasks is None or t.name in tasks]
    return [run_task(task, seeds, quick) for task in chosen]


if __name__ == "__main__":
    import json
    import sys

    names = sys.argv[1:]
    for task in TASKS:
        if not names or task.name in names:
            print(json.dumps(run_task(task, range(SEEDS), quick=False)), flush=True)
