"""Python Authlib as an OpenID Connect relying party against an OpenID Provider (issue 16 interop).

Authlib's framework-free remote app (the `OAuth2Mixin` + `OpenIDMixin` its Flask, Django and
Starlette integrations are made of, over `authlib.integrations.requests_client.OAuth2Session`),
through OpenID Connect Discovery. Steps, in this order, each optional:

  code      code + PKCE S256 + nonce + state; the ID token is validated by Authlib's
            `parse_id_token`: its signature against the provider's jwks_uri (only the algorithms
            of id_token_signing_alg_values_supported), then `CodeIDToken` (iss against the
            discovery document, aud/azp, exp, iat, nonce, at_hash against the access token)
  userinfo  the UserInfo endpoint with the access token; its `sub` must be the ID token's
  refresh   refresh_token grant; a new ID token, when there is one, is validated the same way
            (no nonce) and must keep sub, iss and auth_time
  logout    RP-Initiated Logout: Authlib's `create_logout_url` (id_token_hint,
            post_logout_redirect_uri, state) through the harness; the state must come back

Usage:
  python oidc_client.py --issuer URL --client-id ID [--client-secret S]
      [--auth-method client_secret_basic|client_secret_post|none] --redirect-uri URI
      [--scope "openid profile email"] [--steps code,userinfo,...] [--post-logout-redirect-uri URI]

Output: one JSON object per line on stdout, `{"step": ..., ...}`, never a token's value. The
harness answers the lines with an "await" member with the URL the browser ended at:
  {"step": "authorize", "url": U, "await": "callback"}
Exits non-zero, with a message on stderr, on any failure.
"""

import argparse
import base64
import json
import sys
from urllib.parse import parse_qs, urlsplit

from authlib.integrations.base_client.sync_app import BaseApp, OAuth2Mixin
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session

