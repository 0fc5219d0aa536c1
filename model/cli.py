"""`kozo model ...` and `kozo predict`: the model path's commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kozo.arguments import add_command, add_command_group, add_structure_files
from kozo.errors import KozoError


def add_model_commands(commands: argparse._SubParsersAction) -> None:
    model_commands = add_command_group(
        commands, "model", help="train and export property models",
        description="Train, export and evaluate property models.")
    train = add_command(
        model_commands, "train", help="train a property model from a configuration",
        description="Train a PaiNN (or SchNet) property model. The run folder receives\n"
                    "metrics.csv, metrics.json, learning_curve.png, checkpoints (best.pt,\n"
                    "last.pt), predictions.csv and the exported artifact (artifact/model.onnx +\n"
                    "model.json). Imbalance and extrapolation keys (see TrainConfig):\n"
                    "  split=random|extrapolation  tail_percentiles=10,90  split_target=NAME\n"
                    "  loss=mse|l1|balanced_mse  bmc_noise_sigma=0.5  bmc_learn_sigma=true\n"
                    "  loss_weighting=none|lds  lds_bins=100 lds_kernel_size=5 lds_sigma=2\n"
                    "  lds_power=0.5  shot_bins=50  shot_thresholds=20,100  export=false\n"
                    "Runs that share a split: split_seed=N keeps seed N's split whatever the\n"
                    "seed (ensembles: `kozo model export RUN RUN ...`); train_limit=N learns from\n"
                    "N structures drawn from the train split, val and test unchanged\n"
                    "(learning curves: bench/learning_curve.py).\n\n"
                    "Example:\n"
                    "  kozo model train --config perovskite.toml --set epochs=50\n"
                    "  kozo model train --config perovskite.toml --init runs/pretrain \\\n"
                    "      --freeze-layers 2 --set split=extrapolation --set loss_weighting=lds\n"
                    "  kozo model train --set data=qm9 --set targets=gap,U0_atom \\\n"
                    "      --set summed_targets=U0_atom --set limit=5000 --set output=runs/qm9")
    add_config_arguments(train, "TrainConfig")
    train.add_argument("--init", metavar="PRETRAINED",
                       help="start the backbone from a `kozo model pretrain` run folder (its "
                            "backbone.pt) or checkpoint; architecture, features, interactions "
                            "and cutoff must match (same as --set init=...)")
    train.add_argument("--freeze-layers", type=int, metavar="N",
                       help="with --init: keep the first N layers fixed (1 = the embedding, "
                            "1+k = the embedding and the first k interactions)")
    train.set_defaults(run=run_train)

    pretrain = add_command(
        model_commands, "pretrain", help="pre-train a backbone on unlabelled structures",
        description="Self-supervised pre-training: coordinate denoising (Gaussian noise of\n"
                    "noise_sigma Å on positions; PaiNN predicts it per atom through a gated\n"
                    "equivariant head) plus masked-element prediction (a mask_fraction of atoms\n"
                    "masked; cross-entropy weighted by element frequency ** -mask_class_power).\n"
                    "Labels are not used. The run folder receives config.json, metrics.csv,\n"
                    "learning_curve.png, backbone.pt (best validation epoch; what\n"
                    "`kozo model train --init` reads) and last.pt (for --resume).\n"
                    "Keys: data, architecture, features, interactions, cutoff, noise_sigma,\n"
                    "denoise_weight, mask_fraction, mask_weight, mask_class_power, batch_size,\n"
                    "epochs, learning_rate, schedule, val_fraction, threads, seed, limit,\n"
                    "output, cache_dir (see model/pretraining/config.py).\n\n"
                    "Example:\n"
                    "  kozo model pretrain --set data=../shared/data/perov_5/val.csv,\\\n"
                    "../shared/data/perov_5_extra/extra.csv --set features=128 \\\n"
                    "      --set epochs=30 --set output=runs/pretrain-perovskite")
    add_config_arguments(pretrain, "PretrainConfig")
    pretrain.set_defaults(run=run_pretrain)

    experiment = add_command(
        model_commands, "experiment", help="compare pre-training and imbalance-aware losses",
        description="Train the grid {from scratch, from --pretrained} × {plain loss, --imbalance\n"
                    "loss} × {extrapolation split, random split} × seeds on one data set and\n"
                    "target, and write REPORTS/NAME/report.md: a table (mean ± std over seeds)\n"
                    "of the MAE in distribution, MAE and Spearman's ρ in each tail and MAE per\n"
                    "shot group, parity plots with the tails highlighted, the error against the\n"
                    "target value, and the command that reproduces it. --config and --set give\n"
                    "the training configuration shared by every run (as for `kozo model train`).\n"
                    "Runs go to REPORTS/NAME/runs/; finished runs are kept when run again.\n\n"
                    "Example:\n"
                    "  kozo model experiment --name perov-heat --config model/configs/perovskite.toml\\\n"
                    "      --target heat_all --pretrained runs/pretrain-perovskite --set epochs=30")
    experiment.add_argument("--name", required=True, help="report folder name under --reports")
    add_config_arguments(experiment, "TrainConfig", resume=False)
    experiment.add_argument("--target", help="the one target studied (default: the "
                                             "configuration's only target)")
    experiment.add_argument("--pretrained", default="", metavar="RUN",
                            help="`kozo model pretrain` run folder or checkpoint for the "
                                 "pre-trained arm (default: from scratch only)")
    experiment.add_argument("--imbalance", choices=["lds", "balanced_mse"], default="lds",
                            help="the imbalance-aware loss compared with the plain one "
                                 "(default: lds)")
    experiment.add_argument("--seeds", default="0,1,2",
                            help="comma-separated seeds, one run each (default: 0,1,2)")
    experiment.add_argument("--reports", type=Path, default=Path("reports"),
                            help="folder holding the report folders (default: reports)")
    experiment.set_defaults(run=run_experiment)

    export = add_command(
        model_commands, "export", help="write a model artifact from a training run",
        description="Export a run's checkpoint as a model artifact: model.onnx plus model.json\n"
                    "(targets and units, cutoff, elements, normalisation, data fingerprint,\n"
                    "the exact train/val/test ids and the test metrics of these weights).\n\n"
                    "Several runs that differ only in seed (same split_seed) export as one\n"
                    "ensemble: one model.onnx predicting the mean of theirs, scored on their\n"
                    "shared test split; each member adds one model's time to a prediction.\n\n"
                    "Examples:\n"
                    "  kozo model export runs/perovskite --out artifacts/perovskite --version 1.1.0\n"
                    "  kozo model export runs/perovskite runs/perovskite-seed1 --out artifacts/ens")
    export.add_argument("run_folder", type=Path, metavar="RUN", nargs="+",
                        help="run folder(s) written by `kozo model train`")
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
    add_generator_commands(model_commands)


def add_generator_commands(model_commands: argparse._SubParsersAction) -> None:
    """train-generator, generate and evaluate-generator: the crystal generator (issue 5)."""
    train = add_command(
        model_commands, "train-generator", help="train a crystal generator (joint diffusion)",
        description="Train a diffusion model over fractional coordinates (wrapped normal on the\n"
                    "torus), the lattice and, with mode=de_novo, the element types, with a\n"
                    "periodic PaiNN denoiser; properties given in `properties` condition it\n"
                    "through classifier-free guidance. The run folder receives config.json,\n"
                    "metrics.csv, learning_curve.png, best.pt, last.pt (for --resume) and the\n"
                    "generator artifact generator/ (weights.pt + generator.json).\n"
                    "Keys: data, mode=csp|de_novo, properties, condition_dropout, features,\n"
                    "layers, cutoff (Å), sigma_min, sigma_max, lattice_weight, type_weight,\n"
                    "niggli, batch_size, epochs, learning_rate, schedule, time_limit (minutes),\n"
                    "patience, val_fraction, test_fraction, threads, seed, limit, sampling_steps,\n"
                    "corrector_steps, step_lr, guidance, output, name, version\n"
                    "(see model/generative/config.py).\n\n"
                    "Example:\n"
                    "  kozo model train-generator --config model/configs/generator-perovskite.toml\n"
                    "  kozo model train-generator --set data=../shared/data/perov_5/val.csv \\\n"
                    "      --set properties=heat_all --set limit=300 --set epochs=5")
    add_config_arguments(train, "GeneratorConfig")
    train.set_defaults(run=run_train_generator)

    generate = add_command(
        model_commands, "generate", help="generate crystals for a composition or a property",
        description="Sample crystals from a generator: with --composition (crystal structure\n"
                    "prediction) every crystal has that cell content; with --property the\n"
                    "generator is steered toward the value (classifier-free guidance of\n"
                    "strength --guidance). Writes OUT/crystal_000.cif ... and OUT/summary.csv:\n"
                    "formula, space group, a b c (Å), α β γ (°) and the properties predicted by\n"
                    "--property-model.\n\n"
                    "Examples:\n"
                    "  kozo model generate --generator runs/generator/generator \\\n"
                    "      --composition SrTiO3 -n 20 --out generated/\n"
                    "  kozo model generate --generator runs/generator/generator \\\n"
                    "      --composition SrTiO3 --property heat_all=0.5 -n 20 --out generated/")
    add_generator_argument(generate)
    generate.add_argument("--composition", help="cell content, e.g. SrTiO3 (required for a "
                                                "CSP generator)")
    generate.add_argument("--property", dest="conditions", action="append", default=[],
                          metavar="NAME=VALUE", help="target property in its training unit, "
                          "e.g. heat_all=0.5 (eV/cell for perov_5); repeatable")
    generate.add_argument("-n", type=int, default=20, help="crystals to generate (default: 20)")
    generate.add_argument("--out", type=Path, required=True, help="folder for CIFs and summary")
    generate.add_argument("--guidance", type=float, help="classifier-free guidance strength w "
                          "(0: conditional only; default: the generator's)")
    add_sampling_arguments(generate)
    generate.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    generate.add_argument("--threads", type=int, default=1,
                          help="torch threads (default: 1; small models gain nothing from more)")
    generate.add_argument("--property-model", default="perovskite",
                          help="property model artifact or shipped name for the summary, or "
                               "'none' (default: perovskite)")
    generate.set_defaults(run=run_generate)

    evaluate = add_command(
        model_commands, "evaluate-generator", help="score a generator on held-out crystals",
        description="For each crystal of --data, generate one of the same composition (with\n"
                    "--candidates K, the likeliest of K draws by the generator's own\n"
                    "denoising loss) and match it with pymatgen's StructureMatcher(stol=0.5,\n"
                    "angle_tol=10, ltol=0.3): match rate (%) and RMSE (normalised by\n"
                    "(V/N)^1/3), as in CDVAE/DiffCSP; the framework match rate ignores\n"
                    "species (the right geometry with atoms on the wrong sites still counts).\n"
                    "A de novo generator also reports\n"
                    "structural validity (no pair closer than 0.5 Å), compositional validity\n"
                    "(charge neutrality by pymatgen's oxidation-state guess) and uniqueness\n"
                    "(%). With a property model, the property of each generated crystal is\n"
                    "compared with its reference's value (MAE; --plot draws both histograms).\n\n"
                    "Example:\n"
                    "  kozo model evaluate-generator --generator runs/generator/generator \\\n"
                    "      --data ../shared/data/perov_5/val.csv --limit 100 --json\n"
                    "  kozo model evaluate-generator --generator runs/generator/generator \\\n"
                    "      --split test      (the crystals it held out of its training data)")
    add_generator_argument(evaluate)
    evaluate.add_argument("--data", nargs="+",
                          help="CDVAE CSV (or any known layout), one or more; with --split, "
                               "default: the data the generator was trained on")
    evaluate.add_argument("--limit", type=int, help="only the first N crystals")
    evaluate.add_argument("--split", choices=("test", "validation"),
                          help="only the crystals of --data that the generator held out as its "
                               "test (never trained on) or validation split (ids in "
                               "generator.json)")
    add_sampling_arguments(evaluate)
    evaluate.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    evaluate.add_argument("--threads", type=int, default=1,
                          help="torch threads (default: 1; small models gain nothing from more)")
    evaluate.add_argument("--property-model", default="perovskite",
                          help="property model artifact or shipped name, or 'none' "
                               "(default: perovskite)")
    evaluate.add_argument("--plot", type=Path, metavar="FILE.png",
                          help="histogram of the predicted property of generated crystals "
                               "against the references' values")
    evaluate.add_argument("--json", action="store_true",
                          help="print the metrics (match_rate, rmse, ...) as one JSON object")
    evaluate.set_defaults(run=run_evaluate_generator)


def add_config_arguments(parser: argparse.ArgumentParser, keys: str, *,
                         resume: bool = True) -> None:
    """--config TOML and --set KEY=VALUE overrides (and --resume) for a training command;
    `keys` names the configuration class whose keys they take."""
    parser.add_argument("--config", type=Path, help=f"TOML file with {keys} keys")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override one configuration key (repeatable); "
                        "lists are comma-separated")
    if resume:
        parser.add_argument("--resume", action="store_true",
                            help="continue from OUTPUT/last.pt with its optimizer and random "
                                 "state")


def add_generator_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generator",
                        help="generator folder (weights.pt + generator.json, e.g. "
                             "RUN/generator), or a shipped generator's name (default: "
                             "perovskite-csp for a given composition, perovskite otherwise)")


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, help="reverse-diffusion steps (default: the "
                                                  "generator's)")
    parser.add_argument("--step-lr", type=float, help="Langevin corrector step at the smallest "
                        "noise, growing as (σ/σ_min)² (default: the generator's)")
    parser.add_argument("--corrector-steps", type=int, help="Langevin corrector steps per "
                        "reverse step, 0 for none (default: the generator's)")
    parser.add_argument("--corrector-start", type=float, metavar="T",
                        help="run the corrector only from diffusion time T (1: pure noise) "
                             "down to 0 (default: the generator's)")
    parser.add_argument("--candidates", type=int, metavar="K",
                        help="draw K crystals for each one kept, and keep the one the "
                             "generator finds likeliest (lowest denoising loss); K times the "
                             "sampling (default: the generator's, 1 if it has none)")


def _sampling_settings(args: argparse.Namespace, description: dict) -> dict:
    """The generator's description with the sampling settings given on the command line."""
    from model.generative.config import SAMPLING_LIMITS, sampler_argument, sampling_problem
    from model.generative.requests import GenerationRequestError

    given = {}
    for key in SAMPLING_LIMITS:
        option = sampler_argument(key)
        value = getattr(args, option)
        if value is None:
            continue
        if problem := sampling_problem(key, value):
            raise GenerationRequestError(f"--{option.replace('_', '-')} {problem}")
        given[key] = value
    return description | given


