"""The `teller` command line on the real demo knowledge base."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from server.cli import main
from server.config import Settings


@pytest.fixture()
def cli_env(demo_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELLER_KNOWLEDGE__INDEX_DIR", str(demo_settings.knowledge.index_dir))
    monkeypatch.setenv("TELLER_KNOWLEDGE__SOURCE_DIR", str(demo_settings.knowledge.source_dir))
    monkeypatch.setenv("TELLER_STORE__URL", demo_settings.store.url)


@pytest.mark.usefixtures("cli_env")
def test_ask_jsonl_answers_every_line_and_reports_bad_ones(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        json.dumps({"id": "q1", "text": "how do I top up by bank transfer?"}),
        "not json",
        json.dumps({"id": "q3", "text": "what's the weather in Leeds?"}),
        json.dumps({"id": "q4", "text": ""}),
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["ask", "--jsonl"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o.get("id") for o in out] == ["q1", None, "q3", None]
    assert out[0]["decision"] == "answer" and out[0]["citations"][0]["knowledge_version"] == 1
    assert "error" in out[1] and out[1]["line"] == 2
    assert out[2]["decision"] == "refuse"
    assert "error" in out[3]


@pytest.mark.usefixtures("cli_env")
def test_ask_prints_the_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "I forgot my passcode"]) == 0
    assert "passcode" in capsys.readouterr().out.lower()


def test_avatar_build_prepares_a_photo_asset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import imageio.v3 as iio
    from skimage import data

    photo = tmp_path / "portrait.jpg"
    iio.imwrite(photo, data.astronaut())
    assert main(["avatar", "build", str(photo), "--name", "astro", "--out", str(tmp_path / "avatars")]) == 0
    assert (tmp_path / "avatars" / "astro").is_dir()
    assert "avatar asset written" in capsys.readouterr().out
