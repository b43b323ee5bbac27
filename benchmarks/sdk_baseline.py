"""The official-SDK baseline of the benchmark report: the same people synced with the vendors' own Python SDKs.

Three baselines, each in its own sandbox seeded exactly like the provider's benchmark of the same size, with the
same vendor rate limits and the same Brevo import / Customer.io export processing settings:

* ``brevo`` — CIO→Brevo with brevo-python, **one call per person**: ``client.contacts.create_contact(
  update_enabled=True)``;
* ``brevo_import`` — CIO→Brevo with brevo-python's **own import call**: ``client.contacts.import_contacts(
  json_body=[...], list_ids=[12], update_existing_contacts=True)`` in bodies of at most 8 MB (Brevo's advice), one
  import at a time (Brevo: "Wait for your current import to finish before starting a new one"), each followed to
  its end with ``client.process.get_process`` every ``POLL_S`` seconds. brevo-python 5 (a generated client) names
  the old ``ContactsApi.import_contacts(RequestContactImport(json_body=...))`` of sib-api-v3-sdk / brevo-python 1
  this way; the request is the same ``POST /v3/contacts/import`` with a ``jsonBody``;
* ``customerio`` — Brevo→CIO with customerio-python, ``identify`` per person.

The CIO→Brevo baselines read the people like the provider (App API search + attributes per 100, plain HTTP: there is
no official App API SDK). The SDKs are installed on demand into ``<out>/sdk-venv`` (not project dependencies).
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import vendor_bounds  # noqa: E402

#: Seconds between the import baseline's ``get_process`` calls.
POLL_S = 5.0
#: The import baseline's body limit (Brevo: 10 MB, about 8 MB advised).
IMPORT_BODY_BYTES = 8_000_000
#: The sandbox's request log keeps this many entries (airflow_provider_customerio/sandbox/context.py).
REQUEST_LOG_MAX = 50_000
MODES = ("brevo", "brevo_import", "customerio")

SDK_SCRIPT = r'''
"""Runs in the SDK venv: a sync with the official SDKs against the sandbox. Prints one JSON line."""
import json, sys, time
info = json.loads(open(sys.argv[1]).read())
mode, n, poll_s, body_bytes = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
import requests
out = {"mode": mode}


def retry(call):
    while True:
        r = call()
        if r.status_code != 429:
            return r
        time.sleep(float(r.headers.get("Retry-After") or r.headers.get("x-sib-ratelimit-reset") or "1"))


def read_people():
    """The App API people, like the provider: search (1,000 per page), then attributes per 100 ids."""
    app, bearer = info["app_url"], {"Authorization": "Bearer " + info["app_api_key"]}
    http, ids, start, reads = requests.Session(), [], None, 0
    flt = {"filter": {"and": [{"attribute": {"field": "cio_id", "operator": "exists"}}]}}
    while True:
        params = {"limit": 1000, **({"start": start} if start else {})}
        r = retry(lambda: http.post(app + "/v1/customers", params=params, headers=bearer, timeout=60, json=flt))
        reads += 1
        body = r.json()
        ids += [i["cio_id"] for i in body.get("identifiers") or []]
        start = body.get("next")
        if not start:
            break
    people = []
    for i in range(0, len(ids), 100):
        r = retry(lambda: http.post(app + "/v1/customers/attributes", params={"id_type": "cio_id"}, headers=bearer,
                                    json={"ids": ids[i:i + 100]}, timeout=60))
        reads += 1
        people += r.json().get("customers") or []
    return people, reads


def count(statuses, key):
    statuses[key] = statuses.get(key, 0) + 1


if mode in ("brevo", "brevo_import"):
    from brevo import Brevo
    from brevo.core.api_error import ApiError
    out["sdk"] = "brevo-python " + __import__("importlib.metadata").metadata.version("brevo-python")
    client = Brevo(api_key=info["brevo_api_key"], base_url=info["brevo_url"], timeout=60)
    t0 = time.monotonic()
    people, reads = read_people()
    ok = failed = calls = polls = 0
    statuses = {}
    if mode == "brevo":
        for p in people:
            attrs = p.get("attributes") or {}
            email, ext = attrs.get("email"), p.get("id") or attrs.get("id")
            fields = {"attributes": {"FIRSTNAME": attrs.get("first_name") or ""}, "list_ids": [12],
                      "update_enabled": True}
            if email:
                fields["email"] = email
            if ext:
                fields["ext_id"] = ext
            calls += 1
            try:
                client.contacts.create_contact(**fields)
                ok += 1
            except ApiError as exc:
                failed += 1
                count(statuses, str(exc.status_code))
            except Exception as exc:
                failed += 1
                count(statuses, type(exc).__name__)
    else:
        def batches():
            batch, size = [], 2
            for p in people:
                attrs = p.get("attributes") or {}
                item = {"attributes": {"FIRSTNAME": attrs.get("first_name") or ""}}
                if attrs.get("email"):
                    item["email"] = attrs["email"]
                if p.get("id") or attrs.get("id"):
                    item["attributes"]["EXT_ID"] = p.get("id") or attrs.get("id")
                grow = len(json.dumps(item)) + 1
                if batch and size + grow > body_bytes:
                    yield batch
                    batch, size = [], 2
                batch.append(item)
                size += grow
            if batch:
                yield batch

        for batch in batches():
            calls += 1
            try:
                pid = client.contacts.import_contacts(json_body=batch, list_ids=[12],
                                                      update_existing_contacts=True).process_id
            except Exception as exc:
                failed += len(batch)
                count(statuses, str(getattr(exc, "status_code", None) or type(exc).__name__))
                continue
            while True:  # one import at a time: follow this one to its end before the next
                time.sleep(poll_s)
                polls += 1
                try:
                    status = str(client.process.get_process(pid).status)
                except ApiError as exc:  # the 100/h budget of "other endpoints": wait for its window
                    count(statuses, f"get_process {exc.status_code}")
                    time.sleep(float((exc.headers or {}).get("x-sib-ratelimit-reset") or 60))
                    continue
                if status in ("completed", "failed"):
                    break
            if status == "completed":
                ok += len(batch)
            else:
                failed += len(batch)
                count(statuses, "import " + status)
    out.update(records=len(people), ok=ok, failed=failed, failures=statuses, write_calls=calls, read_calls=reads,
               process_polls=polls, wall_s=time.monotonic() - t0)
elif mode == "customerio":
    from customerio import CustomerIO, CustomerIOException
    out["sdk"] = "customerio " + __import__("importlib.metadata").metadata.version("customerio")
    cio = CustomerIO(info["site_id"], info["track_api_key"], host="127.0.0.1", retries=3)
    assert cio.base_url.startswith("https://"), cio.base_url  # the client builds https URLs from host (ref 9.1)
    cio.base_url = info["track_url"] + "/api/v1"  # the documented way to point it at a plain-http emulator
    t0 = time.monotonic()
    brevo, key = info["brevo_url"], {"api-key": info["brevo_api_key"]}
    http, contacts, offset, reads = requests.Session(), [], 0, 0
    while len(contacts) < n:
        r = retry(lambda: http.get(brevo + "/contacts", params={"limit": 1000, "offset": offset}, headers=key,
                                   timeout=60))
        reads += 1
        page = r.json().get("contacts") or []
        contacts += page
        offset += len(page)
        if len(page) < 1000:
            break
    ok = failed = calls = 0
    statuses = {}
    for c in contacts:
        attrs = c.get("attributes") or {}
        ident = attrs.get("EXT_ID") or c.get("email")
        if not ident:
            continue
        calls += 1
        try:
            cio.identify(id=ident, email=c.get("email"), first_name=attrs.get("FIRSTNAME"))
            ok += 1
        except CustomerIOException as exc:
            failed += 1
            count(statuses, str(exc)[:3])
    out.update(records=len(contacts), ok=ok, failed=failed, failures=statuses, write_calls=calls, read_calls=reads,
               wall_s=time.monotonic() - t0)
import resource
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("SDK " + json.dumps(out), flush=True)
'''


def ensure_sdk_venv(out_dir: Path) -> tuple[Path | None, str]:
    """Create ``out_dir/sdk-venv`` with the official SDKs; return (python, note)."""
    vdir = out_dir / "sdk-venv"
    py = vdir / "bin" / "python"
    if not py.exists():
        venv.create(vdir, with_pip=True)
    probe = subprocess.run([str(py), "-c", "import customerio, brevo"], capture_output=True, text=True)
    if probe.returncode != 0:
        inst = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "customerio", "brevo-python"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if inst.returncode != 0:
            return None, "pip install customerio brevo-python failed: " + inst.stderr.strip()[-400:]
    vers = subprocess.run([str(py), "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
    found = {p["name"].lower(): p["version"] for p in json.loads(vers.stdout or "[]")}
    return py, f"customerio {found.get('customerio', '?')}, brevo-python {found.get('brevo-python', '?')}"


def start_sandbox(workdir: Path, people: int = 0) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """A sandbox process on 127.0.0.1 (ephemeral port) seeded with ``people``; its info JSON."""
    info_file = workdir / "sandbox.json"
    argv = [sys.executable, "-m", "airflow_provider_customerio.sandbox", "--host", "127.0.0.1", "--port", "0"]
    argv += ["--seed-people", str(people), "--info-file", str(info_file)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(workdir / "sandbox.log", "wb"), cwd=ROOT)
    deadline = time.monotonic() + 3600
    while not info_file.exists() or not info_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox did not start; see {workdir / 'sandbox.log'}")
        time.sleep(0.2)
    return proc, json.loads(info_file.read_text())


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def sdk_calls(out: dict[str, Any]) -> dict[str, Any]:
    """Calls per 1,000 of an SDK baseline. When the sandbox's request log was full (it keeps the last
    :data:`REQUEST_LOG_MAX`), the larger of the sandbox's counts and the baseline's own count is used."""
    own = int(out.get("write_calls") or 0) + int(out.get("read_calls") or 0) + int(out.get("process_polls") or 0)
    if out.get("calls", 0) >= REQUEST_LOG_MAX and own > out["calls"]:
        out["calls"] = own
        out["calls_note"] = "counted by the baseline: the sandbox's request log keeps the last 50,000"
    out["calls_per_1000"] = 1000.0 * out.get("calls", 0) / max(1, out.get("records") or 0)
    return out


def _settings(control: str, processing: dict[str, float]) -> None:
    """The same Brevo import and Customer.io export processing as the provider's runs (one import at a time)."""
    import requests

    requests.post(
        f"{control}/brevo/processes/settings",
        json={"rate_per_s": processing["rate_per_s"] or None, "queue_s": processing["queue_s"], "serial": True},
        timeout=30,
    ).raise_for_status()
    export = {"export_rate_per_s": processing["export_rate_per_s"] or None}
    export["export_queue_s"] = processing["export_queue_s"]
    requests.put(f"{control}/customerio/settings", json=export, timeout=30).raise_for_status()


