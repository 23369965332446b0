"""Hostile-input guards: data paths confined to their roots, outbound URLs kept away from cloud
metadata and link-local addresses.

They work on the text alone (no DNS), so the config loader runs them before anything is read or
sent; ``resolved_source_problem`` judges a path ingest has already resolved on the file system.
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
import socket
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import yaml

# Cloud instance-metadata names and addresses outside 169.254.0.0/16 and fe80::/10.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "metadata.tencentyun.com",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("fd00:ec2::254", "fd00:ec2::23", "100.100.100.200", "168.63.129.16", "192.0.0.192")
)
ALLOWED_SOURCES_ENV = "MLCYCLE_ALLOWED_SOURCES"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host literal denotes, including the shorthand forms C resolvers accept."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # '2852039166', '0xa9fea9fe', '169.254.43518' all mean 169.254.169.254 to getaddrinfo
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def blocked_host_reason(host: str) -> str | None:
    """Why an outbound request to ``host`` is refused, or None when it may go out."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name in METADATA_HOSTS:
        return "a cloud metadata host name"
    ip = _ip(name.split("%")[0])
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address (169.254.0.0/16, fe80::/10: cloud metadata lives there)"
    if ip.is_unspecified or ip.is_multicast:
        return "an unspecified or multicast address"
    return None


def url_problem(url: str) -> str | None:
    """Why an outbound webhook URL is refused (never repeats the URL: it carries a token)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return f"must be an http(s) URL, not scheme {parts.scheme!r}"
    if not host:
        return "has no host"
    reason = blocked_host_reason(host)
    return f"points at {reason}; use the service's public endpoint" if reason else None


def allowed_sources(env: str | None = None) -> list[str]:
    """Roots ``$MLCYCLE_ALLOWED_SOURCES`` adds to the data root (comma-separated dirs, s3:// prefixes)."""
    raw = os.environ.get(ALLOWED_SOURCES_ENV, "") if env is None else env
    return [r.strip() for r in raw.split(",") if r.strip()]


def is_under(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it (both already normalised or resolved)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def local_roots(data_root: Path, roots: list[str]) -> list[str]:
    """Where local sources may sit: the data root, widened by the local roots of ``roots``."""
    return [posixpath.normpath(str(data_root)), *(posixpath.normpath(r) for r in roots if "://" not in r)]


def _outside(data_root: Path, roots: list[str]) -> str:
    widened = f"{ALLOWED_SOURCES_ENV}={','.join(roots)}" if roots else f"{ALLOWED_SOURCES_ENV} unset"
    return (
        f"is outside the data root {data_root} ($MLCYCLE_DATA_ROOT) and the allowed roots ({widened}); "
        f"move the data under the data root or add its directory to {ALLOWED_SOURCES_ENV}"
    )


def source_problem(source: str, data_root: Path, roots: list[str]) -> str | None:
    """Why a source path escapes its roots, judged on the text only (``..`` collapsed, no symlinks).

    Local sources stay under the data root unless ``roots`` widen it; S3 sources are free while
    ``roots`` is empty, confined to its s3:// prefixes otherwise. Ingest checks each local file
    again on its resolved path (``adapters.sources.check_confined``).
    """
    if source.startswith("s3://"):
        if ".." in source[5:].split("/"):
            return "must not contain '..' segments"
        if roots and not any(is_under(source, r) for r in roots if r.startswith("s3://")):
            return (
                f"is outside the allowed roots ({ALLOWED_SOURCES_ENV}={','.join(roots)}); "
                "move the data or widen the roots"
            )
        return None
    if "://" in source:
        return "must be a local path or s3://bucket/prefix"
    relative = not PurePosixPath(source).is_absolute()
    target = posixpath.normpath(str(PurePosixPath(data_root) / source))
    if relative and not is_under(target, posixpath.normpath(str(data_root))):
        return (
            f"resolves outside the data root {data_root} ($MLCYCLE_DATA_ROOT); "
            "remove the '..' segments or use an absolute path inside an allowed root"
        )
    if not any(is_under(target, r) for r in local_roots(data_root, roots)):
        return _outside(data_root, roots)
    return None


def resolved_source_problem(real_path: str, data_root: Path, roots: list[str]) -> str | None:
    """Why a file, by its resolved path (symlinks followed), is outside the roots of local sources."""
    real_roots = [os.path.realpath(r) for r in local_roots(data_root, roots)]
    return None if any(is_under(real_path, r) for r in real_roots) else _outside(data_root, roots)


# A pipeline YAML nests fewer than ten levels and has at most a few hundred nodes. libyaml's
# composer recurses in C (a few thousand levels segfault the process: a dag-processor crash), and
# aliases let a small file expand into billions of nodes for whatever walks it later.
YAML_MAX_DEPTH = 64
YAML_MAX_NODES = 100_000


def yaml_shape_problem(text: str, loader: type) -> str | None:
    """Why ``text`` is too deep or expands too far to be loaded, from libyaml's event stream alone.

    Events are produced by a non-recursive state machine, so this is safe on any input; YAML syntax
    errors propagate as ``yaml.YAMLError`` for the caller to report.
    """
    depth, nodes = 0, 0
    open_anchors: list[tuple[str | None, int]] = []  # one entry per open collection
    sizes: dict[str, int] = {}
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            nodes += sizes.get(event.anchor or "", 1)
        elif isinstance(event, yaml.ScalarEvent):
            nodes += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            nodes += 1
            if depth > YAML_MAX_DEPTH:
                return f"nested more than {YAML_MAX_DEPTH} levels deep; flatten the file"
            open_anchors.append((event.anchor, nodes))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, start = open_anchors.pop()
            if anchor:
                sizes[anchor] = nodes - start + 1
        if nodes > YAML_MAX_NODES:
            return (
                f"expands to more than {YAML_MAX_NODES:,} values (anchors and aliases included); "
                "a pipeline needs far fewer: remove the repeated aliases"
            )
    return None
