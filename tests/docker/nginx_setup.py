"""nginx with docker/nginx/teller.conf in a throw-away prefix: Debian's nginx, a wrapper
nginx.conf that mirrors the nginx image's, and a self-signed certificate made with openssl."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
NGINX_CONF = DOCKER / "nginx" / "teller.conf"
TURN_CONF = DOCKER / "coturn" / "turnserver.conf"


# Mirrors the nginx image's /etc/nginx/nginx.conf: the http{} directives it sets are set here
# too, so a duplicate in teller.conf fails as it would there. Paths point into the prefix.
NGINX_WRAPPER = """\
worker_processes 1;
pid {prefix}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" '
                    '"$http_user_agent" "$http_x_forwarded_for"';
    access_log {prefix}/access.log main;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {teller_conf};
}}
"""


def nginx_prefix(directory: Path, teller_conf: Path) -> Path:
    """A prefix with the wrapper nginx.conf and a self-signed certificate in tls/ (where
    teller.conf's relative ssl_certificate paths point). Returns the wrapper's path."""
    if shutil.which("nginx") is None or shutil.which("openssl") is None:
        pytest.skip("nginx/openssl (Debian) are not installed: make system-packages")
    (directory / "tls").mkdir(parents=True)
    (directory / "tmp").mkdir()
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=teller.test", "-addext", "subjectAltName=DNS:teller.test",
            "-keyout", str(directory / "tls" / "privkey.pem"),
            "-out", str(directory / "tls" / "fullchain.pem"),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    wrapper = directory / "nginx.conf"
    wrapper.write_text(NGINX_WRAPPER.format(prefix=directory, teller_conf=teller_conf), encoding="utf-8")
    return wrapper


def nginx_command(wrapper: Path, *extra: str) -> list[str]:
    prefix = wrapper.parent
    return ["nginx", "-p", f"{prefix}/", "-c", str(wrapper), "-e", str(prefix / "error.log"), *extra]
