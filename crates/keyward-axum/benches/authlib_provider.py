"""Python Authlib's OAuth 1.0a resource protector, as the side-by-side anchor of the demo's
`/api/me` figure in BENCHMARKS.md: the same protected route (HMAC-SHA1 in the
Authorization header, a nonce recorded per request) over a SQLite file holding the client,
the token credential and the nonces, as the demo keeps them.

Run under gunicorn (a WSGI server of several processes), two workers with threads so that
keep-alive connections are served:

    AUTHLIB_BENCH_DB=/tmp/authlib-bench.db gunicorn -w 2 -k gthread --threads 8 \
        --keep-alive 30 -b 127.0.0.1:8091 --chdir crates/keyward-axum/benches \
        authlib_provider:app

Routes: `GET /healthz` (the cheap route: a plain 200 through Flask) and `GET /api/me`
(protected; answers the user's name). The bench's credentials are registered at start:
client `bench-client` / `bench-secret`, token `bench-token` / `bench-token-secret`, user
`alice`. Nonces are kept one hour, in a table whose primary key makes the insertion atomic
across workers.
"""

import os
import sqlite3
import threading
import time

from flask import Flask, jsonify

from authlib.integrations.flask_oauth1 import ResourceProtector, current_credential
from authlib.oauth1 import ClientMixin, TokenCredentialMixin

DB = os.environ.get("AUTHLIB_BENCH_DB", "authlib-bench.db")
_local = threading.local()


def db():
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB, timeout=5, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        _local.conn = conn
    return conn


def setup():
    conn = db()
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS clients (client_id TEXT PRIMARY KEY, secret TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, secret TEXT NOT NULL,
            client_id TEXT NOT NULL, user_id TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS nonces (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
        INSERT OR IGNORE INTO clients VALUES ('bench-client', 'bench-secret');
        INSERT OR IGNORE INTO tokens VALUES ('bench-token', 'bench-token-secret', 'bench-client', 'alice');
        """
    )


class Client(ClientMixin):
    def __init__(self, client_id, secret):
        self.client_id = client_id
        self.secret = secret

    def get_default_redirect_uri(self):
        return None

    def get_client_secret(self):
        return self.secret

    def get_rsa_public_key(self):
        return None


class Token(dict, TokenCredentialMixin):
    def get_oauth_token(self):
        return self["oauth_token"]

    def get_oauth_token_secret(self):
        return self["oauth_token_secret"]


def query_client(client_id):
    row = db().execute("SELECT client_id, secret FROM clients WHERE client_id = ?", (client_id,)).fetchone()
    return Client(*row) if row else None


def query_token(client_id, oauth_token):
    row = db().execute(
        "SELECT token, secret, user_id FROM tokens WHERE token = ? AND client_id = ?", (oauth_token, client_id)
    ).fetchone()
    if row is None:
        return None
    return Token(oauth_token=row[0], oauth_token_secret=row[1], user_id=row[2], client_id=client_id)


def exists_nonce(nonce, timestamp, client_id, token):
    key = f"{client_id}\n{token or ''}\n{timestamp}\n{nonce}"
    cur = db().execute(
        "INSERT OR IGNORE INTO nonces (key, expires_at) VALUES (?, ?)", (key, int(time.time()) + 3600)
    )
    return cur.rowcount == 0


setup()
app = Flask(__name__)
app.config["OAUTH1_SUPPORTED_SIGNATURE_METHODS"] = ["HMAC-SHA1"]
require_oauth = ResourceProtector(app, query_client=query_client, query_token=query_token, exists_nonce=exists_nonce)


@app.route("/healthz")
def healthz():
    return "ok"


@app.route("/api/me")
@require_oauth()
def me():
    return jsonify(user=current_credential["user_id"])
