"""Manual alias moves: rollback and approval, compare-and-set through the same ``promote`` as training."""

from __future__ import annotations

import getpass
from typing import Any

from mlcycle.adapters.registry import CHALLENGER, CHAMPION, MlflowRegistry, promote
from mlcycle.adapters.wiring import open_registry
from mlcycle.config.loader import Pipeline
from mlcycle.config.settings import Settings
from mlcycle.core.events import alias_event, is_validated, recorded_reasons
from mlcycle.core.names import Tag
from mlcycle.errors import PromotionError


def cli_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown user"


def _registry(pipe: Pipeline, settings: Settings) -> MlflowRegistry:
    return open_registry(settings, pipe.model_name)


def _version_tags(registry: MlflowRegistry, version: str) -> dict[str, str]:
    info = registry.version_info(version)
    if info is None:
        raise PromotionError(
            f"model {registry.name!r} has no version {version!r}; `mlcycle history` and `mlcycle status` "
            "list the versions that exist"
        )
    return info.tags


def previous_champion(registry: MlflowRegistry, current: str) -> str | None:
    """The champion before ``current``: the version its latest promotion (not a rollback) replaced,
    so repeated rollbacks walk back v3 -> v2 -> v1 instead of toggling."""
    for event in reversed(registry.history()):
        if (
            event.get("alias") == CHAMPION
            and event.get("to_version") == current
            and event.get("action") != "rollback"
        ):
            return event.get("from_version")
    replaced = registry.version_tags(current).get(Tag.REPLACED)
    return None if replaced in (None, "", "none") else replaced


def rollback(
    pipe: Pipeline,
    settings: Settings,
    *,
    to: str | None,
    reason: str,
    by: str,
    via: str,
    force: bool = False,
) -> dict[str, Any]:
    """Move ``champion`` back to ``to`` (default: the previous champion), compare-and-set."""
    registry = _registry(pipe, settings)
    current_ref = registry.get_alias(CHAMPION)
    if current_ref is None:
        raise PromotionError(f"model {registry.name!r} has no champion: there is nothing to roll back")
    current = current_ref.version
    target = to or previous_champion(registry, current)
    if target is None:
        raise PromotionError(
            f"champion v{current} of {registry.name!r} replaced no earlier version; name one with --to VERSION"
        )
    target = str(target)
    if target == current:
        raise PromotionError(f"v{target} is already the champion of {registry.name!r}")
    tags = _version_tags(registry, target)
    if not is_validated(tags) and not force:
        raise PromotionError(
            f"v{target} of {registry.name!r} never passed the validation gate "
            f"(validation: {tags.get(Tag.VALIDATION, 'not recorded')}, forced: "
            f"{tags.get(Tag.FORCED, 'false')}); pass --force (the force param) to roll back to it anyway"
        )
    event = alias_event(
        "rollback",
        reason or "rollback",
        by,
        via,
        [] if is_validated(tags) else ["forced: this version never passed the validation gate"],
        forced=not is_validated(tags),
    )
    promote(registry, target, current, event, move_challenger=False)
    registry.tag_version(target, {Tag.PROMOTION: f"rolled back to (from v{current})"})
    return {"model": registry.name, "from_version": current, "to_version": target, "forced": event["forced"]}


def approve(
    pipe: Pipeline,
    settings: Settings,
    *,
    version: str | None,
    reason: str,
    by: str,
    via: str,
) -> dict[str, Any]:
    """Promote the waiting challenger (or ``version``) to champion, compare-and-set against the
    champion it was validated against."""
    if not reason.strip():
        raise PromotionError("an approval needs a reason (--reason / the reason param)")
    registry = _registry(pipe, settings)
    if version is None:
        waiting = registry.get_alias(CHALLENGER)
        if waiting is None:
            raise PromotionError(f"model {registry.name!r} has no challenger waiting for approval")
        version = waiting.version
    version = str(version)
    tags = _version_tags(registry, version)
    champion = registry.get_alias(CHAMPION)
    if champion is not None and champion.version == version:
        raise PromotionError(f"v{version} is already the champion of {registry.name!r}")
    if not is_validated(tags):
        raise PromotionError(
            f"v{version} of {registry.name!r} did not pass the validation gate "
            f"(validation: {tags.get(Tag.VALIDATION, 'not recorded')}); only validated versions "
            "can be approved (use the training DAG's force_promote param to override the gate)"
        )
    compared = tags.get(Tag.COMPARED_TO_CHAMPION, "none")
    expected = None if compared == "none" else compared
    event = alias_event("approve", reason, by, via, recorded_reasons(tags))
    replaced = promote(registry, version, expected, event)
    registry.tag_version(
        version,
        {
            Tag.PROMOTION: f"approved by {by[:100]}",
            Tag.REPLACED: replaced.version if replaced else "none",
        },
    )
    return {"model": registry.name, "version": version, "replaced": replaced.version if replaced else None}
