"""TLS pieces for the integration tests: a generated dev PKI, a TLS listener config, openssl
s_client and gnutls-cli runners, and a TLS upstream on Python's ssl module."""

import hashlib
import http.server
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading

import harness

MAKE_CERTS = os.path.join(harness.REPO_ROOT, "certs", "make-dev-certs.sh")
OPENSSL = "/usr/bin/openssl"
GNUTLS_CLI = "/usr/bin/gnutls-cli"


def make_certs():
    """Runs certs/make-dev-certs.sh into a new temporary directory and returns it."""
    out = tempfile.mkdtemp(prefix="strait-certs-")
    subprocess.run(["/bin/sh", MAKE_CERTS, out], check=True, timeout=120,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return out


def cert_sha256(path):
    with open(path, "r", encoding="ascii") as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def cert_serial(path):
    out = subprocess.run([OPENSSL, "x509", "-in", path, "-noout", "-serial"], check=True,
                         stdout=subprocess.PIPE, timeout=30).stdout.decode()
    return out.strip().split("=", 1)[1].upper()


def tls_config(upstream_port, certs, cert_dir=None, require_client_certificate=True,
               alpn="[h2, http/1.1]", listener_extra="", workers=1, cluster_extra=""):
    """A proxy with one TLS listener `main` (SNI: api.example.com exact, *.example.com wildcard,
    default.local fallback) doing mTLS for example.org and other.org, and one cluster."""
    cert_dir = cert_dir or certs
    return (
        "admin: {address: 127.0.0.1, port: 0}\n"
        "workers: %d\n"
        "listeners:\n"
        "  - name: main\n"
        "    address: 127.0.0.1\n"
        "    port: 0\n"
        "%s"
        "    tls:\n"
        "      certificates:\n"
        "        - {cert: %s/server.pem, key: %s/server.key, server_names: [api.example.com]}\n"
        "        - {cert: %s/wildcard.pem, key: %s/wildcard.key, server_names: [\"*.example.com\"]}\n"
        "        - {cert: %s/default.pem, key: %s/default.key}\n"
        "      alpn: %s\n"
        "      client_validation:\n"
        "        require_client_certificate: %s\n"
        "        trust_bundles:\n"
        "          - {trust_domain: example.org, ca: %s/ca-example.org.pem}\n"
        "          - {trust_domain: other.org, ca: %s/ca-other.org.pem}\n"
        "    virtual_hosts:\n"
        "      - name: default\n"
        "        domains: [\"*\"]\n"
        "        routes:\n"
        "          - match: {prefix: /}\n"
        "            route: {cluster: backend}\n"
        "clusters:\n"
        "  - name: backend\n"
        "    endpoints: [{address: 127.0.0.1, port: %d}]\n"
        "%s" % (workers, listener_extra, cert_dir, cert_dir, cert_dir, cert_dir, cert_dir,
                cert_dir, alpn, "true" if require_client_certificate else "false", certs, certs,
                upstream_port, cluster_extra))


def s_client(port, *args, servername=None, input_bytes=b"", timeout=20):
    """Runs openssl s_client against 127.0.0.1:port; returns (exit code, output text)."""
    argv = [OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port]
    if servername:
        argv += ["-servername", servername]
    else:
        argv += ["-noservername"]
    argv += list(args)
    if input_bytes:
        argv.append("-ign_eof")  # read until the server closes (send Connection: close)
    result = subprocess.run(argv, input=input_bytes, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=timeout)
    return result.returncode, result.stdout.decode("utf-8", errors="replace")


def gnutls_cli(port, *args, input_bytes=b"", timeout=20):
    argv = [GNUTLS_CLI, "-p", str(port)] + list(args) + ["127.0.0.1"]
    result = subprocess.run(argv, input=input_bytes, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=timeout)
    return result.returncode, result.stdout.decode("utf-8", errors="replace")


def echo_headers(body):
    """The request headers strait-test-upstream's /echo saw, as a list of (name, value)."""
    return [tuple(h) for h in json.loads(body)["headers"]]


class TlsUpstream:
    """An HTTPS server on Python's ssl module (port 0, a thread), answering every GET with a
    JSON body: the SNI it saw and the client certificate's subject (when it asks for one)."""

    def __init__(self, cert, key, client_ca=None):
        self.server_names = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)

        def on_sni(sock, name, ctx):
            self.server_names.append(name)

        context.sni_callback = on_sni
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                peer = self.connection.getpeercert() or {}
                body = json.dumps({"sni": owner.server_names[-1] if owner.server_names else None,
                                   "peer_san": peer.get("subjectAltName")}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        return False


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
