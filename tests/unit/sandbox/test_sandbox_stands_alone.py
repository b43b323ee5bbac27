"""The sandbox stands alone: no module under ``sandbox/`` imports the provider, and its Customer.io webhook
signatures are made by its own code, which the provider's verifier (an independent implementation) accepts."""

from __future__ import annotations

import ast
import hashlib
import hmac
from pathlib import Path

import pytest

from airflow_provider_customerio.sandbox.signing import cio_signature, cio_signed_headers
from airflow_provider_customerio.webhooks.signature import SignatureError, verify_signature

PACKAGE = Path(__file__).resolve().parents[3] / "airflow_provider_customerio"
SANDBOX = PACKAGE / "sandbox"


def _provider_imports(source: str, where: str) -> list[str]:
    """Imports in ``source`` (the text of the module at ``where``, relative to the repository) that reach the
    provider outside ``sandbox/``: absolute ones, and relative ones climbing out of it."""
    package = where.removesuffix(".py").split("/")[:-1]  # a module's (or __init__'s) package
    bad = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = package[: max(0, len(package) - (node.level - 1))]
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            # ``from .. import webhooks`` names modules in its aliases
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            parts = name.split(".")
            if parts[0] == "airflow_provider_customerio" and (len(parts) < 2 or parts[1] != "sandbox"):
                bad.append(f"{where}:{node.lineno} imports {name}")
    return bad


def test_no_sandbox_module_imports_the_provider() -> None:
    modules = sorted(SANDBOX.rglob("*.py"))
    assert len(modules) > 20  # the walk found the sandbox
    bad = [
        b
        for path in modules
        for b in _provider_imports(path.read_text(encoding="utf-8"), path.relative_to(PACKAGE.parent).as_posix())
    ]
    assert not bad, "the sandbox must not import the provider (give it its own code): " + "; ".join(bad)


DEEP = "airflow_provider_customerio/sandbox/brevo/probe.py"
SHALLOW = "airflow_provider_customerio/sandbox/probe.py"


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("from airflow_provider_customerio.webhooks.signature import compute_signature", DEEP),
        ("import airflow_provider_customerio.hooks.brevo", DEEP),
        ("from airflow_provider_customerio import exceptions", DEEP),
        ("from ...webhooks import signature", DEEP),
        ("from ... import sync", DEEP),
        ("from ..webhooks.signature import compute_signature", SHALLOW),
        ("def f():\n    from .. import store", SHALLOW),  # a function-level import counts too
    ],
)
def test_the_import_check_catches_each_way_out(source: str, where: str) -> None:
    assert _provider_imports(source, where)


def test_imports_inside_the_sandbox_are_allowed() -> None:
    source = "from ..clock import SandboxClock\nfrom . import models\nimport airflow_provider_customerio.sandbox.core"
    assert _provider_imports(source, DEEP) == []


# The documented recipe (https://docs.customer.io/api/webhooks/, "Securely verifying requests"), written out with the
# standard library here, on a second body.
KEY = "whsec-test-signing-key"
STAMP = 1_700_000_000
BODY = b'{"event_id":"01HG3J4K5M6N7P8Q9R0S1T2V3W","object_type":"email","metric":"opened","timestamp":1700000000}'
VECTOR = hmac.new(KEY.encode(), b"v0:1700000000:" + BODY, hashlib.sha256).hexdigest()


# Customer.io's own golden vector for its verifier (customerio-node, test/webhooks.ts, "matches the documented
# v0:timestamp:body HMAC-SHA256 hex scheme", https://github.com/customerio/customerio-node).
CIO_KEY = "signing-secret"
CIO_STAMP = 1614265384
CIO_BODY = b'{"event_id":"abc","object_type":"email","metric":"delivered"}'
CIO_SIGNATURE = "6f55cf23f9b73a2ff07733fe04421f64ce9ec5e409696edda6b2a80311944230"


def test_sandbox_and_provider_agree_with_customerios_golden_vector() -> None:
    assert cio_signature(CIO_KEY, CIO_STAMP, CIO_BODY) == CIO_SIGNATURE
    headers = cio_signed_headers(CIO_KEY, CIO_STAMP, CIO_BODY)
    stamp = verify_signature(
        CIO_KEY, headers["X-CIO-Timestamp"], headers["X-CIO-Signature"], CIO_BODY, clock=lambda: CIO_STAMP
    )
    assert stamp == CIO_STAMP
    verify_signature(CIO_KEY, str(CIO_STAMP), CIO_SIGNATURE, CIO_BODY, clock=lambda: CIO_STAMP)  # the vector itself


def test_sandbox_signature_matches_the_documented_recipe() -> None:
    assert cio_signature(KEY, STAMP, BODY) == VECTOR
    assert len(VECTOR) == 64 and VECTOR == VECTOR.lower()


def test_provider_verifier_accepts_the_sandbox_signature_and_refuses_a_changed_body() -> None:
    headers = cio_signed_headers(KEY, STAMP, BODY)
    assert headers["X-CIO-Signature"] == VECTOR
    got = verify_signature(KEY, headers["X-CIO-Timestamp"], headers["X-CIO-Signature"], BODY, clock=lambda: STAMP)
    assert got == STAMP
    with pytest.raises(SignatureError) as err:
        verify_signature(KEY, headers["X-CIO-Timestamp"], headers["X-CIO-Signature"], BODY + b" ", clock=lambda: STAMP)
    assert err.value.reason == "bad_signature"


#: Run in a fresh interpreter: every sandbox module imported, the app built and asked for a person, a contact and a
#: signed webhook, while any import of the provider outside ``sandbox/`` raises (catches ``importlib`` and other
#: imports the syntax check above cannot see).
_RUNTIME_CHECK = """
import importlib, importlib.abc, pkgutil, sys

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        parts = name.split(".")
        if parts[0] == "airflow_provider_customerio" and len(parts) > 1 and parts[1] != "sandbox":
            raise ImportError("the sandbox imported the provider: " + name)
        return None

sys.meta_path.insert(0, Blocker())
import airflow_provider_customerio.sandbox as sandbox
for info in pkgutil.walk_packages(sandbox.__path__, "airflow_provider_customerio.sandbox."):
    importlib.import_module(info.name)
from starlette.testclient import TestClient
from airflow_provider_customerio.sandbox.context import SandboxContext
from airflow_provider_customerio.sandbox.server import create_app
from airflow_provider_customerio.sandbox.signing import cio_signed_headers
client = TestClient(create_app(SandboxContext(seed_people=3, rate_limits=False)))
assert client.get("/_sandbox/info").status_code == 200
assert cio_signed_headers("key", 1, b"{}")
print("ok", len([m for m in sys.modules if m.startswith("airflow_provider_customerio")]))
"""


def test_the_sandbox_runs_with_the_provider_unimportable() -> None:
    import subprocess
    import sys

    root = PACKAGE.parent
    done = subprocess.run(
        [sys.executable, "-c", _RUNTIME_CHECK], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr[-2000:]
