"""Python OAuth 2 clients against an OAuth 2 authorization server (issue 15 interop).

Drives Authlib's `OAuth2Session` (authlib.integrations.requests_client) or
requests-oauthlib's `OAuth2Session` through, in this order (each step can be left out):

  code                authorization code + PKCE S256 (RFC 6749 §4.1, RFC 7636): the library
                      builds the authorization URL; the user's part is played by the harness
                      (--user stdio) or by a plain GET that is not followed (--user get, for a
                      server that approves at once, with --login-header for its session);
                      the redirect's code/state go back to the library, which fetches the
                      token. `iss` (RFC 9207) is checked here against the issuer.
  refresh             refresh_token grant (§6), reporting whether the refresh token rotated
  introspect          RFC 7662 on the access token, the rotated-out refresh token, and again
                      after revocation
  revoke              RFC 7009 on the refresh token (then its access token's introspection)
  client_credentials  §4.4, then the token's introspection
  device              RFC 8628: device authorization, one poll (authorization_pending), the
                      harness approves, then polling (honouring slow_down) until the token

Usage:
  python oauth2_client.py --lib authlib|requests-oauthlib --client-id ID
      [--client-secret S] [--auth-method client_secret_basic|client_secret_post|none]
      --issuer URL [--discovery oauth|oidc|none] [--token-endpoint URL ...]
      [--redirect-uri URI] [--scope "a b"] [--steps code,refresh,...]
      [--user stdio|get] [--login-header "Name: value" ...]

The endpoints come from the server's metadata: RFC 8414
(/.well-known/oauth-authorization-server) or, with --discovery oidc, OpenID Connect Discovery;
explicit --*-endpoint arguments override them (with --discovery none, they are all there is,
and --issuer is only what `iss` must be).

Output: one JSON object per line on stdout for each thing observed, `{"step": ..., ...}`.
Never a token's value. With --user stdio the harness answers two kinds of line, those with
an "await" member:
  {"step": "authorize", "url": U, "await": "callback"}   -> one line back: the redirect URL
  {"step": "device_pending", ..., "await": "approval"}   -> one line back (any) once approved
Exits non-zero, with a message on stderr, on any failure.
"""

import argparse
import json
import os
import secrets
import sys
import time
from urllib.parse import parse_qs, parse_qsl, urlsplit

# 127.0.0.1 over plain HTTP: oauthlib refuses it unless told; the scope of a token may
# differ from the one asked (it is reported, not raised).
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")

