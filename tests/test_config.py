from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from warmgate.config_file import ConfigError, parse_config

GOOD = """
server: {host: 127.0.0.1, port: 8080}
keys:
  - {key: sk-team-a, tenant: team-a}
providers:
  - name: openai
    api: openai
    base_url: https://api.openai.com/v1/
    accounts:
      - {name: acct-1, api_key: "${OPENAI_KEY_1}"}
      - {name: acct-2, api_key: "${OPENAI_KEY_2:-fallback-key}"}
  - name: anthropic
    api: anthropic
    base_url: https://api.anthropic.com/v1
    timeouts: {connect: 2, read: 30}
    cooldowns: {server_error: 0.5}
    accounts:
      - {name: a, api_key: "k", timeouts: {connect: 1, read: 5}}
models:
  gpt-5.5: openai
  claude-sonnet-4-6: {provider: anthropic, upstream_model: claude-sonnet-4-6}
"""


def test_the_issue_example_loads_with_env_interpolation() -> None:
    cfg = parse_config(GOOD, env={"OPENAI_KEY_1": "sk-real"})
    openai = cfg.provider("openai")
    assert openai.base_url == "https://api.openai.com/v1"
    assert [a.api_key.get_secret_value() for a in openai.accounts] == ["sk-real", "fallback-key"]
    assert cfg.models["gpt-5.5"].provider == "openai"
    anth = cfg.provider("anthropic")
    assert anth.account_timeouts(anth.accounts[0]).read == 5
    assert anth.cooldowns.server_error == 0.5 and openai.cooldowns.server_error == 2.0
    assert cfg.fallback_provider().name == "openai"
    assert "sk-real" not in repr(cfg) and "sk-real" not in str(cfg.model_dump())


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=env or {})
    return [str(p) for p in info.value.problems]


def test_problems_carry_location_and_line() -> None:
    found = problems(GOOD)
    assert found == ["providers[0].accounts[0].api_key (line 10): environment variable OPENAI_KEY_1 is not set"]
    bad = GOOD.replace("api: anthropic", "api: anthropik").replace("gpt-5.5: openai", "gpt-5.5: {provider: openai, x: 1}")
    found = problems(bad, {"OPENAI_KEY_1": "k"})
    assert any(p.startswith("providers[1].api (line 13)") for p in found), found
    assert any(p.startswith("models.gpt-5.5.x") for p in found), found


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("providers: []", "at least 1"),
        ("serverr: {}\nproviders: []", "serverr"),
        ("providers:\n  - {name: p, api: openai, base_url: 'ftp://x', accounts: [{name: a, api_key: k}]}", "base_url"),
        ("providers:\n  - {name: p, api: openai, base_url: 'http://x', accounts: [{name: a, api_key: ''}]}", "empty"),
        ("providers:\n  - {name: p, api: openai, base_url: 'http://x', accounts: [{name: a, api_key: k}, {name: a, api_key: j}]}",
         "duplicate account"),
        ("providers:\n  - {name: p, api: openai, base_url: 'http://x', accounts: [{name: a, api_key: k}]}\nmodels: {m: q}",
         "unknown provider"),
        ("server: {port: 99999}\nproviders: []", "server.port"),
        ("- a\n- b", "mapping"),
        ("providers: [", "yaml"),
    ],
)
def test_invalid_configs(text: str, needle: str) -> None:
    assert any(needle in p for p in problems(text)), problems(text)


def test_check_config_command(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD.replace("${OPENAI_KEY_1}", "literal"))
    out = subprocess.run([sys.executable, "-m", "warmgate", "check-config", str(good)], capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD)
    out = subprocess.run([sys.executable, "-m", "warmgate", "check-config", str(bad)], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 1
    assert "providers[0].accounts[0].api_key (line 10)" in out.stderr
