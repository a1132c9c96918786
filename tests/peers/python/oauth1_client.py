"""Python OAuth 1.0a clients against Keyward's provider (issue 3 interop).

Runs the three-legged flow of RFC 5849 §2 with a real Python client library, then calls a
protected resource and replays one signed request, which the provider must refuse:

  1. POST <base>/oauth/request_token        temporary credentials (§2.1)
  2. GET  <base>/oauth/authorize?oauth_token  the test server grants at once and redirects
                                              to the callback with oauth_verifier (§2.2)
  3. POST <base>/oauth/access_token          token credentials (§2.3)
  4. GET  <base>/api/me (POST with a form body for BODY placement), signed with them (§3)
  5. the same prepared request sent twice: the second must be 401 invalid_nonce (§3.3)

Usage:
  python oauth1_client.py --lib requests-oauthlib|authlib --method HMAC-SHA1|RSA-SHA1|PLAINTEXT
      --placement header|query|body --base http://127.0.0.1:PORT --client-key K
      --client-secret S [--rsa-key private.pem]

Prints one JSON line describing the run; exits non-zero with a message on any failure.
"""

import argparse
import json
import sys
from urllib.parse import parse_qs, urlsplit

import requests

CALLBACK = "https://client.example/callback?from=interop"


def fail(msg, resp=None):
    if resp is not None:
        msg = f"{msg}: HTTP {resp.status_code} {resp.text!r}"
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def make_session(args, token=None, token_secret=None, verifier=None):
    rsa_key = None
    if args.method.startswith("RSA"):
        with open(args.rsa_key, encoding="ascii") as f:
            rsa_key = f.read()
    if args.lib == "requests-oauthlib":
        from oauthlib.oauth1 import SIGNATURE_TYPE_AUTH_HEADER, SIGNATURE_TYPE_BODY, SIGNATURE_TYPE_QUERY
        from requests_oauthlib import OAuth1Session

        placement = {
            "header": SIGNATURE_TYPE_AUTH_HEADER,
            "query": SIGNATURE_TYPE_QUERY,
            "body": SIGNATURE_TYPE_BODY,
        }[args.placement]
        return OAuth1Session(
            args.client_key,
            client_secret=None if rsa_key else args.client_secret,
            resource_owner_key=token,
            resource_owner_secret=token_secret,
            callback_uri=CALLBACK if token is None else None,
            verifier=verifier,
            signature_method=args.method,
            signature_type=placement,
            rsa_key=rsa_key,
        )
    from authlib.integrations.requests_client import OAuth1Session

    placement = {"header": "HEADER", "query": "QUERY", "body": "BODY"}[args.placement]
    return OAuth1Session(
        args.client_key,
        client_secret=None if rsa_key else args.client_secret,
        token=token,
        token_secret=token_secret,
        redirect_uri=CALLBACK if token is None else None,
        verifier=verifier,
        signature_method=args.method,
        signature_type=placement,
        rsa_key=rsa_key,
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lib", choices=["requests-oauthlib", "authlib"], required=True)
    p.add_argument("--method", choices=["HMAC-SHA1", "RSA-SHA1", "PLAINTEXT"], required=True)
    p.add_argument("--placement", choices=["header", "query", "body"], required=True)
    p.add_argument("--base", required=True)
    p.add_argument("--client-key", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--rsa-key")
    args = p.parse_args()
    base = args.base.rstrip("/")

    # 1. Temporary credentials (§2.1).
    session = make_session(args)
    try:
        temp = session.fetch_request_token(f"{base}/oauth/request_token")
    except Exception as e:  # the libraries raise their own types on a non-200
        fail(f"request_token: {e!r}")
    temp_token = temp["oauth_token"]
    if temp.get("oauth_callback_confirmed") != "true":
        fail(f"oauth_callback_confirmed missing: {temp!r}")

    # 2. Authorization (§2.2): the test server grants and redirects to the callback.
    r = requests.get(f"{base}/oauth/authorize", params={"oauth_token": temp_token}, allow_redirects=False)
    if r.status_code != 302:
        fail("authorize", r)
    location = r.headers["Location"]
    if not location.startswith("https://client.example/callback?from=interop&"):
        fail(f"unexpected redirect {location!r}")
    query = parse_qs(urlsplit(location).query)
    if query.get("oauth_token") != [temp_token]:
        fail(f"redirect does not carry the temporary token: {location!r}")
    verifier = query["oauth_verifier"][0]

    # 3. Token credentials (§2.3).
    session = make_session(args, token=temp_token, token_secret=temp["oauth_token_secret"], verifier=verifier)
    try:
        tok = session.fetch_access_token(f"{base}/oauth/access_token", verifier=verifier)
    except TypeError:  # requests-oauthlib takes the verifier from the session
        tok = session.fetch_access_token(f"{base}/oauth/access_token")
    except Exception as e:
        fail(f"access_token: {e!r}")
    token, token_secret = tok["oauth_token"], tok["oauth_token_secret"]

    # 4. A protected resource (§3).
    session = make_session(args, token=token, token_secret=token_secret)
    if args.placement == "body":
        req = requests.Request("POST", f"{base}/api/me", data={"q": "interop test", "n": "1"})
    else:
        req = requests.Request("GET", f"{base}/api/me", params={"q": "interop test", "n": "1"})
    prepared = session.prepare_request(req)
    r = session.send(prepared)
    if r.status_code != 200:
        fail("protected resource", r)
    me = r.json()
    if me.get("user") != "alice" or me.get("client") != args.client_key:
        fail(f"protected resource answered {me!r}")

    # 5. The same signed request again: a replay (§3.3).
    r = session.send(prepared)
    if r.status_code != 401 or parse_qs(r.text).get("error") != ["invalid_nonce"]:
        fail("replayed request was not refused with invalid_nonce", r)

    print(json.dumps({"ok": True, "lib": args.lib, "method": args.method, "placement": args.placement, "me": me}))


if __name__ == "__main__":
    main()