import requests  # noqa: E402

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
STEPS = ["code", "refresh", "introspect", "revoke", "client_credentials", "device"]


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def emit(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def ask_harness(step, wait, **fields):
    print(json.dumps({"step": step, **fields, "await": wait}), flush=True)
    line = sys.stdin.readline()
    check(line, f"{step}: the harness closed stdin instead of answering")
    return line.strip()


def http_error(what, resp):
    return Failure(f"{what}: HTTP {resp.status_code} {resp.text[:500]!r}")


def discover(args):
    """RFC 8414 §3 (path inserted after /.well-known/) or OpenID Connect Discovery §4."""
    issuer = args.issuer.rstrip("/")
    parts = urlsplit(issuer)
    if args.discovery == "oauth":
        url = f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{parts.path}"
    else:
        url = f"{issuer}/.well-known/openid-configuration"
    resp = requests.get(url, timeout=10)
    if resp.status_code != 200:
        raise http_error(f"metadata at {url}", resp)
    meta = resp.json()
    check(meta.get("issuer") == args.issuer, f"metadata issuer {meta.get('issuer')!r} != {args.issuer!r}")
    emit("metadata", url=url, issuer=meta["issuer"],
         iss_parameter_supported=meta.get("authorization_response_iss_parameter_supported", False),
         code_challenge_methods=meta.get("code_challenge_methods_supported"))
    return meta


class Client:
    """The chosen library behind the few operations the steps need."""

    def __init__(self, args, meta):
        self.args = args
        self.meta = meta
        self.lib = args.lib
        self.auth_method = args.auth_method
        secret = args.client_secret

        if self.lib == "authlib":
            from authlib.integrations.requests_client import OAuth2Session

            def session(**kw):
                return OAuth2Session(args.client_id, secret, token_endpoint_auth_method=self.auth_method,
                                     revocation_endpoint_auth_method=self.auth_method,
                                     scope=args.scope, redirect_uri=args.redirect_uri, **kw)
            self.new_session = session
        else:
            from requests_oauthlib import OAuth2Session

            def session(**kw):
                return OAuth2Session(args.client_id, scope=args.scope, redirect_uri=args.redirect_uri, **kw)
            self.new_session = session

    def endpoint(self, name):
        url = getattr(self.args, name) or self.meta.get(name)
        check(url, f"no {name}: give --{name.replace('_', '-')} or an issuer whose metadata has it")
        return url

    # requests-oauthlib leaves client authentication to `requests`: Basic (the default
    # when fetch_token gets no `auth`), or the client_id (and secret) in the body.
    def _ro_auth(self):
        if self.auth_method == "client_secret_basic":
            return {"auth": requests.auth.HTTPBasicAuth(self.args.client_id, self.args.client_secret)}
        kw = {"include_client_id": True}
        if self.auth_method == "client_secret_post":
            kw["client_secret"] = self.args.client_secret
        return kw

    def _ro_form_auth(self, data):
        """Client authentication on a plain form POST (introspection, revocation, device)."""
        if self.auth_method == "client_secret_basic":
            return data, requests.auth.HTTPBasicAuth(self.args.client_id, self.args.client_secret)
        data = {**data, "client_id": self.args.client_id}
        if self.auth_method == "client_secret_post":
            data["client_secret"] = self.args.client_secret
        return data, None

    def authorization_url(self):
        url = self.endpoint("authorization_endpoint")
        if self.lib == "authlib":
            self.session = self.new_session(code_challenge_method="S256")
            self.verifier = secrets.token_urlsafe(48)
            return self.session.create_authorization_url(url, code_verifier=self.verifier)
        self.session = self.new_session(pkce="S256")
        return self.session.authorization_url(url)

    def exchange(self, callback_url, state):
        token_url = self.endpoint("token_endpoint")
        if self.lib == "authlib":
            return self.session.fetch_token(token_url, authorization_response=callback_url, state=state,
                                            code_verifier=self.verifier)
        self.session._state = state  # the state it generated, checked against the callback's
        return self.session.fetch_token(token_url, authorization_response=callback_url, **self._ro_auth())

    def refresh(self, refresh_token):
        token_url = self.endpoint("token_endpoint")
        if self.lib == "authlib":
            return self.new_session().refresh_token(token_url, refresh_token=refresh_token)
        # refresh_token() sends `auth` as given and its other keyword arguments as form fields.
        if self.auth_method == "client_secret_basic":
            kw = {"auth": requests.auth.HTTPBasicAuth(self.args.client_id, self.args.client_secret)}
        else:
            kw = {"client_id": self.args.client_id}
            if self.auth_method == "client_secret_post":
                kw["client_secret"] = self.args.client_secret
        return self.new_session().refresh_token(token_url, refresh_token=refresh_token, **kw)

    def client_credentials(self):
        token_url = self.endpoint("token_endpoint")
        if self.lib == "authlib":
            return self.new_session().fetch_token(token_url, grant_type="client_credentials")
        from oauthlib.oauth2 import BackendApplicationClient
        from requests_oauthlib import OAuth2Session

        session = OAuth2Session(client=BackendApplicationClient(self.args.client_id, scope=self.args.scope))
        return session.fetch_token(token_url, **self._ro_auth())

    def revoke(self, token, hint):
        url = self.endpoint("revocation_endpoint")
        if self.lib == "authlib":
            return self.new_session().revoke_token(url, token=token, token_type_hint=hint)
        # oauthlib prepares the RFC 7009 body; requests sends it.
        from oauthlib.oauth2 import WebApplicationClient

        _, headers, body = WebApplicationClient(self.args.client_id).prepare_token_revocation_request(
            url, token, token_type_hint=hint)
        data, auth = self._ro_form_auth(dict(parse_qsl(body)))
        return requests.post(url, data=data, headers=headers, auth=auth, timeout=10)

    def introspect(self, token, hint):
        url = self.endpoint("introspection_endpoint")
        if self.lib == "authlib":
            resp = self.new_session().introspect_token(url, token=token, token_type_hint=hint)
        else:
            data, auth = self._ro_form_auth({"token": token, "token_type_hint": hint})
            resp = self.new_session().post(url, data=data, auth=auth, withhold_token=True, timeout=10)
        if resp.status_code != 200:
            raise http_error(f"introspection of the {hint}", resp)
        return resp.json()

    def device_authorization(self):
        url = self.endpoint("device_authorization_endpoint")
        data = {"scope": self.args.scope} if self.args.scope else {}
        if self.lib == "authlib":
            session = self.new_session()
            # Authlib's client authentication (as at its token endpoint) adds the client_id.
            resp = session.post(url, data=data, auth=session.client_auth(self.auth_method),
                                withhold_token=True, timeout=10)
        else:
            data, auth = self._ro_form_auth(data)
            resp = requests.post(url, data=data, auth=auth, timeout=10)
        if resp.status_code != 200:
            raise http_error("device authorization", resp)
        return resp.json()

    def device_token(self, device_code):
        """One poll: the token, or the error code (authorization_pending, slow_down, ...)."""
        token_url = self.endpoint("token_endpoint")
        try:
            if self.lib == "authlib":
                return self.new_session().fetch_token(token_url, grant_type=DEVICE_GRANT, device_code=device_code), None
            from oauthlib.oauth2 import DeviceClient
            from requests_oauthlib import OAuth2Session

            session = OAuth2Session(client=DeviceClient(self.args.client_id, scope=self.args.scope))
            return session.fetch_token(token_url, device_code=device_code, **self._ro_auth()), None
        except Exception as e:  # both libraries raise their OAuth error with the code in .error
            code = getattr(e, "error", None)
            if code in ("authorization_pending", "slow_down", "access_denied", "expired_token"):
                return None, code
            raise


def token_fields(token):
    """What a token response says, without any secret."""
    scope = token.get("scope")
    if isinstance(scope, list):  # oauthlib hands the scope back as a list
        scope = " ".join(scope)
    return {
        "token_type": token.get("token_type"),
        "scope": scope,
        "expires_in": token.get("expires_in"),
        "refresh_token": bool(token.get("refresh_token")),
        "id_token": bool(token.get("id_token")),
    }


def play_user(args, url):
    """The user's part of the authorization: the redirect URL the server sends back."""
    if args.user == "stdio":
        return ask_harness("authorize", "callback", url=url)
    headers = dict(h.split(":", 1) for h in args.login_header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    resp = requests.get(url, headers=headers, allow_redirects=False, timeout=10)
    location = resp.headers.get("location", "")
    if resp.status_code not in (302, 303) or not location.startswith(args.redirect_uri):
        raise http_error(f"the authorization request did not redirect to {args.redirect_uri}", resp)
    return location


def step_code(client, args, meta):
    check(args.redirect_uri, "the code step needs --redirect-uri")
    url, state = client.authorization_url()
    query = parse_qs(urlsplit(url).query)
    check(query.get("code_challenge_method") == ["S256"], f"no S256 challenge in {url}")
    emit("authorization_url", state_sent=bool(query.get("state")), pkce="S256")
    callback = play_user(args, url)
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    check("error" not in params, f"authorization error: {params}")
    # RFC 9207 §2.4, which neither library does: with metadata (--issuer), an `iss` must be
    # the issuer, and must be there when the metadata says it is sent.
    issuer = meta.get("issuer")
    iss_checked = bool(issuer) and ("iss" in params or meta.get("authorization_response_iss_parameter_supported"))
    if iss_checked:
        check(params.get("iss") == issuer, f"callback iss {params.get('iss')!r} != issuer {issuer!r} (RFC 9207)")
    token = client.exchange(callback, state)
    check(token.get("access_token"), "no access_token")
    emit("code", iss=params.get("iss"), iss_checked=iss_checked, state_matched=params.get("state") == state,
         **token_fields(token))
    return token


def step_refresh(client, token):
    old = token.get("refresh_token")
    check(old, "no refresh token to refresh with")
    new = client.refresh(old)
    check(new.get("access_token"), "no access_token on refresh")
    rotated = bool(new.get("refresh_token")) and new["refresh_token"] != old
    emit("refresh", rotated=rotated, new_access_token=new["access_token"] != token["access_token"],
         **token_fields(new))
    return new, old if rotated else None


def introspection_fields(data):
    keys = ("active", "scope", "client_id", "token_type", "sub", "exp", "iat", "aud")
    return {k: data[k] for k in keys if k in data}


def step_introspect(client, what, token, hint):
    data = client.introspect(token, hint)
    check(isinstance(data.get("active"), bool), f"introspection without a boolean active: {data}")
    emit("introspect", token=what, **introspection_fields(data))
    return data


def step_revoke(client, token, hint):
    resp = client.revoke(token, hint)
    if resp.status_code != 200:
        raise http_error(f"revocation of the {hint}", resp)
    emit("revoke", token=hint, status=resp.status_code)


def step_device(client, args):
    dev = client.device_authorization()
    for field in ("device_code", "user_code", "verification_uri", "expires_in"):
        check(dev.get(field), f"device authorization response without {field}: {list(dev)}")
    interval = int(dev.get("interval", 5))
    emit("device_authorization", user_code_length=len(dev["user_code"]), interval=interval,
         expires_in=dev["expires_in"], verification_uri=dev["verification_uri"],
         verification_uri_complete=dev.get("verification_uri_complete"))
    token, error = client.device_token(dev["device_code"])
    check(error == "authorization_pending", f"first poll before approval: expected authorization_pending, got {error or 'a token'}")
    ask_harness("device_pending", "approval", error=error, user_code=dev["user_code"],
                verification_uri=dev["verification_uri"],
                verification_uri_complete=dev.get("verification_uri_complete"))
    deadline = time.monotonic() + min(int(dev["expires_in"]), 120)
    polls, slow_downs = 1, 0
    while token is None:
        check(error in ("authorization_pending", "slow_down"), f"device polling ended with {error}")
        check(time.monotonic() < deadline, "device polling timed out")
        if error == "slow_down":
            interval += 5  # RFC 8628 §3.5
            slow_downs += 1
        time.sleep(interval)
        token, error = client.device_token(dev["device_code"])
        polls += 1
    emit("device_token", polls=polls, slow_downs=slow_downs, **token_fields(token))
    return token


def run(args):
    if args.discovery == "none":
        meta = {"issuer": args.issuer} if args.issuer else {}
        emit("metadata", url=None, issuer=args.issuer, iss_parameter_supported=False, code_challenge_methods=None)
    else:
        check(args.issuer, f"--discovery {args.discovery} needs --issuer")
        meta = discover(args)
    client = Client(args, meta)
    steps = args.steps
    confidential = args.auth_method != "none"
    if "code" in steps:
        token = step_code(client, args, meta)
        if "introspect" in steps and confidential:
            data = step_introspect(client, "access_token", token["access_token"], "access_token")
            check(data["active"], "a fresh access token introspects inactive")
        rotated_out = None
        if "refresh" in steps:
            token, rotated_out = step_refresh(client, token)
        if "introspect" in steps and confidential and rotated_out:
            step_introspect(client, "rotated_out_refresh_token", rotated_out, "refresh_token")
        if "revoke" in steps and token.get("refresh_token"):
            step_revoke(client, token["refresh_token"], "refresh_token")
            if "introspect" in steps and confidential:
                for what in ("refresh_token", "access_token"):
                    data = step_introspect(client, f"revoked_{what}", token[what], what)
                    check(data == {"active": False} or not data["active"],
                          f"the revoked grant's {what} is still active")
    if "client_credentials" in steps:
        token = client.client_credentials()
        check(token.get("access_token"), "no access_token from client_credentials")
        emit("client_credentials", **token_fields(token))
        if "introspect" in steps:
            data = step_introspect(client, "client_credentials_token", token["access_token"], "access_token")
            check(data["active"], "a fresh client_credentials token introspects inactive")
        if "revoke" in steps:
            step_revoke(client, token["access_token"], "access_token")
    if "device" in steps:
        step_device(client, args)
    emit("done", lib=args.lib)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lib", choices=["authlib", "requests-oauthlib"], required=True)
    p.add_argument("--issuer")
    p.add_argument("--discovery", choices=["oauth", "oidc", "none"], default="oauth")
    for name in ("authorization", "token", "revocation", "introspection", "device-authorization"):
        p.add_argument(f"--{name}-endpoint", dest=f"{name.replace('-', '_')}_endpoint")
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret")
    p.add_argument("--auth-method", choices=["client_secret_basic", "client_secret_post", "none"],
                   default="client_secret_basic")
    p.add_argument("--redirect-uri")
    p.add_argument("--scope")
    p.add_argument("--steps", default=",".join(STEPS))
    p.add_argument("--user", choices=["stdio", "get"], default="stdio")
    p.add_argument("--login-header", action="append", default=[])
    args = p.parse_args()
    args.steps = set(args.steps.split(","))
    unknown = args.steps - set(STEPS)
    if unknown:
        p.error(f"unknown steps {sorted(unknown)}; known: {STEPS}")
    if "device" in args.steps and args.user != "stdio":
        p.error("the device step needs --user stdio: the harness approves the user code")
    if args.auth_method != "none" and not args.client_secret:
        p.error(f"--auth-method {args.auth_method} needs --client-secret")
    try:
        run(args)
    except Exception as e:  # any failure, the libraries' own errors included
        print(f"oauth2_client.py ({args.lib}): FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
