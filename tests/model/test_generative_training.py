"""The generator end to end on crystals built here: a tiny model overfits one crystal
until CSP sampling recovers it; training writes its outputs and resumes exactly; the
commands write parseable CIFs, score themselves, and refuse mistakes in one line."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

from kozo.cli import main
from model.generative.assessment import training_data
from model.generative.config import GeneratorConfig
from model.generative.crystals import CrystalSet, collate_crystals
from model.generative.diffusion import CrystalDiffusion
from model.generative.evaluation import to_pymatgen
from model.generative.trainer import normalisation_for, train_generator
from model.training.config import ConfigError

from tests.model.conftest import FRACTIONAL, SITES, spend_minutes

pytestmark = pytest.mark.usefixtures("one_thread")


def srtio3(a=3.9):
    return Structure(Lattice.cubic(a), SITES, FRACTIONAL)


def test_a_tiny_model_overfit_on_one_crystal_recovers_it_by_csp_sampling():
    torch.manual_seed(0)
    crystal, n = srtio3(), 16
    crystals = CrystalSet(ids=[str(k) for k in range(n)],
                          fractional=np.tile(crystal.frac_coords, (n, 1)),
                          cells=np.stack([crystal.lattice.matrix] * n),
                          numbers=np.tile(np.array(crystal.atomic_numbers), n),
                          atom_counts=np.full(n, 5), properties=np.zeros((n, 0)))
    vocabulary = [8, 22, 38]
    model = CrystalDiffusion(mode="csp", vocabulary=vocabulary, properties=[],
                             normalisation=normalisation_for(crystals, np.arange(n)),
                             features=16, layers=2, cutoff=4.5)
    batch = collate_crystals(crystals, np.arange(n), vocabulary, np.zeros(0), np.ones(0))
    types = [[vocabulary.index(z) for z in crystal.atomic_numbers]] * 4
    matcher = StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)
    untrained = [matcher.fit(to_pymatgen(s), crystal)
                 for s in model.eval().sample([5] * 4, types, steps=100, seed=1)]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(400):
        optimizer.zero_grad()
        terms = model.loss(batch)
        (terms["coordinates"] + terms["lattice"]).backward()
        optimizer.step()
    trained = [matcher.fit(to_pymatgen(s), crystal)
               for s in model.eval().sample([5] * 4, types, steps=100, seed=1)]
    assert sum(trained) >= 3, trained
    assert sum(untrained) < sum(trained), (untrained, trained)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    """24 cubic perovskites ABO3 with invented heat_all (eV/cell) and ind_gap (eV)."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "perovskites.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "material_id", "cif", "heat_all", "ind_gap"])
        for k in range(24):
            a_site, b_site = ["Sr", "Ba", "Ca"][k % 3], ["Ti", "Zr"][k % 2]
            a = rng.uniform(3.8, 4.2)
            crystal = Structure(Lattice.cubic(a), [a_site, b_site, "O", "O", "O"], FRACTIONAL)
            crystal.perturb(0.05)
            writer.writerow([k, f"p{k}", str(CifWriter(crystal)), -a + 4.0, 2 * a - 7.0])
    return path


def config_for(data_file, output, **changes):
    values = dict(data=[str(data_file)], properties=["heat_all", "ind_gap"], features=16,
                  layers=1, cutoff=4.5, batch_size=8, epochs=3, learning_rate=3e-3,
                  schedule="constant", val_fraction=0.2, sampling_steps=10, output=str(output))
    values.update(changes)
    return GeneratorConfig(**values).validate()


@pytest.fixture(scope="module")
def trained(data_file, tmp_path_factory):
    output = tmp_path_factory.mktemp("runs") / "generator"
    return train_generator(config_for(data_file, output, epochs=15, batch_size=4),
                           show_progress=False)


def read_rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_training_writes_metrics_curve_checkpoints_and_a_generator(trained):
    rows = read_rows(trained.output / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(1, 16))
    assert (trained.output / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (trained.output / "last.pt").is_file() and (trained.output / "best.pt").is_file()
    description = json.loads((trained.artifact / "generator.json").read_text())
    assert description["vocabulary"] == [8, 20, 22, 38, 40, 56]
    assert description["properties"] == ["heat_all", "ind_gap"]
    assert description["atom_counts"] == {"5": 19}
    # stated factors: the training loss (mean of 3 epochs) falls by 15 %, and the lattice term
    # of the validation loss (fixed noise) by 25 %, within 15 short epochs
    train_losses = [float(r["train_loss"]) for r in rows]
    assert np.mean(train_losses[-3:]) < 0.85 * np.mean(train_losses[:3]), train_losses
    assert float(rows[-1]["val_lattice"]) < 0.75 * float(rows[0]["val_lattice"])


def test_a_resumed_run_keeps_the_time_it_has_used(data_file, tmp_path):
    """7.5 of its 10 minutes used (written into last.pt, as a long run would have): the
    resumed epoch's rate is the cosine's at 3/4, not the full rate of a fresh budget."""
    settings = dict(schedule="cosine", time_limit=10.0)
    train_generator(config_for(data_file, tmp_path / "timed", epochs=1, **settings),
                    show_progress=False)
    spend_minutes(tmp_path / "timed", 7.5)
    resumed = train_generator(config_for(data_file, tmp_path / "timed", epochs=2, **settings),
                              resume=True, show_progress=False)
    second = float(read_rows(resumed.output / "metrics.csv")[1]["learning_rate"])
    expected = 3e-3 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 0.75)))
    assert second == pytest.approx(expected, rel=1e-3)


