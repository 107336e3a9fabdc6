"""nginx (Debian package) in front of the local workers: TLS with a self-signed certificate, HSTS,
websocket upgrade and ``/w/<worker-id>/`` routing — docker/nginx/teller.conf's routes, with
the workers' loopback ports written in instead of Docker's DNS names."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from server.devcluster.process import ServerProcess, require

CONF = """\
worker_processes 1;
pid {d}/nginx.pid;
events {{ worker_connections 2048; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    map $wid $worker_upstream {{
        default "";
{workers}
    }}
    # Pages, dispatch and the API: any worker (a restarting one is skipped for the next).
    upstream tellers {{
{pool}
    }}
    map $wid $worker_prefix {{
        ""      "";
        default /w/$wid;
    }}

    server {{
        listen 127.0.0.1:{http_port};
        server_tokens off;
        location / {{
            return 301 https://$host:{https_port}$request_uri;
        }}
    }}

    server {{
{https_listen}
        server_tokens off;
        ssl_certificate {d}/tls/fullchain.pem;
        ssl_certificate_key {d}/tls/privkey.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;
        add_header X-Content-Type-Options nosniff always;
        proxy_cookie_flags ~ secure;
        client_max_body_size 1m;

        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto https;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header X-Forwarded-Prefix $worker_prefix;
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;
        proxy_buffering off;

        location ~ "^/w/(?<wid>[a-z0-9-]+-[0-9]{{2}})/(?<rest>.*)$" {{
            if ($worker_upstream = "") {{
                return 404;
            }}
            proxy_pass http://$worker_upstream/$rest$is_args$args;
        }}
        location /admin {{
            client_max_body_size 20m;
            proxy_pass http://127.0.0.1:{dispatch_port};
        }}
        location / {{
            proxy_next_upstream error timeout http_502 http_503;
            proxy_pass http://tellers;
        }}
    }}
}}
"""


def self_signed(directory: Path, name: str = "localhost") -> None:
    """A one-day certificate for ``name`` and 127.0.0.1 in ``directory`` (fullchain.pem, privkey.pem)."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [require("openssl", "openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1",
         "-keyout", str(directory / "privkey.pem"), "-out", str(directory / "fullchain.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


class EdgeProxy:
    """nginx on ``https_port`` (and ``http_port``, redirecting) in front of ``workers`` (id → port).

    HTTPS is served on every address of ``listen_ips`` (the redirect on 127.0.0.1 only).
    """

    def __init__(
        self,
        workdir: Path,
        workers: dict[str, int],
        *,
        dispatch_port: int,
        https_port: int,
        http_port: int,
        listen_ips: tuple[str, ...] = ("127.0.0.1",),
    ) -> None:
        self.workdir = workdir
        self.https_port = https_port
        rows = "\n".join(f"        {wid} 127.0.0.1:{port};" for wid, port in sorted(workers.items()))
        pool = "\n".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;"
            for port in sorted(workers.values())
        )
        https_listen = "\n".join(f"        listen {ip}:{https_port} ssl;" for ip in listen_ips)
        self._conf = CONF.format(
            d=workdir,
            workers=rows,
            pool=pool,
            dispatch_port=dispatch_port,
            https_port=https_port,
            http_port=http_port,
            https_listen=https_listen,
        )
        conf = workdir / "nginx.conf"
        argv = [
            require("nginx", "nginx"),
            "-p",
            f"{workdir}/",
            "-c",
            str(conf),
            "-e",
            str(workdir / "error.log"),
        ]
        self._process = ServerProcess(
            "nginx", [*argv, "-g", "daemon off;"], workdir / "nginx.stdout", self._up
        )

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def _up(self) -> bool:
        try:
            httpx.get(f"{self.url}/nginx-probe", verify=False, timeout=2)  # any answer: nginx is up
            return True
        except httpx.TransportError:
            return False

    def start(self) -> None:
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        if not (self.workdir / "tls" / "fullchain.pem").exists():
            self_signed(self.workdir / "tls")
        (self.workdir / "nginx.conf").write_text(self._conf, encoding="utf-8")
        self._process.start()

    def stop(self) -> None:
        self._process.stop()
