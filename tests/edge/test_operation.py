"""Operating the daemon against the real hub: quick check, full spool, fsck, enrolment,
status, CLI errors."""

import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import urllib.request

from kozo.ports import free_loopback_port
from model.artifact import write_archive
from model.pretrained import resolve_model
from tests.edge.processes import ROOT, DaemonProcess, running_daemon, started, wait_until, \
    write_edge_config
from tests.edge.real_hub import PROJECT

EXAMPLES = ROOT / "kozo" / "examples"
MALFORMED_CIF = "data_broken\n_cell_length_a 3.9\nloop_\n_atom_site_label\nthis is not a cif\n"


def kozo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kozo", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=120)


def test_quick_check_sends_perovskite_predictions_and_check_errors(tmp_path, hub, device,
                                                                   instrument):
    config = write_edge_config(tmp_path, folders=[instrument], hub_url=hub.url,
                               credential=device.credential, quick_check_model="perovskite")
    with running_daemon(config, tmp_path / "daemon.log"):
        (instrument / "SrTiO3.cif").write_bytes((EXAMPLES / "SrTiO3.cif").read_bytes())
        (instrument / "broken.cif").write_text(MALFORMED_CIF)
        (instrument / "spectrum.dat").write_bytes(b"not a structure")
        wait_until(lambda: {f["path"] for f in device.files()} ==
                   {"SrTiO3.cif", "broken.cif", "spectrum.dat"}, timeout=120, what="three files")
    found = {file["path"]: file for file in device.files()}
    assert len(found) == len(device.files()) == 3
    model = json.loads((resolve_model("perovskite") / "model.json").read_text())
    predictions = found["SrTiO3.cif"]["predictions"]
    assert predictions["model"] == model["name"]
    assert set(predictions["values"]) == {t["name"] for t in model["targets"]}
    for target in model["targets"]:
        value = predictions["values"][target["name"]]
        assert value["unit"] == target["unit"] and isinstance(value["value"], float)
    assert found["SrTiO3.cif"]["check_error"] is None
    assert found["broken.cif"]["predictions"] is None
    assert "broken.cif" in found["broken.cif"]["check_error"]
    assert device.content(found["broken.cif"]) == MALFORMED_CIF.encode()
    assert found["spectrum.dat"]["predictions"] is None
    assert found["spectrum.dat"]["check_error"] is None


def test_quick_check_takes_the_current_model_from_the_hub(tmp_path, facility, hub, device,
                                                          instrument):
    write_archive(resolve_model("perovskite"), tmp_path / "perovskite.zip")
    record = facility.admin.publish_model((tmp_path / "perovskite.zip").read_bytes())
    facility.admin.set_current_model(record["name"], record["version"])
    config = write_edge_config(tmp_path, folders=[instrument], hub_url=hub.url,
                               credential=device.credential, quick_check_model="hub")
    with running_daemon(config, tmp_path / "daemon.log") as daemon:
        wait_until(lambda: "quick check uses model" in daemon.log_text(), timeout=60,
                   what="model download")
        (instrument / "SrTiO3.cif").write_bytes((EXAMPLES / "SrTiO3.cif").read_bytes())
        wait_until(lambda: "SrTiO3.cif" in device.by_path(), timeout=60, what="the CIF")
    [file] = device.files()
    assert file["predictions"]["model"] == record["name"]
    assert set(file["predictions"]["values"]) == {t["name"] for t in record["targets"]}
    [model_folder] = (tmp_path / "spool" / "models").iterdir()
    assert model_folder.name.endswith(record["sha256"][:12])
    assert {p.name for p in model_folder.iterdir()} == {"model.json", "model.onnx"}


def test_a_full_spool_keeps_new_files_waiting_deletes_nothing_and_says_so(
        tmp_path, hub, device, instrument):
    port = free_loopback_port()
    config = write_edge_config(tmp_path, folders=[instrument], hub_url=hub.url,
                               credential=device.credential, cap_bytes=250_000, status_port=port)
    hub.kill()
    with running_daemon(config, tmp_path / "daemon.log") as daemon:
        expected = {f"r{i}.dat": os.urandom(100_000) for i in range(6)}  # incompressible
        for name, data in expected.items():
            (instrument / name).write_bytes(data)

        def status():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=3) as r:
                return json.load(r)
        wait_until(lambda: status()["spool_full"], timeout=30, what="spool full")
        wait_until(lambda: "spool full" in daemon.log_text(), timeout=30, what="log line")
        shown = kozo("edge", "status", "--config", str(config))
        assert "SPOOL FULL" in shown.stdout
        held = status()["states"]["pending"]["files"] + status()["states"]["in_flight"]["files"]
        assert held == 2 and status()["used_bytes"] <= 250_000
        assert all((instrument / name).exists() for name in expected)  # nothing deleted
        hub.start()  # on the same data folder and port
        wait_until(lambda: device.arrived_exactly(expected), timeout=60, what="all files")
        wait_until(lambda: not status()["spool_full"], timeout=30, what="room again")