def test_a_resumed_run_continues_exactly_where_it_stopped(data_file, tmp_path):
    straight = train_generator(config_for(data_file, tmp_path / "straight"), show_progress=False)
    train_generator(config_for(data_file, tmp_path / "resumed", epochs=2), show_progress=False)
    resumed = train_generator(config_for(data_file, tmp_path / "resumed"), resume=True,
                              show_progress=False)
    assert read_rows(resumed.output / "metrics.csv") == read_rows(straight.output / "metrics.csv")


def test_a_generator_trained_further_starts_from_its_weights(trained, data_file, tmp_path):
    """At a learning rate too small to move the weights, the first epoch scores the
    validation crystals (under fixed noise) as the generator it started from did."""
    scratch = train_generator(config_for(data_file, tmp_path / "scratch", epochs=1,
                                         batch_size=4, learning_rate=1e-12), show_progress=False)
    further = train_generator(config_for(data_file, tmp_path / "further", epochs=1,
                                         batch_size=4, learning_rate=1e-12,
                                         init=str(trained.artifact)), show_progress=False)
    assert further.best_val_loss == pytest.approx(trained.best_val_loss, rel=1e-5)
    assert scratch.best_val_loss > 1.05 * trained.best_val_loss


@pytest.mark.parametrize("changes, message", [
    (dict(properties=["heat_all"]), r"its properties( and normalisation)? differ from this configuration's"),
    (dict(seed=3), r"held out \d+ crystals that this configuration trains on"),
    (dict(features=8), r"its network does not fit this configuration's"),
])
def test_training_further_refuses_a_generator_of_other_data_split_or_size(
        trained, data_file, tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        train_generator(config_for(data_file, tmp_path / "refused", epochs=1,
                                   init=str(trained.artifact), **changes), show_progress=False)
    assert not (tmp_path / "refused" / "last.pt").exists()


def test_generate_writes_cifs_that_parse_back_with_the_composition_asked(trained, tmp_path,
                                                                          capsys):
    out = tmp_path / "generated"
    code = main(["model", "generate", "--generator", str(trained.artifact), "--composition",
                 "SrTiO3", "--property", "heat_all=0.1", "--guidance", "2", "-n", "3",
                 "--steps", "5", "--out", str(out)])
    assert code == 0
    rows = read_rows(out / "summary.csv")
    assert len(rows) == 3
    for row in rows:
        crystal = Structure.from_file(out / row["file"])
        assert crystal.composition.reduced_formula == "SrTiO3" == row["formula"]
        assert float(row["a"]) == pytest.approx(crystal.lattice.a, rel=1e-6)
        assert row["space_group"]
        assert "predicted_heat_all (eV/cell)" in row  # the shipped perovskite property model
    assert "crystal_002.cif" in capsys.readouterr().out


def test_the_corrector_settings_given_change_the_sampling(trained, tmp_path):
    def fractional_coordinates(*settings: str) -> np.ndarray:
        out = tmp_path / "-".join(settings or ("default",))
        assert main(["model", "generate", "--generator", str(trained.artifact), "--composition",
                     "SrTiO3", "-n", "2", "--steps", "5", "--property-model", "none",
                     "--out", str(out), *settings]) == 0
        return np.concatenate([Structure.from_file(path).frac_coords
                               for path in sorted(out.glob("*.cif"))])

    default = fractional_coordinates()
    assert np.allclose(fractional_coordinates("--step-lr", "1e-5"), default, atol=1e-6)
    assert not np.allclose(fractional_coordinates("--step-lr", "1e-3"), default, atol=1e-3)
    without = fractional_coordinates("--corrector-steps", "0")
    assert not np.allclose(without, default, atol=1e-3)
    assert np.allclose(fractional_coordinates("--corrector-start", "0"), without, atol=1e-6)
    late = fractional_coordinates("--corrector-start", "0.5")
    assert not np.allclose(late, without, atol=1e-3) and not np.allclose(late, default, atol=1e-3)


def test_evaluate_generator_prints_match_rate_and_rmse_as_json(trained, data_file, capsys):
    code = main(["model", "evaluate-generator", "--generator", str(trained.artifact),
                 "--data", str(data_file), "--limit", "4", "--steps", "5", "--json"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"match_rate", "framework_match_rate", "rmse", "n", "heat_all_mae"} <= set(metrics)
    assert metrics["match_rate"] <= metrics["framework_match_rate"] <= 100.0
    assert metrics["n"] == 4 and 0.0 <= metrics["match_rate"] <= 100.0


def test_a_test_split_is_held_out_of_training_and_evaluated_alone(data_file, tmp_path,
                                                                   capsys):
    result = train_generator(config_for(data_file, tmp_path / "held", epochs=1,
                                        test_fraction=0.25), show_progress=False)
    description = json.loads((result.artifact / "generator.json").read_text())
    test_ids, validation_ids = set(description["test_ids"]), set(description["validation_ids"])
    assert len(test_ids) == 6 and len(validation_ids) == 5 and not test_ids & validation_ids
    # the atom counts the generator learnt from are those of the 13 training crystals only
    assert description["atom_counts"] == {"5": 24 - 6 - 5}
    code = main(["model", "evaluate-generator", "--generator", str(result.artifact),
                 "--split", "test", "--steps", "3", "--property-model", "none", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["n"] == 6
    without = train_generator(config_for(data_file, tmp_path / "none", epochs=1),
                              show_progress=False)
    code = main(["model", "evaluate-generator", "--generator", str(without.artifact),
                 "--split", "test", "--steps", "3"])
    error = capsys.readouterr().err
    assert code == 2 and "recorded no test split" in error and len(error.splitlines()) == 1


def test_recorded_relative_data_paths_are_found_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.csv").write_text("id\n")
    found = training_data({"data": ["model/configs/generator-perovskite-csp.toml", "here.csv",
                                    "nowhere.csv"]})
    assert Path(found[0]).is_absolute() and Path(found[0]).is_file()
    assert found[1:] == ["here.csv", "nowhere.csv"]


@pytest.mark.parametrize("arguments, message", [
    (["--composition", "SrXxO3"], "not an element"),
    (["--composition", "Sr1.5TiO3"], "fractional amount"),
    (["--composition", "SrTiS3"], "never saw S"),
    (["--composition", "SrTiO3", "--property", "heat_all"], "NAME=VALUE"),
    (["--composition", "SrTiO3", "--property", "heat_all=warm"], "NAME=VALUE"),
    (["--composition", "SrTiO3", "--property", "density=3"], "conditioned on heat_all, ind_gap"),
    ([], "give --composition"),
    (["--composition", "SrTiO3", "--steps", "0"], "--steps must be at least 1"),
    (["--composition", "SrTiO3", "--step-lr=-1e-6"], "--step-lr must be zero or positive"),
    (["--composition", "SrTiO3", "--corrector-steps", "-1"], "--corrector-steps must be"),
    (["--composition", "SrTiO3", "--corrector-start", "2"], "diffusion time in [0, 1]"),
])
def test_mistakes_in_a_generate_request_are_one_line_and_exit_2(trained, tmp_path, capsys,
                                                                arguments, message):
    out = tmp_path / "never"
    code = main(["model", "generate", "--generator", str(trained.artifact), "-n", "1",
                 "--out", str(out)] + arguments)
    error = capsys.readouterr().err
    assert code == 2
    assert len(error.strip().splitlines()) == 1 and message in error
    assert not out.exists()


def test_a_missing_generator_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["model", "generate", "--generator", str(tmp_path / "nowhere"),
                 "--composition", "SrTiO3", "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2 and len(error.strip().splitlines()) == 1
    assert "no such generator folder, nor a shipped generator" in error


def test_classifier_free_guidance_steers_the_cell_toward_the_property_asked():
    """De novo, conditioned on the lattice constant itself (Å): two clusters, 3.6 and 4.4 Å.
    Asking for either must give cells near it; unconditional samples fall between."""
    torch.manual_seed(0)
    n = 16
    a = np.array([3.6, 4.4] * (n // 2))
    crystals = CrystalSet(ids=[str(k) for k in range(n)],
                          fractional=np.tile(np.array(FRACTIONAL, dtype=float), (n, 1)),
                          cells=np.stack([np.eye(3) * x for x in a]),
                          numbers=np.tile(np.array([38, 22, 8, 8, 8]), n),
                          atom_counts=np.full(n, 5), properties=a[:, None].copy())
    vocabulary = [8, 22, 38]
    normalisation = normalisation_for(crystals, np.arange(n))
    model = CrystalDiffusion(mode="de_novo", vocabulary=vocabulary, properties=["a"],
                             normalisation=normalisation, features=16, layers=1, cutoff=4.5)
    batch = collate_crystals(crystals, np.arange(n), vocabulary,
                             np.array(normalisation.property_mean),
                             np.array(normalisation.property_std))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        optimizer.zero_grad()
        terms = model.loss(batch, condition_dropout=0.2)
        (terms["coordinates"] + terms["lattice"] + terms["types"]).backward()
        optimizer.step()
    model.eval()

    def mean_edge(condition):
        properties = None if condition is None else np.full((8, 1), condition)
        samples = model.sample([5] * 8, None, properties, guidance=1.0, steps=30, seed=2)
        assert all(set(s.numbers.tolist()) <= set(vocabulary) for s in samples)
        return float(np.mean([abs(np.linalg.det(s.cell)) ** (1 / 3) for s in samples]))

    small, large, free = mean_edge(3.6), mean_edge(4.4), mean_edge(None)
    assert abs(small - 3.6) < 0.15 and abs(large - 4.4) < 0.15, (small, large)
    assert small < free < large


@pytest.mark.parametrize("name, mode", [("generator-perovskite.toml", "de_novo"),
                                        ("generator-perovskite-csp.toml", "csp"),
                                        ("generator-perovskite-csp-further.toml", "csp"),
                                        ("generator-carbon.toml", "de_novo")])
def test_the_shipped_generator_configurations_load(name, mode):
    from pathlib import Path

    from model.training.config import load_config

    path = Path(__file__).resolve().parents[2] / "model" / "configs" / name
    config = load_config(path, [], GeneratorConfig)
    assert config.mode == mode and config.time_limit <= 180 and config.test_fraction > 0


def test_a_de_novo_generator_keeps_a_composition_it_is_given():
    torch.manual_seed(0)
    crystals = CrystalSet(ids=["0"], fractional=np.array(FRACTIONAL, dtype=float),
                          cells=np.eye(3)[None] * 3.9, numbers=np.array([38, 22, 8, 8, 8]),
                          atom_counts=np.array([5]), properties=np.zeros((1, 0)))
    model = CrystalDiffusion(mode="de_novo", vocabulary=[8, 22, 38], properties=[],
                             normalisation=normalisation_for(crystals, np.arange(1)),
                             features=16, layers=1, cutoff=4.5).eval()
    samples = model.sample([5, 5], [[2, 1, 0, 0, 0]] * 2, steps=5)
    assert [s.numbers.tolist() for s in samples] == [[38, 22, 8, 8, 8]] * 2


def test_train_generator_command_runs_without_properties_and_refuses_unknown_keys(
        data_file, tmp_path, capsys):
    output = tmp_path / "cli-run"
    code = main(["model", "train-generator", "--set", f"data={data_file}", "--set", "epochs=1",
                 "--set", "features=8", "--set", "layers=1", "--set", "cutoff=4.5",
                 "--set", f"output={output}"])
    assert code == 0
    assert json.loads((output / "generator" / "generator.json").read_text())["properties"] == []
    assert "trained a csp generator for 1 epochs" in capsys.readouterr().out
    code = main(["model", "train-generator", "--set", f"data={data_file}", "--set", "layer=2"])
    error = capsys.readouterr().err
    assert code == 2 and len(error.strip().splitlines()) == 1 and "layer" in error


def test_the_shipped_generators_answer_a_composition_and_a_property(tmp_path):
    """With no --generator, a composition goes to the CSP generator, which finds cubic
    SrTiO3 (a ≈ 3.9 Å) among a few samples; a property alone goes to the de novo one."""
    from model.generative.artifact import default_generator, load_generator

    assert load_generator(default_generator(None, True))[0].mode == "csp"
    assert load_generator(default_generator(None, False))[0].mode == "de_novo"
    out = tmp_path / "csp"
    assert main(["model", "generate", "--composition", "SrTiO3", "-n", "4",
                 "--out", str(out)]) == 0
    rows = read_rows(out / "summary.csv")
    assert {row["formula"] for row in rows} == {"SrTiO3"}
    matcher = StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)
    assert any(matcher.fit(Structure.from_file(out / row["file"]), srtio3()) for row in rows)
    out = tmp_path / "de-novo"
    assert main(["model", "generate", "--property", "heat_all=0.5", "-n", "3",
                 "--steps", "50", "--out", str(out)]) == 0
    rows = read_rows(out / "summary.csv")
    assert len(rows) == 3 and all(row["predicted_heat_all (eV/cell)"] for row in rows)
