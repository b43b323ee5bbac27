"""The base URL rule, path escaping, auth objects and body encoding (hooks/transport.py)."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_customerio.exceptions import ConfigError, InsecureBaseUrlError
from airflow_provider_customerio.hooks.transport import ApiKeyAuth, BearerAuth, check_base_url, encode_body, quote_path


@pytest.mark.parametrize(
    "url",
    ["http://api.example.com", "http://10.0.0.5:8080/v3", "http://sandbox.internal/track"],
)
def test_plain_http_refused_for_non_loopback(url):
    with pytest.raises(InsecureBaseUrlError, match="plain HTTP"):
        check_base_url(url, conn_id="c")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/track", "http://localhost:1/x", "http://[::1]:9/", "https://a.io"]
)
def test_https_or_loopback_accepted(url):
    assert check_base_url(url + "/", conn_id="c") == url.rstrip("/")


def test_quote_path_escapes_the_whole_segment():
    assert quote_path("a/b+c@d e") == "a%2Fb%2Bc%40d%20e"
    assert quote_path(42) == "42"


@pytest.mark.parametrize("url", ["api.example.com", "ftp://api.example.com", "https://"])
def test_base_url_that_is_not_an_absolute_http_url_is_a_config_error(url):
    with pytest.raises(ConfigError, match="field 'host' must be an absolute URL"):
        check_base_url(url, conn_id="c")


def test_auth_objects_send_the_secret_in_their_header_and_never_show_it():
    request = requests.Request("GET", "https://x.io/").prepare()
    assert ApiKeyAuth("k-123")(request).headers["api-key"] == "k-123"
    assert BearerAuth("t-456")(request).headers["Authorization"] == "Bearer t-456"
    assert "k-123" not in repr(ApiKeyAuth("k-123")) and "t-456" not in repr(BearerAuth("t-456"))


def test_json_body_is_compact_utf8():
    body, headers = encode_body({"name": "Zoë", "n": [1, 2]}, None, {"X-A": "1"})
    assert body == '{"name":"Zoë","n":[1,2]}'.encode()
    assert headers == {"X-A": "1", "Content-Type": "application/json"}
    assert encode_body(None, "a=b", None) == (b"a=b", {})
