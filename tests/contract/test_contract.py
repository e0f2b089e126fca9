"""The OpenAPI document is the edge's exact contract.

Schemathesis draws requests from /openapi.json, both ones the document
calls valid and ones it calls invalid, and sends them to a real edge
(started by the integration suite, which passes its address and a partner
key in the environment). Partner routes are signed exactly as a client
generated from the document would sign them. The checks:

- valid data is never refused as malformed (400 invalid_request);
- invalid data is never accepted;
- nothing is a 500;
- every answer, success or error, has the status, headers and body the
  document describes;
- a method the document does not declare is 405 with an Allow header.
"""

import hashlib
import hmac
import os
import re
import secrets
import time

import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import ignored_auth

EDGE = os.environ["PE_EDGE_URL"]
KEY_ID = os.environ["PE_KEY_ID"]
SECRET = os.environ["PE_KEY_SECRET"]
ADMIN_KEY = os.environ["PE_ADMIN_KEY"]
EXAMPLES = int(os.environ.get("PE_CONTRACT_EXAMPLES", "30"))

CONFIG = schemathesis.Config.from_path(os.path.join(os.path.dirname(__file__), "schemathesis.toml"))
schema = schemathesis.openapi.from_url(f"{EDGE}/openapi.json", config=CONFIG)
schema.config.update(base_url=EDGE)
schema.config.generation.update(max_examples=EXAMPLES)

SIGNED = ("X-Partner-Timestamp", "X-Partner-Nonce", "X-Partner-Signature")


def header_pattern(case, name):
    for parameter in case.operation.definition.raw.get("parameters", []):
        if parameter.get("in") == "header" and parameter["name"].lower() == name.lower():
            return parameter["schema"].get("pattern")
    return None


def left_out(case, name):
    """Whether this case tests what happens without the header `name`."""
    data = getattr(getattr(case.meta, "phase", None), "data", None)
    scenario = getattr(getattr(data, "scenario", None), "value", None)
    parameter = getattr(data, "parameter", None) or ""
    return scenario == "missing_parameter" and parameter.lower() == name.lower()


def well_formed(case, name):
    """Whether schemathesis drew a value for this header that the document allows."""
    value = (case.headers or {}).get(name)
    pattern = header_pattern(case, name)
    return isinstance(value, str) and (pattern is None or re.search(pattern, value) is not None)


class Signer(requests.auth.AuthBase):
    """Signs the request exactly as sent (method, path?query, body bytes),
    unless the case deliberately carries a malformed signature header: that
    one goes out as drawn, and the edge must refuse it."""

    def __init__(self, case):
        self.case = case
        security = case.operation.definition.raw.get("security", [])
        self.admin = any("adminKey" in requirement for requirement in security)
        self.partner = any("partnerSignature" in requirement for requirement in security)

    def drawn(self, name):
        """Whether schemathesis put this header in the case (it leaves one out to test that it is required)."""
        return any(key.lower() == name.lower() for key in (self.case.headers or {})) and not left_out(self.case, name)

    def __call__(self, request):
        if self.admin and self.drawn("X-Admin-Key"):
            request.headers["X-Admin-Key"] = ADMIN_KEY
        if not self.partner or not self.drawn("X-Partner-Key"):
            return request
        request.headers["X-Partner-Key"] = KEY_ID
        if "Idempotency-Key" in request.headers and well_formed(self.case, "Idempotency-Key"):
            # Unique per case, so cases do not replay one another's answers.
            request.headers["Idempotency-Key"] = "contract-" + secrets.token_hex(12)
        if not all(well_formed(self.case, name) for name in SIGNED):
            return request
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        canonical = "\n".join(
            ["v1", timestamp, request.method, request.path_url, nonce, hashlib.sha256(body).hexdigest()]
        )
        signature = hmac.new(SECRET.encode(), canonical.encode(), hashlib.sha256).hexdigest()
        request.headers["X-Partner-Timestamp"] = timestamp
        request.headers["X-Partner-Nonce"] = nonce
        request.headers["X-Partner-Signature"] = f"v1={signature}"
        return request


SESSION = requests.Session()

# wrangler dev's own proxy, not the edge, answers this when its pooled
# connection to the worker drops under a request (workers-sdk#14641: it
# happens with no restart at all). It is plain text; every answer of the
# edge is JSON in the error taxonomy, so the two cannot be confused.
DEV_PROXY_DROP = b"Your worker restarted mid-request."


def dropped_by_dev_proxy(response):
    return response.status_code == 503 and response.content.startswith(DEV_PROXY_DROP)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
def test_the_edge_keeps_its_contract(case):
    # Signed afresh on each send (new nonce and idempotency key), so a resend
    # after the dev proxy dropped the first one is a new request, never a replay.
    for attempt in range(3):
        SESSION.auth = Signer(case)
        try:
            response = case.call(session=SESSION)
        except requests.ConnectionError:
            # The dev proxy closed a pooled keep-alive connection as this
            # request went out on it; nothing came back, so send it again.
            if attempt == 2:
                raise
            continue
        if not dropped_by_dev_proxy(response):
            break
    # The signer supplies real credentials, so schemathesis's own probe with
    # drawn ones does not apply; the integration suite refuses bad
    # credentials route by route.
    case.validate_response(response, excluded_checks=[ignored_auth], transport_kwargs={"session": SESSION})
