"""An OAuth 1.0a provider built with Python's Authlib (Flask integration), for interop tests
of Keyward's OAuth 1.0a client. Everything lives in memory; one client is registered.

Endpoints (RFC 5849 §2 and §3):
  POST /initiate    temporary credentials (§2.1)
  GET  /authorize   resource-owner authorization (§2.2): grants at once for the user
                    "alice" and redirects to the callback with oauth_token and oauth_verifier
                    (with ?deny=1 it redirects with Authlib's access-denied error instead)
  POST /token       token credentials (§2.3)
  GET|POST /api/me  a protected resource (§3): JSON with the user, the client and the
                    request's non-OAuth parameters

Usage:
  python authlib_provider.py [--client-id ID] [--client-secret SECRET]
                             [--rsa-public-key PEM-FILE] [--methods HMAC-SHA1,RSA-SHA1,PLAINTEXT]

Binds 127.0.0.1 on a free port and prints "PORT <n>" on the first line of stdout. Exits when
its stdin is closed, so a test that dies cannot leave it running.
"""

import argparse
import os
import sys
import threading

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from authlib.integrations.flask_oauth1 import AuthorizationServer, ResourceProtector, current_credential
from authlib.oauth1 import ClientMixin, TemporaryCredential, TokenCredentialMixin


class Client(ClientMixin):
    def __init__(self, client_id, secret, rsa_public_key):
        self.client_id = client_id
        self.secret = secret
        self.rsa_public_key = rsa_public_key

    def get_default_redirect_uri(self):
        return "http://127.0.0.1/default-callback"

    def get_client_secret(self):
        return self.secret

    def get_rsa_public_key(self):
        return self.rsa_public_key


class Token(dict, TokenCredentialMixin):
    def get_oauth_token(self):
        return self["oauth_token"]

    def get_oauth_token_secret(self):
        return self["oauth_token_secret"]


class User:
    def __init__(self, name):
        self.id = name


def create_app(client, methods):
    app = Flask(__name__)
    app.config["OAUTH1_SUPPORTED_SIGNATURE_METHODS"] = methods
    lock = threading.Lock()
    nonces = set()
    temporary = {}
    tokens = {}

    def query_client(client_id):
        return client if client_id == client.client_id else None

    def exists_nonce(nonce, timestamp, client_id, token):
        key = (nonce, timestamp, client_id, token)
        with lock:
            if key in nonces:
                return True
            nonces.add(key)
            return False

    def create_temporary_credential(token, client_id, redirect_uri):
        credential = TemporaryCredential(token)
        credential["client_id"] = client_id
        credential["oauth_callback"] = redirect_uri
        with lock:
            temporary[credential["oauth_token"]] = credential
        return credential

    def get_temporary_credential(oauth_token):
        with lock:
            return temporary.get(oauth_token)

    def delete_temporary_credential(oauth_token):
        with lock:
            temporary.pop(oauth_token, None)

    def create_authorization_verifier(credential, grant_user, verifier):
        credential["user_id"] = grant_user.id
        credential["oauth_verifier"] = verifier

    def create_token_credential(token, temporary_credential):
        credential = Token(token)
        credential["client_id"] = temporary_credential.get_client_id()
        credential["user_id"] = temporary_credential.get_user_id()
        with lock:
            tokens[credential["oauth_token"]] = credential
        return credential

    def query_token(client_id, oauth_token):
        with lock:
            token = tokens.get(oauth_token)
        if token is not None and token["client_id"] == client_id:
            return token
        return None

    server = AuthorizationServer(app, query_client=query_client)
    server.register_hook("exists_nonce", exists_nonce)
    server.register_hook("create_temporary_credential", create_temporary_credential)
    server.register_hook("get_temporary_credential", get_temporary_credential)
    server.register_hook("delete_temporary_credential", delete_temporary_credential)
    server.register_hook("create_authorization_verifier", create_authorization_verifier)
    server.register_hook("create_token_credential", create_token_credential)
    require_oauth = ResourceProtector(
        app, query_client=query_client, query_token=query_token, exists_nonce=exists_nonce)

    @app.route("/initiate", methods=["POST"])
    def initiate():
        return server.create_temporary_credentials_response()

    @app.route("/authorize", methods=["GET"])
    def authorize():
        grant = None if request.args.get("deny") else User("alice")
        return server.create_authorization_response(grant_user=grant)

    @app.route("/token", methods=["POST"])
    def token():
        return server.create_token_response()

    @app.route("/api/me", methods=["GET", "POST"])
    @require_oauth()
    def me():
        params = {k: v for k, v in request.values.items() if not k.startswith("oauth_")}
        return jsonify(
            user=current_credential["user_id"],
            client_id=current_credential["client_id"],
            method=request.method,
            params=params,
        )

    return app


def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--client-id", default="keyward-client")
    parser.add_argument("--client-secret", default="keyward-client-secret")
    parser.add_argument("--rsa-public-key", default=os.path.join(here, "..", "keys", "rsa_public.pem"))
    parser.add_argument("--methods", default="HMAC-SHA1,RSA-SHA1,PLAINTEXT")
    args = parser.parse_args()
    with open(args.rsa_public_key) as f:
        public_key = f.read()
    app = create_app(Client(args.client_id, args.client_secret, public_key), args.methods.split(","))
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"PORT {httpd.server_port}", flush=True)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    httpd.serve_forever()