def _set_up_sampling(threads: int) -> None:
    """torch threads for sampling, and freed memory kept: the denoiser's passes would fault
    their tensors' pages in again on every step (allocator.py)."""
    import torch

    from model.allocator import keep_freed_memory

    if threads < 1:
        raise KozoError(f"--threads must be at least 1; got {threads}")
    torch.set_num_threads(threads)
    keep_freed_memory()


def _property_model(name: str) -> Path | None:
    from model.pretrained import resolve_model

    return None if name.lower() == "none" else resolve_model(name)


def run_train_generator(args: argparse.Namespace) -> int:
    from model.generative.config import GeneratorConfig
    from model.generative.trainer import train_generator
    from model.training.config import load_config

    config = load_config(args.config, args.overrides, GeneratorConfig)
    result = train_generator(config, resume=args.resume)
    print(f"trained a {config.mode} generator for {result.epochs_run} epochs (best epoch "
          f"{result.best_epoch}, validation loss {result.best_val_loss:.4g}); "
          f"generator {result.artifact}")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from model.generative.artifact import default_generator, load_generator
    from model.generative.generate import sample_crystals, write_samples
    from model.generative.requests import (GenerationRequestError, parse_composition,
                                           parse_property)

    if args.n < 1:
        raise GenerationRequestError(f"-n must be at least 1; got {args.n}")
    _set_up_sampling(args.threads)
    model, description = load_generator(default_generator(args.generator,
                                                          args.composition is not None))
    description = _sampling_settings(args, description)
    conditions = dict(parse_property(text, model.properties) for text in args.conditions)
    composition = None if args.composition is None else \
        parse_composition(args.composition, model.vocabulary)
    if composition is None and model.mode == "csp":
        raise GenerationRequestError("this generator predicts structures for a given "
                                     "composition (mode csp): give --composition, e.g. SrTiO3")
    property_model = _property_model(args.property_model)
    samples = sample_crystals(model, description, args.n, composition=composition,
                              conditions=conditions, guidance=args.guidance, seed=args.seed)
    rows = write_samples(samples, args.out, property_model)
    print(f"{len(rows)} crystals in {args.out} (CIFs and summary.csv)")
    for row in rows:
        values = "  ".join(f"{k.removeprefix('predicted_')} {v:.4g}" for k, v in row.items()
                           if k.startswith("predicted_") and v != "")
        print(f"  {row['file']}  {row['formula']:<10} {row['space_group']:<10} "
              f"a {row['a']:.3f} b {row['b']:.3f} c {row['c']:.3f} Å  "
              f"α {row['alpha']:.1f} β {row['beta']:.1f} γ {row['gamma']:.1f}°  {values}")
    return 0


