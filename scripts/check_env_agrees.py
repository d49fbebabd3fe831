#!/usr/bin/env python3
"""Checks that requirements.txt and environment.yml pin the same Python packages and versions.

    python3 scripts/check_env_agrees.py [REQUIREMENTS ENVIRONMENT_YML]

requirements.txt: one `name==version` a line. environment.yml: its conda `dependencies` and
their `pip:` list. Every requirements.txt package must appear in environment.yml with the same
version (`name==v` under pip:, or `name=v` / `name==v` as a conda package), and every pip:
entry of environment.yml must be in requirements.txt. Standard library only (a small parser
for the simple YAML subset environment.yml uses).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line)
        if not m:
            raise SystemExit(f"{path}:{n}: expected an exact pin `name==version`, got {raw!r}")
        pins[norm(m[1])] = m[2]
    return pins


def read_environment(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Returns (conda packages, pip packages) as name -> version ('' when unpinned)."""
    conda: dict[str, str] = {}
    pip: dict[str, str] = {}
    section = None
    in_pip = False
    pip_indent = -1
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            section = line.split(":", 1)[0].strip()
            in_pip = False
            continue
        if section != "dependencies":
            continue
        item = line.strip()
        if not item.startswith("- "):
            raise SystemExit(f"{path}:{n}: expected a list item under dependencies, got {raw!r}")
        spec = item[2:].strip().strip("'\"")
        if in_pip and indent <= pip_indent:
            in_pip = False
        if spec == "pip:":
            in_pip, pip_indent = True, indent
            continue
        if in_pip:
            m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(\S+)", spec)
            if not m:
                raise SystemExit(f"{path}:{n}: pip entries must be exact pins `name==version`, got {spec!r}")
            pip[norm(m[1])] = m[2]
        else:
            m = re.fullmatch(r"(?:[\w-]+::)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==?\s*(\S+))?", spec)
            if not m:
                raise SystemExit(f"{path}:{n}: cannot parse conda dependency {spec!r}")
            conda[norm(m[1])] = m[2] or ""
    return conda, pip


def main(argv: list[str]) -> int:
    req_path = Path(argv[0]) if argv else REPO_ROOT / "requirements.txt"
    env_path = Path(argv[1]) if len(argv) > 1 else REPO_ROOT / "environment.yml"
    reqs = read_requirements(req_path)
    conda, pip = read_environment(env_path)
    errors = []
    for name, version in sorted(reqs.items()):
        have = pip.get(name, conda.get(name))
        if have is None:
            errors.append(f"{name}=={version} is in {req_path.name} but not in {env_path.name}")
        elif have != version:
            errors.append(f"{name}: {req_path.name} pins {version}, {env_path.name} has {have or '(unpinned)'}")
        if name in pip and name in conda and conda[name] not in ("", version):
            errors.append(f"{name}: {env_path.name} lists it under conda ({conda[name]}) and pip ({pip[name]})")
    for name in sorted(set(pip) - set(reqs)):
        errors.append(f"{name}=={pip[name]} is under pip: in {env_path.name} but not in {req_path.name}")
    if errors:
        for e in errors:
            print(f"check_env_agrees: {e}", file=sys.stderr)
        return 1
    print(f"check_env_agrees: {req_path.name} and {env_path.name} agree on {len(reqs)} package(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
