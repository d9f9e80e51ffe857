"""Reading the YAML configuration into a `Config` (the models are in `config.py`).

`load_config(path)` reads the file, interpolates `${ENV_VAR}` (and `${ENV_VAR:-default}`) in string
values, validates it against the models and returns a frozen `Config`. Every problem is reported as
a `ConfigError` whose `problems` carry a dotted location and, where known, the file line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from warmgate.config import CONFIG_ENV_VAR, Config


@dataclass(frozen=True)
class Problem:
    location: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.location} (line {self.line})" if self.line else self.location
        return f"{where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(
    node: Any, env: Mapping[str, str], path: tuple[Any, ...], problems: list[tuple[tuple[Any, ...], str]]
) -> Any:
    if isinstance(node, str):
        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append((path, f"environment variable {name} is not set"))
            return ""

        return _ENV_REF.sub(sub, node)
    if isinstance(node, dict):
        return {k: _interpolate(v, env, (*path, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, (*path, i), problems) for i, v in enumerate(node)]
    return node


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of its nearest existing parent."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


def parse_config(text: str, source: str = "<config>", env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(source, [Problem("(yaml)", str(e).splitlines()[0], mark.line + 1 if mark else None)]) from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [Problem("(top level)", "the file must contain a mapping")])
    missing: list[tuple[tuple[Any, ...], str]] = []
    data = _interpolate(data, env, (), missing)
    if missing:
        raise ConfigError(source, [Problem(_dotted(loc), msg, _line_of(root, loc)) for loc, msg in missing])
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        out = []
        for err in e.errors():
            loc = tuple(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            out.append(Problem(_dotted(loc), msg, _line_of(root, loc)))
        raise ConfigError(source, out) from e



def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(p), [Problem("(file)", e.strerror or str(e))]) from e
    return _beside(parse_config(text, str(p), env), p)


def _beside(config: Config, path: Path) -> Config:
    """The default management SQLite file lives beside the configuration file (not in the
    working directory), so gateways started from one directory with different files stay apart."""
    sqlite = config.management.sqlite
    if "path" in sqlite.model_fields_set:
        return config
    placed = sqlite.model_copy(update={"path": str(path.parent / sqlite.path)})
    management = config.management.model_copy(update={"sqlite": placed})
    return config.model_copy(update={"management": management})


def config_path_from_env() -> str:
    """The config path handed to worker processes (set by `warmgate serve --workers N`)."""
    path = os.environ.get(CONFIG_ENV_VAR)
    if not path:
        raise ConfigError("(environment)", [Problem(CONFIG_ENV_VAR, "not set")])
    return path