def run_evaluate_generator(args: argparse.Namespace) -> int:
    from model.generative.artifact import default_generator, load_generator
    from model.generative.assessment import assess_generator, training_data
    from model.plots import plot_property_histogram

    if args.limit is not None and args.limit < 1:
        raise KozoError(f"--limit must be at least 1; got {args.limit}")
    if not args.data and not args.split:
        raise KozoError("give --data (held-out crystals) or --split test|validation")
    _set_up_sampling(args.threads)
    model, description = load_generator(default_generator(args.generator, True))
    description = _sampling_settings(args, description)
    args.data = args.data or training_data(description)
    result = assess_generator(model, description, args.data, limit=args.limit,
                              seed=args.seed, property_model=_property_model(args.property_model),
                              split=args.split)
    if args.plot and result.property_values:
        name, (generated, reference) = next(iter(result.property_values.items()))
        plot_property_histogram(generated, reference, args.plot, label=name,
                                unit=result.units.get(name, ""),
                                title=f"generated vs reference, {Path(args.data[0]).name}")
    if args.json:  # NaN (no match, no property) is not JSON: null
        print(json.dumps({k: None if isinstance(v, float) and v != v else v
                          for k, v in result.metrics.items()}))
        return 0
    m = result.metrics
    split = f" ({args.split} split)" if args.split else ""
    print(f"CSP on {', '.join(args.data)}{split}: match rate {m['match_rate']:.1f} %, "
          f"RMSE {m['rmse']:.4f} (n = {m['n']}, skipped {m['skipped']} with unseen elements)")
    print(f"framework match rate (species ignored) {m['framework_match_rate']:.1f} %: "
          f"{m['framework_match_rate'] - m['match_rate']:.1f} % have the right geometry with "
          f"atoms on the wrong sites")
    if "structural_validity" in m:
        print(f"de novo: structural validity {m['structural_validity']:.1f} %, compositional "
              f"validity {m['compositional_validity']:.1f} %, uniqueness {m['uniqueness']:.1f} %")
    for name in result.property_values:
        print(f"{name}: MAE of generated crystals vs references {m[f'{name}_mae']:.4g} "
              f"{result.units.get(name, '')} (n = {m[f'{name}_n']})")
    if args.plot and result.property_values:
        print(f"histogram: {args.plot}")
    return 0


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

    overrides = list(args.overrides)
    if args.init is not None:
        overrides.append(f"init={args.init}")
    if args.freeze_layers is not None:
        overrides.append(f"freeze_layers={args.freeze_layers}")
    config = load_config(args.config, overrides)
    result = train(config, resume=args.resume)
    if not result.main_process:
        return 0
    print(f"trained {config.architecture} for {result.epochs_run} epochs "
          f"(best epoch {result.best_epoch}); run folder {result.output}")
    for split in [name for name in result.metrics if name.startswith("test")]:
        for target, values in result.metrics[split].items():
            print(f"  {split} {target}: MAE {values['mae']:.4g}, RMSE {values['rmse']:.4g}, "
                  f"R² {values['r2']:.3f}, Spearman {values['spearman']:.3f} (n={values['n']})")
    if config.export:
        print(f"  artifact: {result.artifact}")
    return 0


