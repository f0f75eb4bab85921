"""The three commands: `schedule`, `find` and `demo`, each `cmd_*(args) -> exit status`."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

import keras_lr
from keras_lr import _io
from keras_lr import schedules as S
from keras_lr.cli import _demo, _specs
from keras_lr.cli._errors import CLIError, one_line
from keras_lr.cli._files import (
    check_output_folder,
    load_arrays,
    load_compiled_model,
    output_file,
    output_folder,
    save_figure,
)
from keras_lr.finder import _suggest
from keras_lr.plots import _new_figure

# -- schedule previews ---------------------------------------------------------


def schedule_rates(obj, steps: int, steps_per_epoch: int) -> np.ndarray:
    """Rates of steps 0..steps-1, with `fit` taken as ceil(steps / spe) epochs."""
    if isinstance(obj, S.Schedule):
        return obj.numpy(np.arange(steps))
    epochs = math.ceil(steps / steps_per_epoch)
    try:
        return obj.rates(steps, steps_per_epoch=steps_per_epoch, epochs=epochs)
    except (TypeError, ValueError) as err:
        raise CLIError(one_line(err)) from None


def cmd_schedule(args) -> int:
    obj = _specs.build_schedule(args.name, args.param)
    rates = schedule_rates(obj, args.steps, args.steps_per_epoch)
    table = (("step", "lr"), zip(range(args.steps), (float(r) for r in rates)))
    if args.out is None:
        _io.write_csv(None, table)
        return 0
    out = output_file(Path(args.out))
    if out.suffix.lower() == ".csv":
        _io.write_csv(out, table)
    else:
        fig, ax = _new_figure()
        formats = fig.canvas.get_supported_filetypes()
        if out.suffix.lower().lstrip(".") not in formats:
            raise CLIError(
                f"--out must end in .csv or an image format ({', '.join(sorted(formats))}); "
                f"got {out.name!r}"
            )
        keras_lr.plot_schedule(
            obj,
            args.steps,
            ax=ax,
            log_scale=args.log_scale,
            steps_per_epoch=args.steps_per_epoch,
            epochs=math.ceil(args.steps / args.steps_per_epoch),
        )
        ax.set_title(f"{args.name}: {type(obj).__name__}, {args.steps} steps")
        save_figure(fig, out)
    print(f"wrote {out}")
    return 0


# -- range test on a saved model -------------------------------------------------


def print_suggestions(finder) -> None:
    """The suggestions and cyclic bounds of a finished range test, one per line."""
    reliable = getattr(finder, "reliable", True)
    with warnings.catch_warnings():
        # An unreliable test is said once, in the output, not as warnings.
        warnings.simplefilter("ignore", UserWarning)
        suggestions = finder.suggestions()
        try:
            base, high = finder.cyclic_bounds()
            bounds = f"base_lr={base:.3g} max_lr={high:.3g}"
        except ValueError as err:
            bounds = f"n/a ({err})"
    if reliable:
        print("suggested learning rates:")
    else:
        print(f"no reliable suggestion: {finder.unreliable_reason}")
        print("what the rules would give (do not train with these):")
    width = max(len(_suggest.LABELS.get(method, method)) for method in suggestions)
    for method, rate in suggestions.items():
        text = f"{rate:.3g}" if math.isfinite(rate) else "n/a (curve too short)"
        mark = "  (default)" if method == finder.default_method and reliable else ""
        print(f"  {_suggest.LABELS.get(method, method):<{width}} {text}{mark}")
    print(f"cyclic bounds: {bounds}")


def cmd_find(args) -> int:
    if args.min_lr >= args.max_lr:
        raise CLIError(
            f"--min-lr must be smaller than --max-lr, got {args.min_lr:g} and {args.max_lr:g}"
        )
    out = check_output_folder(Path(args.out), ("lr_finder.csv", "lr_finder.png"))
    model = load_compiled_model(Path(args.model))
    x, y = load_arrays(Path(args.data))
    try:
        finder = keras_lr.find_lr(
            model,
            x,
            y,
            batch_size=args.batch_size,
            min_lr=args.min_lr,
            max_lr=args.max_lr,
            num_steps=args.num_steps,
            mode=args.mode,
            verbose=1,
        )
    except (TypeError, ValueError) as err:
        # Keras reports data the model cannot take (shapes, dtypes) this way.
        raise CLIError(f"the range test failed on this model and data: {one_line(err)}") from None
    print_suggestions(finder)
    output_folder(out)
    csv_path, png_path = out / "lr_finder.csv", out / "lr_finder.png"
    finder.to_csv(csv_path)
    fig, ax = _new_figure()
    finder.plot(ax=ax)
    ax.set_title(f"Range test: {Path(args.model).name} on {Path(args.data).name}")
    save_figure(fig, png_path)
    print(f"wrote {csv_path}")
    print(f"wrote {png_path}")
    return 0


# -- demo -------------------------------------------------------------------------


def cmd_demo(args) -> int:
    check_output_folder(Path(args.out))
    report = _demo.run(
        Path(args.out),
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        n_snapshots=args.snapshots,
        n_seeds=args.seeds,
    )
    print(f"report: {report}")
    return 0


COMMANDS = {"demo": cmd_demo, "find": cmd_find, "schedule": cmd_schedule}