def test_fsck_recovers_a_corrupted_database_page_and_every_file_still_arrives(
        tmp_path, hub, device, instrument):
    config = write_edge_config(tmp_path, folders=[instrument], hub_url=hub.url,
                               credential=device.credential)
    hub.kill()
    daemon = started(DaemonProcess(config, tmp_path / "daemon.log").start())
    expected = {f"c{i}.dat": os.urandom(3000) for i in range(60)}
    for name, data in expected.items():
        (instrument / name).write_bytes(data)
    db = tmp_path / "spool" / "spool.db"
    def spooled():
        states = json.loads(kozo("edge", "status", "--config", str(config), "--json")
                            .stdout)["states"]
        return states["pending"]["files"] + states["in_flight"]["files"] == 60
    try:
        wait_until(spooled, timeout=60, interval=0.3, what="60 spooled")
    finally:
        daemon.stop()
    # The pages to corrupt must be in the database file itself: a daemon that closes its
    # spool checkpoints the WAL into it, but one stopped the hard way leaves the pages in
    # spool.db-wal (seen once in a full suite run); move them in as SQLite would.
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(db.read_bytes())
    assert len(raw) > 4096 * 4
    raw[4096:4096 * 3] = os.urandom(8192)
    db.write_bytes(bytes(raw))
    result = kozo("edge", "fsck", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "database damaged: rebuilt" in result.stdout
    hub.start()
    with running_daemon(config, tmp_path / "daemon2.log") as daemon:
        wait_until(lambda: device.arrived_exactly(expected), timeout=60, what="all files")


def test_a_corrupted_database_does_not_stop_the_daemon_from_starting(tmp_path, hub, device,
                                                                     instrument):
    config = write_edge_config(tmp_path, folders=[instrument], hub_url=hub.url,
                               credential=device.credential)
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "spool.db").write_bytes(b"SQLite format 3\0" + os.urandom(8000))
    (instrument / "a.dat").write_bytes(b"a")
    with running_daemon(config, tmp_path / "daemon.log") as daemon:
        wait_until(lambda: device.arrived_exactly({"a.dat": b"a"}), what="a.dat")
    assert "damaged" in daemon.log_text()


def test_enroll_stores_a_private_credential_and_a_used_code_is_one_line_error(
        tmp_path, facility, hub):
    facility.hub.admin("instrument", "add", "sem-9", "--project", PROJECT)
    code = facility.enrolment_code("sem-9")
    credential = tmp_path / "etc" / "credential.json"
    first = kozo("edge", "enroll", "--hub", hub.url, "--code", code,
                 "--credential", str(credential))
    assert first.returncode == 0, first.stderr
    assert stat.S_IMODE(credential.stat().st_mode) == 0o600
    stored = json.loads(credential.read_text())
    assert set(stored) == {"hub", "device", "instrument", "token"}
    assert stored["token"].startswith("kozo_dev_")
    assert (stored["hub"], stored["instrument"]) == (hub.url, "sem-9")
    again = kozo("edge", "enroll", "--hub", hub.url, "--code", code,
                 "--credential", str(tmp_path / "other.json"))
    assert again.returncode == 2
    assert again.stderr.startswith("kozo: error:") and "code_used" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "other.json").exists()


def test_user_mistakes_are_one_line_errors_with_exit_code_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[watch\nfolders = ")
    cases = [("edge", "run", "--config", str(tmp_path / "missing.toml")),
             ("edge", "run", "--config", str(bad)),
             ("edge", "status", "--config", str(bad)),
             ("edge", "enroll", "--hub", f"http://127.0.0.1:{free_loopback_port()}", "--code", "X",
              "--credential", str(tmp_path / "c.json"))]
    for args in cases:
        result = kozo(*args)
        assert result.returncode == 2, args
        assert result.stderr.startswith("kozo: error: "), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_every_edge_command_has_help_with_an_example():
    for command in ("run", "enroll", "status", "fsck"):
        result = kozo("edge", command, "--help")
        assert result.returncode == 0 and "Example:" in result.stdout
        assert f"kozo edge {command}" in result.stdout


def test_run_without_a_credential_says_to_enroll(tmp_path, instrument):
    config = write_edge_config(tmp_path, folders=[instrument], hub_url="http://127.0.0.1:9",
                               credential=tmp_path / "never-enrolled.json")
    result = kozo("edge", "run", "--config", str(config))
    assert result.returncode == 2 and "kozo edge enroll" in result.stderr