def run_pretrain(args: argparse.Namespace) -> int:
    from model.pretraining.config import PretrainConfig
    from model.pretraining.trainer import pretrain
    from model.training.config import load_config

    config = load_config(args.config, args.overrides, PretrainConfig)
    result = pretrain(config, resume=args.resume)
    scores = ", ".join(f"{k.removeprefix('val_')} {v:.4g}" for k, v in result.validation.items())
    print(f"pre-trained {config.architecture} for {result.epochs_run} epochs (best epoch "
          f"{result.best_epoch}: {scores}); backbone {result.backbone}")
    return 0


def experiment_command(args: argparse.Namespace) -> str:
    """The command line that reproduces an experiment, from its parsed arguments."""
    import shlex

    parts = ["kozo", "model", "experiment", "--name", args.name]
    if args.config:
        parts += ["--config", str(args.config)]
    for override in args.overrides:
        parts += ["--set", override]
    if args.target:
        parts += ["--target", args.target]
    if args.pretrained:
        parts += ["--pretrained", args.pretrained]
    parts += ["--imbalance", args.imbalance, "--seeds", args.seeds, "--reports",
              str(args.reports)]
    return shlex.join(parts)


def run_experiment(args: argparse.Namespace) -> int:
    from model.experiment.grid import ExperimentPlan, run_grid
    from model.experiment.report import write_report
    from model.training.config import load_config, merged_values

    overrides = list(args.overrides)
    if args.target:  # summed if the configuration sums it
        summed = merged_values(args.config, overrides).get("summed_targets", [])
        summed = summed.split(",") if isinstance(summed, str) else summed
        overrides += [f"targets={args.target}",
                      f"summed_targets={args.target if args.target in summed else ''}"]
    base = load_config(args.config, overrides)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise KozoError(f"--seeds takes comma-separated integers; got {args.seeds!r}") from None
    plan = ExperimentPlan(args.name, base, args.pretrained, args.imbalance, seeds,
                          args.reports, experiment_command(args)).validate()
    report = write_report(plan, run_grid(plan))
    print(f"report: {report}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from model.artifact import ArtifactMetadata
    from model.training.export_run import export_runs

    folder = export_runs(args.run_folder, args.out, checkpoint=args.checkpoint, name=args.name,
                         version=args.artifact_version)
    metadata = ArtifactMetadata.read(folder)
    members = f", the mean of {len(args.run_folder)} runs" if len(args.run_folder) > 1 else ""
    print(f"exported {metadata.name} {metadata.version} ({args.checkpoint} checkpoint"
          f"{members}) to {folder}")
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
