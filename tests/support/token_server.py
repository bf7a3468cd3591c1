#!/usr/bin/env python3
"""A minimal token server for distribution's `auth: token` (the Docker token flow), for tests.

GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...] answers
{"token": JWT, "access_token": JWT, "expires_in": 300}. With a Basic Authorization header
matching --user/--password, every requested action is granted; without one the token grants
nothing (an anonymous token, as real token servers give for private repositories); with wrong
credentials the answer is 401. The JWT is signed RS256 by --key (via `openssl dgst`, so only
the standard library is needed) and carries the certificate --cert in its `x5c` header, which
the registry checks against its `rootcertbundle`.

Prints the listening port on the first line of stdout; appends one line per token request
(`<user or -> <scopes>`) to --log.
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der_b64(path: str) -> str:
    lines = open(path).read().splitlines()
    body = [l for l in lines if l and not l.startswith("-----")]
    return "".join(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    x5c = cert_der_b64(args.cert)
    expected = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()

    def sign(payload: bytes) -> bytes:
        return subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", args.key],
            input=payload, capture_output=True, check=True,
        ).stdout

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):  # quiet: the test reads --log instead
            pass

        def reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path != "/token":
                return self.reply(404, {"details": "not found"})
            query = parse_qs(url.query)
            auth = self.headers.get("Authorization")
            if auth is not None and auth != expected:
                return self.reply(401, {"details": "invalid credentials"})
            user = args.user if auth else ""
            access = []
            scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
            for scope in scopes:
                parts = scope.split(":")
                if len(parts) < 3 or not user:
                    continue
                kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1]
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            header = {"typ": "JWT", "alg": "RS256", "x5c": [x5c]}
            claims = {
                "iss": args.issuer,
                "sub": user,
                "aud": query.get("service", [""])[0],
                "exp": now + 300,
                "nbf": now - 10,
                "iat": now,
                "jti": b64url(os.urandom(12)),
                "access": access,
            }
            signing_input = (
                b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
            )
            token = signing_input + "." + b64url(sign(signing_input.encode()))
            with open(args.log, "a") as log:
                log.write(f"{user or '-'} {' '.join(scopes)}\n")
            self.reply(200, {"token": token, "access_token": token, "expires_in": 300})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
