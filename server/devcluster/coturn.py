"""coturn (Debian package) with the TURN REST shared-secret scheme the tellers mint credentials for."""

from __future__ import annotations

from pathlib import Path

from server.devcluster.process import ServerProcess, require

TURN_PORT = 3478


class TurnServer:
    """``turnserver`` listening on ``listen_ips`` and relaying from ``relay_ip``."""

    def __init__(
        self,
        workdir: Path,
        secret: str,
        *,
        listen_ips: tuple[str, ...] = ("127.0.0.1",),
        relay_ip: str = "127.0.0.1",
        port: int = TURN_PORT,
    ) -> None:
        self.workdir = workdir
        self.secret = secret
        self.host = listen_ips[0]
        self.port = port
        log = workdir / "turnserver.log"
        # --verbose: coturn logs "listener opened on" (what ``_listening`` waits for) only then
        argv = [require("turnserver", "coturn"), "-n", "--verbose", "--simple-log", f"--log-file={log}"]
        argv += [f"--listening-ip={ip}" for ip in listen_ips]
        argv += [f"--listening-port={port}", f"--relay-ip={relay_ip}", "--realm=teller.local"]
        argv += ["--use-auth-secret", f"--static-auth-secret={secret}", "--fingerprint"]
        argv += ["--no-tls", "--no-dtls", "--no-cli", f"--pidfile={workdir / 'turnserver.pid'}"]
        argv += [f"--userdb={workdir / 'turndb'}"]
        if relay_ip.startswith("127."):
            argv += ["--allow-loopback-peers"]  # one machine: workers and relay share loopback
        self._process = ServerProcess("coturn", argv, workdir / "turnserver.stdout", self._listening)

    @property
    def urls(self) -> list[str]:
        return [f"turn:{self.host}:{self.port}?transport=udp", f"turn:{self.host}:{self.port}?transport=tcp"]

    def _listening(self) -> bool:
        log = self.workdir / "turnserver.log"
        return log.exists() and f"listener opened on: {self.host}:{self.port}" in log.read_text(
            errors="replace"
        )

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._process.start()

    def stop(self) -> None:
        self._process.stop()
