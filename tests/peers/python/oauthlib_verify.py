"""Verify OAuth 1.0a requests signed by Keyward with Python's oauthlib (an independent peer).

Reads a JSON array of requests on stdin:
    [{"id": "...", "method": "GET", "uri": "https://...", "headers": {"Authorization": "..."},
      "body": "...", "client_secret": "...", "token_secret": "..." | null,
      "rsa_public_key": "-----BEGIN PUBLIC KEY-----..." | null}]
and writes a JSON array of verdicts on stdout:
    [{"id": "...", "valid": true|false, "log": {...oauthlib's validator_log...}}]

Each request goes through oauthlib's own server endpoint (ResourceEndpoint when it carries an
oauth_token, SignatureOnlyEndpoint otherwise), so oauthlib parses the header, query and body
itself and checks mandatory parameters, transport security (https), the nonce's default shape
(20-30 safe characters) and the signature. Only what needs a database is stubbed: every client
and token exists, and every timestamp/nonce pair is fresh.
"""

import json
import sys

from oauthlib.oauth1 import RequestValidator
from oauthlib.oauth1.rfc5849.endpoints import ResourceEndpoint, SignatureOnlyEndpoint


class Validator(RequestValidator):
    """Knows exactly one client and one token: the ones of the request being checked."""

    def __init__(self, case):
        super().__init__()
        self.case = case

    # Keyward's test identifiers are not oauthlib's default 20-30 character shape.
    def check_client_key(self, client_key):
        return True

    def check_access_token(self, token):
        return True

    dummy_client = "dummy-client"
    dummy_access_token = "dummy-token"

    def validate_client_key(self, client_key, request):
        return True

    def validate_access_token(self, client_key, token, request):
        return True

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce, request,
                                     request_token=None, access_token=None):
        return True

    def validate_realms(self, client_key, token, request, uri=None, realms=None):
        return True

    def get_client_secret(self, client_key, request):
        return self.case["client_secret"]

    def get_access_token_secret(self, client_key, token, request):
        return self.case.get("token_secret") or ""

    def get_rsa_key(self, client_key, request):
        return self.case["rsa_public_key"]


def verify(case):
    validator = Validator(case)
    headers = case.get("headers") or {}
    body = case.get("body") or None
    has_token = "oauth_token" in json.dumps([case["uri"], headers, body])
    if has_token:
        endpoint = ResourceEndpoint(validator)
        valid, request = endpoint.validate_protected_resource_request(
            case["uri"], http_method=case["method"], body=body, headers=headers)
    else:
        endpoint = SignatureOnlyEndpoint(validator)
        valid, request = endpoint.validate_request(
            case["uri"], http_method=case["method"], body=body, headers=headers)
    log = dict(getattr(request, "validator_log", {}) or {}) if request is not None else {}
    return {"id": case["id"], "valid": bool(valid), "log": {k: bool(v) for k, v in log.items()}}


def main():
    cases = json.load(sys.stdin)
    json.dump([verify(case) for case in cases], sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