def run_baseline(sdk_py: Path, mode: str, n: int, raw_dir: Path, processing: dict[str, float]) -> dict[str, Any]:
    """One SDK baseline in its own sandbox, seeded exactly like the provider's benchmark of the same size."""
    import requests

    workdir = Path(tempfile.mkdtemp(prefix=f"bench-sdk-{mode}-"))
    script = workdir / "sdk_baseline.py"
    script.write_text(SDK_SCRIPT)
    proc, info = start_sandbox(workdir, people=0 if mode == "customerio" else n)
    try:
        control = info["control_url"]
        if mode == "customerio":  # reverse_sync.py seeds Brevo with seed 1 and n contacts
            requests.post(f"{control}/brevo/seed", json={"seed": 1, "contacts": n}, timeout=3600).raise_for_status()
        _settings(control, processing)
        vendor_bounds.reset_buckets(control)
        requests.delete(f"{control}/requests", timeout=60)
        argv = [str(sdk_py), str(script), str(workdir / "sandbox.json"), mode, str(n), str(POLL_S)]
        res = subprocess.run([*argv, str(IMPORT_BODY_BYTES)], capture_output=True, text=True, timeout=12 * 3600)
        (raw_dir / f"sdk_{mode}_{n}.txt").write_text(res.stdout + "\n--- stderr ---\n" + res.stderr)
        line = next((x for x in res.stdout.splitlines() if x.startswith("SDK ")), None)
        if line is None:
            return {"error": (res.stderr.strip().splitlines() or ["no output"])[-1][:300]}
        out = json.loads(line[4:])
        log = requests.get(f"{control}/requests", timeout=120).json()["requests"]
        counts = requests.get(f"{control}/requests/counts", timeout=60)
        answered = counts.json() if counts.status_code == 200 else {}
        out["calls"] = max(len(log), int(answered.get("total") or 0))
        out["http_429"] = int((answered.get("by_status") or {}).get("429", 0)) if answered else None
        if out["http_429"] is None:
            out["http_429"] = sum(1 for r in log if r.get("status") == 429)
        return sdk_calls(out)
    finally:
        stop(proc)


