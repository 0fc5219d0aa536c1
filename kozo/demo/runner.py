"""`kozo demo`: the local system on loopback, as a new user meets it.

A hub, an edge daemon enrolled with it, and a simulated instrument writing
into the folder the daemon watches. The shipped perovskite model goes into
the hub's registry and is marked current, so the edge downloads it and sends
a quick-check prediction with every structure file. The terminal shows files
as they arrive at the hub, read back through the data API as the demo user.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.client import Hub, HubClientError
from kozo.demo.instrument import run_instrument
from kozo.demo.notebook import write_example_notebook
from kozo.demo.samples import dataset_samples, prototype_samples
from kozo.demo.services import DemoError, Service, kozo_command, wait_until_healthy
from kozo.ports import free_loopback_port
from model.artifact import ArtifactMetadata, write_archive
from model.pretrained import resolve_model

DEMO_USER, DEMO_PASSWORD = "demo", "kozo-demo-password"  # loopback only; printed for the user
INSTRUMENT, PROJECT = "xrd-1", "perovskites"


@dataclass
class DemoSettings:
    folder: Path  # everything the demo writes; wiped at start
    port: int = 8470
    interval: float = 3.0  # seconds between instrument runs
    runs: int | None = None  # None: until stopped
    duration: float | None = None  # seconds; None: until Ctrl-C
    data: Path | None = None  # a CDVAE CSV (or folder): samples with reference values
    model: str = "perovskite"
    notebook: bool = True  # start the demo user's Jupyter server once files have arrived


@dataclass
class Arrival:
    name: str
    size: int
    predictions: dict | None
    check_error: str | None


@dataclass
class DemoResult:
    runs_written: int = 0
    arrivals: list[Arrival] = field(default_factory=list)
    notebook_url: str | None = None  # the demo user's server, through the hub's proxy
    hub_url: str | None = None
    user_token: str | None = None  # the demo user's bearer token (loopback demo only)


def start_notebook(user: Hub, notebook_folder: Path, *, timeout: float = 120.0,
                   stop: threading.Event | None = None) -> str | None:
    """The demo user's Jupyter server, started through the hub API, with the example notebook.

    None if `stop` is set while it starts; DemoError (with the hub's reason) if it fails.
    """
    notebook = write_example_notebook(notebook_folder)
    try:
        answer = user.start_server(DEMO_USER)
    except HubClientError as error:  # a start that fails at once is an error answer
        raise DemoError(f"the notebook server did not start: {error}") from error
    deadline = time.monotonic() + timeout
    while answer.get("state") != "running":
        if stop is not None and stop.is_set():
            return None
        if answer.get("state") == "failed" or time.monotonic() > deadline:
            raise DemoError(f"the notebook server did not start: {answer.get('message', answer)}")
        time.sleep(0.5)
        answer = user.server(DEMO_USER)
    return f"{user.url}/user/{DEMO_USER}/lab/tree/{notebook.name}"


def start_notebook_with_retry(user: Hub, notebook_folder: Path, say,
                              stop: threading.Event) -> str | None:
    """`start_notebook`, tried once more after a failure: a loaded machine can miss a start
    timeout once, and the demo should still reach its last step. The first reason is said."""
    try:
        return start_notebook(user, notebook_folder, stop=stop)
    except DemoError as error:
        say(f"{error}; trying once more")
    return start_notebook(user, notebook_folder, stop=stop)


def publish_model(admin: Hub, name_or_path: str, folder: Path) -> dict:
    """Upload the artifact to the hub's registry and mark it current; the registry's record."""
    archive = folder / "model-upload.zip"
    write_archive(resolve_model(name_or_path), archive)
    record = admin.publish_model(archive.read_bytes())
    admin.set_current_model(record["name"], record["version"])
    return record


def set_up_hub(settings: DemoSettings, hub_data: Path) -> dict[str, str]:
    """Users, a project, an instrument, tokens and an enrolment code, through `kozo hub admin`."""
    data = ["--data", str(hub_data)]
    kozo_command("hub", "admin", "user", "add", "admin", "--admin", *data)
    kozo_command("hub", "admin", "user", "add", DEMO_USER, "--password-stdin", *data,
                 input_text=DEMO_PASSWORD + "\n")
    kozo_command("hub", "admin", "project", "add", PROJECT, "--member", DEMO_USER, *data)
    kozo_command("hub", "admin", "instrument", "add", INSTRUMENT, "--project", PROJECT,
                 "--facility", "demo-lab", *data)
    first_line = lambda text: text.strip().splitlines()[0].strip()  # noqa: E731
    return {"admin": first_line(kozo_command("hub", "admin", "token", "admin", *data)),
            "user": first_line(kozo_command("hub", "admin", "token", DEMO_USER, *data)),
            "code": first_line(kozo_command("hub", "admin", "enroll-code", INSTRUMENT, *data))}


def edge_config(settings: DemoSettings, hub_url: str) -> str:
    folder = settings.folder
    return (f'[watch]\nfolders = ["{folder / "instrument"}"]\nsettle_seconds = 1.0\n'
            f'scan_interval_seconds = 30\n\n'
            f'[spool]\ndirectory = "{folder / "edge" / "spool"}"\n\n'
            f'[hub]\nurl = "{hub_url}"\ncredential = "{folder / "edge" / "credential.json"}"\n\n'
            f'[quick_check]\nmodel = "hub"\npoll_seconds = 10\n\n'
            f'[status]\nport = {free_loopback_port()}\n\n'
            f'[metadata]\nsimulated = true\n')


def learned_targets(model: str) -> set[str]:
    """Targets the model predicts better than their mean on its own test split (R² > 0.5).

    The shipped perovskite model's band gap is not learned (R² about 0); showing its
    numbers beside the heat of formation would suggest they mean something.
    """
    metadata = ArtifactMetadata.read(resolve_model(model))
    test = metadata.metrics.get("test", {})
    return {t.name for t in metadata.targets if (test.get(f"{t.name}_r2") or 0.0) > 0.5}


def describe(arrival: Arrival, shown_targets: set[str] | None = None) -> str:
    line = f"  arrived  {arrival.name:<32} {arrival.size:>9,} bytes"
    if arrival.predictions:
        values = arrival.predictions.get("values", {})
        shown = ", ".join(f"{name} {entry['value']:.3g} {entry['unit']}".rstrip()
                          for name, entry in values.items()
                          if shown_targets is None or name in shown_targets)
        line += f"  quick check: {shown}"
    elif arrival.check_error:
        line += f"  quick check failed: {arrival.check_error[:60]}"
    return line


def run_demo(settings: DemoSettings, *, say=print, result: DemoResult | None = None,
             stop: threading.Event | None = None) -> DemoResult:
    """Start everything, show arrivals until the duration ends, Ctrl-C or `stop`; stop everything.

    `result` fills in while the demo runs, so another thread can watch it.
    """
    folder = settings.folder.resolve()
    settings.folder = folder
    if folder.exists():
        shutil.rmtree(folder)
    for part in ("hub", "edge", "instrument"):
        (folder / part).mkdir(parents=True)
    samples = (dataset_samples(settings.data) if settings.data else prototype_samples())
    hub_url = f"http://127.0.0.1:{settings.port}"
    result = result if result is not None else DemoResult()
    services, secrets = [], {}
    stop = stop or threading.Event()
    stop_instrument = threading.Event()
    notebook_asked = False
    try:
        say(f"kozo demo: everything lives in {folder} (logs: hub.log, edge.log)")
        secrets = set_up_hub(settings, folder / "hub")
        result.hub_url, result.user_token = hub_url, secrets["user"]
        hub = Service("hub", ["hub", "serve", "--data", str(folder / "hub"),
                              "--port", str(settings.port)], folder / "hub.log")
        services.append(hub)
        wait_until_healthy(hub_url, hub)
        record = publish_model(Hub(hub_url, secrets["admin"]), settings.model, folder / "hub")
        say(f"hub      {hub_url}  (log in as {DEMO_USER} / {DEMO_PASSWORD})")
        shown = learned_targets(settings.model)
        say(f"model    {record['name']} {record['version']} is current; edges use it for "
            f"quick checks (shown here: {', '.join(sorted(shown))}, the targets it has learned)")
        config = folder / "edge" / "edge.toml"
        config.write_text(edge_config(settings, hub_url))
        kozo_command("edge", "enroll", "--hub", hub_url, "--code", secrets["code"],
                     "--config", str(config), "--name", "demo-pi")
        edge = Service("edge daemon", ["edge", "run", "--config", str(config)],
                       folder / "edge.log")
        services.append(edge)
        say(f"edge     enrolled for instrument {INSTRUMENT}, watching {folder / 'instrument'}")

        def instrument() -> None:
            for _ in run_instrument(folder / "instrument", samples, interval=settings.interval,
                                    count=settings.runs):
                result.runs_written += 1
                if stop_instrument.wait(0):
                    return

        writer = threading.Thread(target=instrument, name="instrument", daemon=True)
        writer.start()
        say(f"instrument writes a run (structure, diffraction pattern, micrograph, log) "
            f"every {settings.interval:g} s.  Ctrl-C stops everything.\n")
        user = Hub(hub_url, secrets["user"])
        seen: set[str] = set()
        deadline = time.monotonic() + settings.duration if settings.duration else None
        while (deadline is None or time.monotonic() < deadline) and not stop.is_set():
            for service in services:
                service.check_alive()
            listing = user.files(limit=200)
            for entry in sorted(listing, key=lambda e: e["committed"]):
                if entry["id"] in seen:
                    continue
                seen.add(entry["id"])
                arrival = Arrival(entry["path"], entry["size"], entry["predictions"],
                                  entry["check_error"])
                result.arrivals.append(arrival)
                say(describe(arrival, shown))
            if settings.notebook and result.notebook_url is None and any(
                    a.predictions for a in result.arrivals):
                notebook_asked = True
                result.notebook_url = start_notebook_with_retry(
                    user, folder / "hub" / "notebooks" / DEMO_USER, say, stop)
                if result.notebook_url is None:
                    break  # stopped while it started
                say(f"\nnotebook  log in at {hub_url}/login as {DEMO_USER} / {DEMO_PASSWORD}, "
                    f"then open\n          {result.notebook_url}\n")
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("\nstopping ...")
    finally:
        stop_instrument.set()
        if notebook_asked:  # also a start cut short: its server outlives the hub otherwise
            try:
                Hub(hub_url, secrets["user"]).stop_server(DEMO_USER)
            except HubClientError as error:
                say(f"could not stop the notebook server: {error}")
        for service in reversed(services):
            service.stop()
    say(f"kozo demo: {result.runs_written} instrument runs written, "
        f"{len(result.arrivals)} files arrived at the hub")
    return result