STEPS = ["code", "userinfo", "refresh", "logout"]


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def emit(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def ask_harness(step, url):
    print(json.dumps({"step": step, "url": url, "await": "callback"}), flush=True)
    line = sys.stdin.readline()
    check(line, f"{step}: the harness closed stdin instead of answering")
    return line.strip()


class _NoFramework:
    """Authlib's apps report refreshed tokens to their framework; here there is none."""

    def update_token(self, token, refresh_token=None, access_token=None):
        pass


class RemoteApp(OAuth2Mixin, OpenIDMixin, BaseApp):
    """A remote OpenID provider as Authlib's framework integrations build one."""

    client_cls = OAuth2Session


def jws_header(jwt):
    part = jwt.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def id_token_fields(args, id_token, claims):
    aud = claims.get("aud")
    check(aud == args.client_id or (isinstance(aud, list) and args.client_id in aud),
          f"the ID token's aud {aud!r} does not name {args.client_id!r}")
    header = jws_header(id_token)
    return dict(iss=claims["iss"], aud=aud, sub=claims["sub"], azp=claims.get("azp"),
                auth_time=claims.get("auth_time"), at_hash="at_hash" in claims, alg=header.get("alg"),
                kid=header.get("kid"), claims=sorted(claims.keys()), signature_checked=True)


def run(args):
    steps = args.steps.split(",")
    for s in steps:
        check(s in STEPS, f"unknown step {s}; known: {STEPS}")
    app = RemoteApp(
        _NoFramework(),
        name="op",
        client_id=args.client_id,
        client_secret=args.client_secret,
        server_metadata_url=args.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": args.scope, "code_challenge_method": "S256",
                       "token_endpoint_auth_method": args.auth_method},
    )
    meta = app.load_server_metadata()
    check(meta.get("issuer") == args.issuer, f"discovery issuer {meta.get('issuer')!r} != {args.issuer!r}")
    emit("metadata", issuer=meta["issuer"], userinfo_endpoint=meta.get("userinfo_endpoint"),
         jwks_uri=meta.get("jwks_uri"), end_session_endpoint=meta.get("end_session_endpoint"),
         id_token_signing_alg_values_supported=meta.get("id_token_signing_alg_values_supported"))

    token = None
    first = None
    if "code" in steps:
        started = app.create_authorization_url(redirect_uri=args.redirect_uri)
        check("code_challenge=" in started["url"] and started.get("nonce"), "no PKCE challenge or nonce sent")
        callback = ask_harness("authorize", started["url"])
        params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        check("error" not in params, f"the provider answered {params.get('error')}: {params.get('error_description')}")
        check(params.get("state") == started["state"], "the callback's state does not match")
        if "iss" in params:
            check(params["iss"] == args.issuer, f"callback iss {params['iss']!r} != issuer (RFC 9207)")
        token = app.fetch_access_token(redirect_uri=args.redirect_uri, code=params["code"],
                                       code_verifier=started["code_verifier"])
        check(token.get("id_token"), "no ID token for the openid scope")
        first = app.parse_id_token(token, nonce=started["nonce"])
        check(first.get("nonce") == started["nonce"], "the ID token's nonce is not the one sent")
        emit("code", token_type=token.get("token_type"), refresh_token=bool(token.get("refresh_token")),
             nonce_checked=True, **id_token_fields(args, token["id_token"], first))
        # The same ID token with another nonce expected is refused.
        try:
            app.parse_id_token(token, nonce="another-nonce")
            forged_nonce_refused = False
        except Exception:  # noqa: BLE001 - any refusal counts
            forged_nonce_refused = True
        check(forged_nonce_refused, "Authlib accepted the ID token for another nonce")

    if "userinfo" in steps:
        check(token, "the userinfo step needs the code step")
        info = dict(app.userinfo(token=token))
        check(info.get("sub") == first["sub"], f"userinfo sub {info.get('sub')!r} != the ID token's")
        emit("userinfo", sub_matches_id_token=True, **info)

    if "refresh" in steps:
        check(token and token.get("refresh_token"), "no refresh token to refresh with")
        with app._get_oauth_client(**meta) as session:
            session.token = token
            # The scope granted, not the one asked for (a server may have granted less).
            fresh = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"],
                                          scope=token.get("scope"))
        fields = dict(id_token=bool(fresh.get("id_token")),
                      rotated=bool(fresh.get("refresh_token")) and fresh["refresh_token"] != token["refresh_token"])
        if fresh.get("id_token"):
            claims = app.parse_id_token(fresh, nonce=None)
            fields.update(id_token_fields(args, fresh["id_token"], claims), same_sub=claims["sub"] == first["sub"],
                          same_iss=claims["iss"] == first["iss"],
                          same_auth_time=claims.get("auth_time") == first.get("auth_time"))
        emit("refresh", **fields)
        token = {**token, **fresh}

    if "logout" in steps:
        check(token and token.get("id_token"), "the logout step needs an ID token")
        check(args.post_logout_redirect_uri, "the logout step needs --post-logout-redirect-uri")
        out = app.create_logout_url(post_logout_redirect_uri=args.post_logout_redirect_uri,
                                    id_token_hint=token["id_token"], client_id=args.client_id)
        back = ask_harness("end_session", out["url"])
        check(back.startswith(args.post_logout_redirect_uri), f"end_session sent the browser to {back}")
        state = parse_qs(urlsplit(back).query).get("state", [None])[0]
        check(state == out["state"], f"end_session returned state {state!r}")
        emit("logout", post_logout_redirect=True, state_matched=True)
    emit("done", lib="authlib")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--issuer", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret")
    p.add_argument("--auth-method", default="client_secret_basic",
                   choices=["client_secret_basic", "client_secret_post", "none"])
    p.add_argument("--redirect-uri", required=True)
    p.add_argument("--post-logout-redirect-uri")
    p.add_argument("--scope", default="openid profile email")
    p.add_argument("--steps", default=",".join(STEPS))
    args = p.parse_args()
    try:
        run(args)
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        print(f"oidc_client.py (authlib): FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
