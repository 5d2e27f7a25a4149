"""Channel scoping: which collections a Slack channel may read.

`BOT_SLACK_CHANNELS` is either inline (`C123=policy,energy;C456=sports`) or the path of a
.json / .toml file mapping channel ids to a collection or a list of them. A channel that is not
mapped reads the default collection (`BOT_COLLECTION`) and nothing else.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import ConfigError

_CHANNEL = re.compile(r"^[A-Z0-9]{2,32}$")  # Slack ids: C…, G…, D…; names change, ids do not


@dataclass(frozen=True)
class ChannelMap:
    default: list[str]
    channels: dict[str, list[str]] = field(default_factory=dict)

    def collections(self, channel: str) -> list[str]:
        """The only collections `channel` may retrieve from."""
        return list(self.channels.get(channel, self.default))

    @classmethod
    def parse(cls, raw: str, default: str) -> "ChannelMap":
        raw = raw.strip()
        if not raw:
            return cls([default])
        if raw.lower().endswith((".json", ".toml")):
            return cls([default], _check(_load_file(Path(raw).expanduser()), raw))
        mapping: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in raw.split(";"))):
            channel, sep, names = part.partition("=")
            if not sep:
                raise ConfigError(f"BOT_SLACK_CHANNELS: {part!r} is not CHANNEL=collection[,collection]")
            mapping[channel.strip()] = [n.strip() for n in names.split(",")]
        return cls([default], _check(mapping, "BOT_SLACK_CHANNELS"))


def _load_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(f"BOT_SLACK_CHANNELS: cannot read {path}; check the path") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except ValueError as e:  # JSONDecodeError and TOMLDecodeError are both ValueErrors
        raise ConfigError(f"BOT_SLACK_CHANNELS: {path} is not valid {path.suffix[1:]} ({e})") from None
    # A TOML file may keep the mapping under [channels] so it can share a file with other keys.
    if isinstance(data, dict) and isinstance(data.get("channels"), dict):
        data = data["channels"]
    if not isinstance(data, dict):
        raise ConfigError(f"BOT_SLACK_CHANNELS: {path} must map channel ids to collections")
    return data


def _check(mapping: dict[str, Any], where: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for channel, names in mapping.items():
        if not _CHANNEL.match(str(channel)):
            raise ConfigError(f"{where}: {channel!r} is not a Slack channel id (like C0123ABCD)")
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not names or not all(
                isinstance(n, str) and n.strip() for n in names):
            raise ConfigError(f"{where}: channel {channel} needs one or more collection names")
        out[str(channel)] = [n.strip() for n in names]
    return out
