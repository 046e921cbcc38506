"""schemathesis hooks for scripts/fuzz (loaded through SCHEMATHESIS_HOOKS).

They change what is sent, never what is checked, and only within what the document allows, so a
valid request stays valid and an invalid one stays invalid (schemathesis revalidates a case after
a hook edits it):

- Idempotency-Key: every *valid* generated key is made unique per request. The SPEC answers a
  replayed key with another body 422, which is right; but hypothesis draws the same short keys
  ("0", "00", ...) for unrelated bodies, and positive_data_acceptance would report each replay.
  Keys that are invalid (empty, too long, not visible ASCII) are left as they are, so the
  server's refusal of them is still tested.
- lease_seconds of a kitchen claim or renew: a valid value above LEASE_CAP is lowered to it. An
  order claimed by the fuzzer is never marked ready by it; with a lease of up to an hour, an
  event stream on that ticket (one that ends only at a final state) would outlive every request
  timeout. With the cap the lease runs out within seconds, the in-process cooks cook the order,
  and it expires a second after ready: every stream ends by itself. Out-of-range values are left
  alone.
"""
import itertools
import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"[!-~]{1,255}")
LEASE_CAP = 2
LEASE_PATHS = ("/v1/kitchen/claim", "/v1/kitchen/orders/{id}/renew")

_run = uuid.uuid4().hex[:8]
_counter = itertools.count()


def _unique_key(key):
    suffix = f".{_run}.{next(_counter)}"
    return key[:255 - len(suffix)] + suffix


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers
    if headers:
        key = headers.get("Idempotency-Key")
        if isinstance(key, str) and VALID_KEY.fullmatch(key):
            headers["Idempotency-Key"] = _unique_key(key)
    if case.path in LEASE_PATHS and isinstance(case.body, dict):
        seconds = case.body.get("lease_seconds")
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and LEASE_CAP < seconds <= 3600:
            case.body["lease_seconds"] = LEASE_CAP
