"""Schemathesis hooks for Canopy's live-server test (tests/it/schemathesis.rs).

Every request gets the credentials its operation declares: the citizen
session or the operator token as `Authorization: Bearer`, and partner
requests are signed with the partner scheme (crates/canopy-core/src/signature.rs):
HMAC-SHA256 under the partner's secret of
"<timestamp>.<METHOD>.<path?query>.<hex SHA-256 of the body>". The body is
serialised here, once, so that the bytes signed are the bytes sent.

The test passes the credentials in CANOPY_ST_SESSION, CANOPY_ST_ADMIN,
CANOPY_ST_PARTNER_ID and CANOPY_ST_PARTNER_SECRET; CANOPY_ST_BASE is the
server's address, for `DELETE /v1/me`, which gets a citizen of its own
(deleting the shared citizen would end the session every other call uses).
"""

import hashlib
import hmac
import json
import os
import secrets
import time
import urllib.request

import schemathesis


def _schemes(case):
    security = case.operation.definition.raw.get("security") or []
    return {name for requirement in security for name in requirement}


def _post_json(path, body):
    request = urllib.request.Request(
        os.environ["CANOPY_ST_BASE"] + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _throwaway_session():
    """A new citizen's session token, for a call that deletes its account."""
    username = "st-" + secrets.token_hex(8)
    password = secrets.token_hex(16)
    _post_json("/v1/users", {"username": username, "password": password, "display_name": username, "region": "CN-BJ"})
    return _post_json("/v1/sessions", {"username": username, "password": password})["token"]


@schemathesis.hook
def before_call(context, case, kwargs):
    schemes = _schemes(case)
    if case.headers is None:
        case.headers = {}
    headers = case.headers
    if "session" in schemes and case.method.upper() == "DELETE" and case.path == "/v1/me":
        headers["Authorization"] = "Bearer " + _throwaway_session()
    elif "session" in schemes:
        headers["Authorization"] = "Bearer " + os.environ["CANOPY_ST_SESSION"]
    elif "admin" in schemes:
        headers["Authorization"] = "Bearer " + os.environ["CANOPY_ST_ADMIN"]
    if "partner_signature" in schemes:
        if case.body is None or type(case.body).__name__ == "NotSet":
            body = b""
        elif isinstance(case.body, (bytes, bytearray)):
            body = bytes(case.body)
        else:
            body = json.dumps(case.body).encode()
        kwargs["data"] = body
        headers["Content-Type"] = "application/json"
        timestamp = str(int(time.time()))
        path = case.formatted_path
        signed = f"{timestamp}.{case.method.upper()}.{path}.{hashlib.sha256(body).hexdigest()}"
        secret = os.environ["CANOPY_ST_PARTNER_SECRET"].encode()
        headers["Canopy-Partner"] = os.environ["CANOPY_ST_PARTNER_ID"]
        headers["Canopy-Timestamp"] = timestamp
        headers["Canopy-Signature"] = "v1=" + hmac.new(secret, signed.encode(), hashlib.sha256).hexdigest()
