"""docker/compose.yaml read as compose would: what it mounts exists (or is the operator's own
docker/config), every variable it uses is in compose.env.example, every file the example config
names reaches the containers that read it, and the example config opens no room to outside
callers with a PIN anyone would guess."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pbx_engine.config import load_config

ROOT = Path(__file__).parents[2]
DOCKER = ROOT / "docker"
EXAMPLE = DOCKER / "engine.example.toml"
OPERATOR_FOLDER = "./config"  # docker/config: the operator's, never in the repository
CONFIG = "/etc/pbx-engine/engine.toml"  # the engine image's CMD, the Asterisk entrypoint's
# Containers that read the engine's config, and the files they read beyond engine.toml.
READERS = {
    "engine": ("campaign_files", "number_pools_file"),
    "asterisk": ("agents_file",),
}
WEAK_PINS = {"0000", "1111", "1234", "12345", "123456", "4321", "9999", "1212", "2580"}


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def bind_mounts(service: dict) -> list[tuple[str, str]]:
    """(source, target) of each bind mount, long or short syntax; named volumes left out."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/", "~")):
                found.append((source, target))
        elif volume.get("type") == "bind":
            found.append((volume["source"], volume["target"]))
    return found


def strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def variables_used(node: object) -> set[str]:
    found = set()
    for text in strings(node):
        text = text.replace("$$", "")  # compose's escaped dollar
        found |= set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
        found |= set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))
    return found


def variables_listed() -> set[str]:
    text = (DOCKER / "compose.env.example").read_text()
    return set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", text, re.M))


def mounted(path: str, service: dict) -> bool:
    return any(path.startswith(target.rstrip("/") + "/") for _, target in bind_mounts(service))


def test_every_bind_mount_comes_from_the_repository_or_the_operators_folder():
    for name, service in compose()["services"].items():
        for source, _ in bind_mounts(service):
            if source == OPERATOR_FOLDER:
                continue
            assert not source.startswith(("/", "~")), f"{name}: {source} is outside the repository"
            assert (DOCKER / source).exists(), f"{name}: {source} is missing"


def test_the_operators_folder_is_documented_and_kept_out_of_git():
    assert f"docker/{OPERATOR_FOLDER[2:]}/" in (DOCKER / "compose.yaml").read_text()
    assert "mkdir docker/config" in (ROOT / "README.md").read_text()
    assert "/docker/config/" in (ROOT / ".gitignore").read_text().splitlines()


def test_every_variable_compose_uses_is_in_the_env_example():
    used = variables_used(compose())
    assert used, "no ${VAR} found: the reading is wrong"
    assert used <= variables_listed(), used - variables_listed()


def test_the_variable_reading_sees_both_forms_and_skips_escaped_dollars():
    assert variables_used({"a": ["${A:?set A}", "$B", "$$C", {"${D}": 1}]}) == {"A", "B", "D"}


def named_files(path: Path, keys: tuple[str, ...]) -> list[str]:
    config = load_config(path, environ={})
    files: list[str] = []
    for key in keys:
        if key == "campaign_files":
            files += config.campaign_files
        elif key == "agents_file":
            files += [str(config.asterisk.agents_file)] if config.asterisk.agents_file else []
        else:
            files.append(str(getattr(config, key)))
    return files


@pytest.mark.parametrize("service", sorted(READERS))
@pytest.mark.parametrize("agents_file", [False, True], ids=["example", "with-agents-file"])
def test_every_file_the_example_config_names_is_mounted_where_it_is_read(
    service, agents_file, tmp_path
):
    text = EXAMPLE.read_text()
    if agents_file:
        text, switched = re.subn(r"^# (agents_file = )", r"\1", text, flags=re.M)
        assert switched == 1
    config = tmp_path / "engine.toml"
    config.write_text(text)
    files = [CONFIG, *named_files(config, READERS[service])]
    definition = compose()["services"][service]
    for path in files:
        assert Path(path).is_absolute(), f"{path}: relative to the container's working folder"
        assert mounted(path, definition), f"{service} reads {path}, which is not mounted"


def test_the_containers_read_the_config_where_it_is_mounted():
    assert f'"{CONFIG}"' in (DOCKER / "Dockerfile").read_text()
    assert f"PBX_ENGINE_CONFIG:-{CONFIG}" in (DOCKER / "asterisk" / "entrypoint.sh").read_text()


def test_the_example_config_opens_no_room_to_outside_callers():
    config = load_config(EXAMPLE, environ={})
    assert [room.name for room in config.rooms if room.did] == []


def test_the_example_config_ships_no_weak_pin_even_in_a_comment():
    config = load_config(EXAMPLE, environ={})
    pins = {pin for room in config.rooms for pin in (room.pin, room.moderator_pin) if pin}
    pins |= set(re.findall(r'^[#\s]*(?:moderator_)?pin\s*=\s*"?(\d+)', EXAMPLE.read_text(), re.M))
    assert not pins & WEAK_PINS, pins & WEAK_PINS
    assert all(len(pin) >= 6 for pin in pins), pins
