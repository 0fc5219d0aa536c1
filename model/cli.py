"""`kozo model ...` and `kozo predict`: the model path's commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kozo.arguments import add_command, add_structure_files
from kozo.errors import KozoError


def add_model_commands(commands: argparse._SubParsersAction) -> None:
    model = commands.add_parser("model", help="train and export property models",
                                description="Train, export and evaluate property models.")
    model_commands = model.add_subparsers(title="model commands", metavar="COMMAND")
    train = add_command(
        model_commands, "train", help="train a property model from a configuration",
        description="Train a PaiNN (or SchNet) property model. The run folder receives\n"
                    "metrics.csv, metrics.json, learning_curve.png, checkpoints (best.pt,\n"
                    "last.pt) and the exported artifact (artifact/model.onnx + model.json).\n\n"
                    "Example:\n"
                    "  kozo model train --config perovskite.toml --set epochs=50\n"
                    "  kozo model train --set data=qm9 --set targets=gap,U0_atom \\\n"
                    "      --set summed_targets=U0_atom --set limit=5000 --set output=runs/qm9")
    train.add_argument("--config", type=Path, help="TOML file with TrainConfig keys")
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override one configuration key (repeatable); "
                       "lists are comma-separated")
    train.add_argument("--resume", action="store_true",
                       help="continue from OUTPUT/last.pt with its optimizer and random state")
    train.set_defaults(run=run_train)

    export = add_command(
        model_commands, "export", help="write a model artifact from a training run",
        description="Export a run's checkpoint as a model artifact: model.onnx plus model.json\n"
                    "(targets and units, cutoff, elements, normalisation, data fingerprint,\n"
                    "the exact train/val/test ids and the test metrics of these weights).\n\n"
                    "Example:\n"
                    "  kozo model export runs/perovskite --out artifacts/perovskite --version 1.1.0")
    export.add_argument("run_folder", type=Path, metavar="RUN",
                        help="run folder written by `kozo model train`")
    export.add_argument("--out", type=Path, required=True, help="artifact folder to write")
    export.add_argument("--checkpoint", choices=["best", "last"], default="best",
                        help="best validation epoch (default) or the last one")
    export.add_argument("--name", help="artifact name (default: the run's)")
    export.add_argument("--version", dest="artifact_version",
                        help="artifact version (default: the run's)")
    export.set_defaults(run=run_export)

    evaluate = add_command(
        model_commands, "evaluate", help="score a model artifact on a labelled data set",
        description="Predict every structure of a data set with the artifact (onnxruntime, as\n"
                    "on the Pi) and compare with a target column: MAE, RMSE, R² and n.\n"
                    "Structures with elements the model never saw are skipped and counted.\n\n"
                    "Examples:\n"
                    "  kozo model evaluate --model perovskite \\\n"
                    "      --data ../shared/data/perov_5/val.csv --target heat_all --plot parity.png\n"
                    "  kozo model evaluate --model runs/qm9/artifact --data qm9 --target gap --json")
    add_model_argument(evaluate)
    evaluate.add_argument("--data", required=True,
                          help="data set: CDVAE CSV, CGCNN folder, Matbench JSON, or qm9")
    evaluate.add_argument("--target", required=True, help="the data set's column to score")
    evaluate.add_argument("--limit", type=int, help="only the first N structures")
    evaluate.add_argument("--json", action="store_true",
                          help="print {mae, rmse, r2, n} as one JSON object")
    evaluate.add_argument("--plot", type=Path, metavar="FILE.png", help="write a parity plot")
    evaluate.set_defaults(run=run_evaluate)
    model.set_defaults(run=lambda args: model.print_help() or 2)


def add_model_argument(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """--model: an artifact folder, or the name of a shipped model."""
    parser.add_argument("--model", default=default, required=default is None,
                        help="artifact folder (model.onnx + model.json), or a shipped model's "
                             "name: perovskite, qm9" + (f" (default: {default})" if default else ""))


def add_predict_command(commands: argparse._SubParsersAction) -> None:
    predict = add_command(
        commands, "predict", help="predict properties of structure files with a model artifact",
        description="Quick property check: neighbour lists from kozo's kernels, the model\n"
                    "through onnxruntime (no torch). Files go through in one batch.\n\n"
                    "Example:\n"
                    "  kozo predict SrTiO3.cif BaZrO3.cif           (shipped perovskite model)\n"
                    "  kozo predict --model qm9 benzene.xyz --json\n"
                    "  kozo predict --model runs/mine/artifact POSCAR")
    add_structure_files(predict)
    add_model_argument(predict, default="perovskite")
    predict.set_defaults(run=run_predict)


def run_train(args: argparse.Namespace) -> int:
    from model.training.config import load_config
    from model.training.trainer import train

    config = load_config(args.config, args.overrides)
    result = train(config, resume=args.resume)
    if not result.main_process:
        return 0
    print(f"trained {config.architecture} for {result.epochs_run} epochs "
          f"(best epoch {result.best_epoch}); run folder {result.output}")
    for target, values in result.metrics["test"].items():
        print(f"  test {target}: MAE {values['mae']:.4g}, RMSE {values['rmse']:.4g}, "
              f"R² {values['r2']:.3f} (n={values['n']})")
    print(f"  artifact: {result.artifact}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from model.artifact import ArtifactMetadata
    from model.training.export_run import export_run

    folder = export_run(args.run_folder, args.out, checkpoint=args.checkpoint, name=args.name,
                        version=args.artifact_version)
    metadata = ArtifactMetadata.read(folder)
    print(f"exported {metadata.name} {metadata.version} ({args.checkpoint} checkpoint) to {folder}")
    for key, value in sorted(metadata.metrics.get("test", {}).items()):
        if key.endswith("_mae"):
            print(f"  test {key.removesuffix('_mae')} MAE {value:.4g}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from model.evaluation import evaluate
    from model.plots import plot_parity

    if args.limit is not None and args.limit < 1:
        raise KozoError("--limit must be at least 1")
    from model.pretrained import resolve_model

    model = resolve_model(args.model)
    result = evaluate(model, args.data, args.target, limit=args.limit)
    if result.skipped:
        shown = ", ".join(result.skipped[:5]) + (", ..." if len(result.skipped) > 5 else "")
        print(f"skipped {len(result.skipped)} structures with elements the model never saw "
              f"({shown})", file=sys.stderr)
    if args.plot:
        plot_parity(result.predicted, result.actual, args.plot, label=result.target,
                    unit=result.unit, title=f"{model.name} on {Path(args.data).name}")
    if args.json:
        print(json.dumps(result.metrics))
    else:
        m = result.metrics
        print(f"{result.target} on {args.data}: MAE {m['mae']:.4g} {result.unit}, "
              f"RMSE {m['rmse']:.4g} {result.unit}, R² {m['r2']:.4f}, n = {m['n']}")
        if args.plot:
            print(f"parity plot: {args.plot}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from model.infer import Predictor
    from model.structure_files import read_structure

    from model.pretrained import resolve_model

    predictor = Predictor(resolve_model(args.model))
    structures = [read_structure(path) for path in args.structures]
    units = {t.name: t.unit for t in predictor.metadata.targets}
    for structure, prediction in zip(structures, predictor.predict(structures), strict=True):
        if args.json:
            print(json.dumps({"file": structure.source, "formula": structure.formula,
                              "predictions": prediction, "units": units}))
        else:
            values = ", ".join(f"{name} {value:.6g} {units[name]}".rstrip()
                               for name, value in prediction.items())
            print(f"{structure.source}: {structure.formula}: {values}")
    return 0


__all__ = ["KozoError", "add_model_commands", "add_predict_command"]
