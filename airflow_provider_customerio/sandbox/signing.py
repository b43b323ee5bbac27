"""Customer.io reporting-webhook signing, as the sandbox's Customer.io sends it: its own code, not the provider's.

Customer.io's document (https://docs.customer.io/api/webhooks/, "Securely verifying requests"): every webhook
carries ``X-CIO-Timestamp`` (unix seconds) and ``X-CIO-Signature``, the HMAC-SHA256, keyed with the webhook
signing key, of the string ``v0:<timestamp>:<body>`` ("the version number is always v0"). The document does not
name the digest's encoding; Customer.io's own verifier (customerio-node ``verifyRequestSignature``,
https://github.com/customerio/customerio-node) compares the lowercase hex digest, so that is what is sent.

The sandbox never imports the provider (a signing bug must not be made on both sides at once): the provider's
verifier (``webhooks/signature.py``) is tested against these headers as an independent implementation.
"""

from __future__ import annotations

import hashlib
import hmac

CIO_TIMESTAMP_HEADER = "X-CIO-Timestamp"
CIO_SIGNATURE_HEADER = "X-CIO-Signature"


def cio_signature(signing_key: str, timestamp: int, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``v0:<timestamp>:<raw body>`` keyed with ``signing_key`` (UTF-8)."""
    message = b"".join((b"v0:", str(int(timestamp)).encode("ascii"), b":", body))
    return hmac.new(signing_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def cio_signed_headers(signing_key: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one signed reporting webhook (JSON body)."""
    return {
        CIO_TIMESTAMP_HEADER: str(int(timestamp)),
        CIO_SIGNATURE_HEADER: cio_signature(signing_key, timestamp, body),
        "Content-Type": "application/json",
    }


__all__ = ["CIO_SIGNATURE_HEADER", "CIO_TIMESTAMP_HEADER", "cio_signature", "cio_signed_headers"]
