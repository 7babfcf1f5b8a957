"""Rounds that stay true all day: build a day from the store, solve, check, save, apply, publish."""

from typing import Any

from dispatch.rounds.day import Day, Fix, build_day, present_breaks, present_team
from dispatch.rounds.service import CHANGES, ETAS, PLAN_CHANGE, Rounds, RoundsOptions


def open_rounds(
    settings: Any, store: Any, *, territory: str | None = None, bus: Any = None
) -> Rounds:
    """A rounds service over ``store`` for the CLI and the demo (the web app makes its own).

    The territory (default: the settings') is loaded on first use.
    """
    from dispatch.clock import ServiceClock
    from dispatch.territory import load_definition, load_territory

    territory_id = territory or settings.territory
    loaded: list[Any] = []

    def router_source() -> tuple[Any, str]:
        if not loaded:
            from dispatch.routing import Router

            loaded.append(Router.for_territory(load_territory(territory_id, settings)))
        return loaded[0], territory_id

    try:
        timezone = str(
            load_definition(territory_id, settings).extra.get("timezone") or "Europe/Paris"
        )
    except Exception:
        timezone = "Europe/Paris"
    return Rounds(
        store,
        router_source,
        bus,
        clock=ServiceClock(timezone=timezone, start=settings.clock_start),
        options=RoundsOptions.from_settings(settings),
    )


__all__ = [
    "CHANGES",
    "ETAS",
    "PLAN_CHANGE",
    "Day",
    "Fix",
    "Rounds",
    "RoundsOptions",
    "build_day",
    "present_breaks",
    "open_rounds",
    "present_team",
]