def bound(mode: str, n: int, limits: dict[str, float], processing: dict[str, float]) -> dict[str, Any]:
    """The vendor lower bound of a baseline of ``n`` people: :func:`vendor_bounds.sdk_bound` for the per-record
    ones; for ``brevo_import``, its reads, then its imports one after the other (the baseline reads everything
    first, then imports in bodies of :data:`IMPORT_BODY_BYTES`, about 40,000 people each)."""
    if mode != "brevo_import":
        return vendor_bounds.sdk_bound(mode, n, limits)
    imports = max(1, math.ceil(n / 40_000))
    counts = {"app": math.ceil(n / 1000) + math.ceil(n / 100), "brevo_contacts": imports}
    b = vendor_bounds.lower_bound(counts, limits, other_needed=imports)
    rate, queue = float(processing.get("rate_per_s") or 0), float(processing.get("queue_s") or 0)
    if rate:
        crit = {"before_s": b["calls_s"], "total_s": b["calls_s"] + imports * queue + n / rate, "rate_per_s": rate}
        crit.update(imports=imports, queue_s=queue, serial=1.0, rows_total=float(n), index=float(imports))
        b = vendor_bounds.lower_bound(counts, limits, other_needed=imports, processing=crit)
    return {**b, "counts": counts, "line": vendor_bounds.describe(b, counts, limits)}
