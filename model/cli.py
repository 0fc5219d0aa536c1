"""`kozo model ...` and `kozo predict`: the model path's commands."""

from __future__ import annotations

import argparse
import json
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
    model.set_defaults(run=lambda args: model.print_help() or 2)


def add_predict_command(commands: argparse._SubParsersAction) -> None:
    predict = add_command(
        commands, "predict", help="predict properties of structure files with a model artifact",
        description="Quick property check: neighbour lists from kozo's kernels, the model\n"
                    "through onnxruntime (no torch). Files go through in one batch.\n\n"
                    "Example:\n"
                    "  kozo predict --model runs/perovskite/artifact SrTiO3.cif BaZrO3.cif")
    add_structure_files(predict)
    predict.add_argument("--model", type=Path, required=True,
                         help="artifact folder holding model.onnx and model.json")
    predict.set_defaults(run=run_predict)


def run_train(args: argparse.Namespace) -> int:
    from model.training.config import load_config
    from model.training.trainer import train

    config = load_config(args.config, args.overrides)
    result = train(config, resume=args.resume)
    print(f"trained {config.architecture} for {result.epochs_run} epochs "
          f"(best epoch {result.best_epoch}); run folder {result.output}")
    for target, values in result.metrics["test"].items():
        print(f"  test {target}: MAE {values['mae']:.4g}, RMSE {values['rmse']:.4g}, "
              f"R² {values['r2']:.3f} (n={values['n']})")
    print(f"  artifact: {result.artifact}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from model.infer import Predictor
    from model.structure_files import read_structure

    predictor = Predictor(args.model)
    structures = [read_structure(path) for path in args.structures]
    units = {t.name: t.unit for t in predictor.metadata.targets}
    for structure, prediction in zip(structures, predictor.predict(structures), strict=True):
        if args.json:
            print(json.dumps({"file": structure.source, "formula": structure.formula,
                              "predictions": prediction, "units": units}))
        else:
            values = ", ".join(f"{name} {value:.4g} {units[name]}".rstrip()
                               for name, value in prediction.items())
            print(f"{structure.source}: {structure.formula}: {values}")
    return 0


__all__ = ["KozoError", "add_model_commands", "add_predict_command"]
