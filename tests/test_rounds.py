"""The rounds service on its own: a real store and Melun's roads, no Flask and no socket."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from dispatch.bus import Bus
from dispatch.clock import ServiceClock
from dispatch.errors import ConfirmationRequired, StalePlanError, ValidationError
from dispatch.optimise import Break
from dispatch.rounds import PLAN_CHANGE, Rounds, RoundsOptions, present_breaks
from dispatch.routing import Router
from dispatch.store import Store

pytestmark = pytest.mark.slow

#: The demo day of issue 19, at 17:05 Paris time.
AT_1705 = "2026-12-06T17:05:00+01:00"
DAY = "2026-12-06"
BASE = (2.6555, 48.5400)
#: Homes around Melun (lon, lat).
HOMES = [
    (2.6600, 48.5430),
    (2.6450, 48.5350),
    (2.6700, 48.5480),
    (2.6380, 48.5460),
    (2.6520, 48.5300),
    (2.6650, 48.5360),
    (2.6480, 48.5500),
    (2.6750, 48.5410),
]


class World:
    """A store with teams and visits of ``DAY``, a rounds service at 17:05 and its bus log."""

    def __init__(self, tmp_path: Any, melun: Any) -> None:
        self.store = Store(tmp_path / "rounds.sqlite")
        self.router = Router.for_territory(melun)
        self.bus = Bus()
        self.events: list[dict[str, Any]] = []
        self.bus.subscribe(PLAN_CHANGE, self.events.append)
        self.rounds = Rounds(
            self.store,
            lambda: (self.router, melun.id),
            self.bus,
            clock=ServiceClock(start=AT_1705),
            options=RoundsOptions(solver_searches=1),
        )

    def team(self, name: str, **data: Any) -> dict[str, Any]:
        return self.store.add_team({"name": name, "base_lon": BASE[0], "base_lat": BASE[1], **data})

    def visit(self, name: str, home: int, window: tuple[str, str], **data: Any) -> dict[str, Any]:
        lon, lat = HOMES[home % len(HOMES)]
        return self.store.add_visit(
            {
                "day": DAY,
                "pseudonym": name,
                "lon": lon,
                "lat": lat,
                "duration_s": 1200,
                "windows": [list(window)],
                **data,
            }
        )

    def plan_whole_day(self) -> dict[str, Any]:
        """The day as planned the evening before, published."""
        proposal = self.rounds.optimise(DAY, by="test", time_limit_s=1, whole_day=True)
        self.rounds.apply(
            proposal["plan_id"],
            by="test",
            confirm_dropped=[d["visit_id"] for d in proposal["dropped"]],
        )
        plan = self.store.published_plan(DAY)
        assert plan is not None
        return plan

    def do_visits_before(self, plan: dict[str, Any], now_s: int) -> int:
        """Check in (and out) the visits planned to start before ``now_s``."""
        n = 0
        for route in plan["routes"]:
            for stop in route["stops"]:
                if stop["start_s"] >= now_s:
                    continue
                for kind in ("check_in", "check_out") if stop["end_s"] < now_s else ("check_in",):
                    self.store.add_visit_event(
                        stop["visit_id"],
                        {
                            "kind": kind,
                            "client_id": f"{kind}:{stop['visit_id']}",
                            "device_time_s": time.time(),
                        },
                        actor="test",
                        team_id=route["team_id"],
                    )
                n += 1
        return n


@pytest.fixture
def world(tmp_path, melun):  # type: ignore[no-untyped-def]
    w = World(tmp_path, melun)
    yield w
    w.store.close()


def served(plan: dict[str, Any]) -> set[int]:
    return {s["visit_id"] for r in plan["routes"] for s in r["stops"]}


def test_breaks_over_count_as_taken_and_open_ones_start_from_now() -> None:
    """At 14:00 a 12:00-14:30 meal break of 45 min can no longer be held (taken); at 13:00 it is
    planned between 13:00 and 14:30; a break still to come is unchanged."""
    lunch = Break(12 * 3600, 14 * 3600 + 1800, 45 * 60)
    evening = Break(17 * 3600, 18 * 3600, 20 * 60)
    assert present_breaks((lunch, evening), 14 * 3600) == (evening,)
    (open_lunch, _) = present_breaks((lunch, evening), 13 * 3600)
    assert open_lunch.earliest_start_s == 13 * 3600
    assert open_lunch.latest_end_s == lunch.latest_end_s
    assert present_breaks((lunch,), 10 * 3600) == (lunch,)


def test_replanning_at_1705_keeps_every_visit_a_team_can_still_serve(world: World) -> None:
    """The demo-day bug of issue 19: the afternoon re-optimisation kept breaks already over
    and timed the morning from now, and dropped the evening visits. Now the day planned in the
    morning, done until 17:05, re-optimised at 17:05, serves every visit it served; and a team
    that starts at 14:00 keeps its evening visits."""
    a = world.team("Équipe A", skills=["insulin"])
    b = world.team("Équipe B", skills=["insulin"])
    late = world.team("Équipe du soir", skills=["insulin"], shift_start="14:00", shift_end="21:30")
    for i in range(6):
        world.visit(f"MATIN-{i}", i, ("08:00", "11:30"), skills=["insulin"])
    for i in range(4):
        world.visit(f"MIDI-{i}", i + 2, ("11:30", "14:00"))
    for i in range(5):
        world.visit(f"SOIR-{i}", i + 3, ("17:30", "19:00"), skills=["insulin"])
    for i in range(3):
        world.visit(f"NUIT-{i}", i, ("18:00", "21:00"), preferred_team_id=late["id"])
    plan = world.plan_whole_day()
    assert len(served(plan)) == 18
    done = world.do_visits_before(plan, 17 * 3600 + 5 * 60)
    assert done >= 8

    proposal = world.rounds.optimise(DAY, by="coord", time_limit_s=1)
    assert proposal["base_plan_id"] == plan["id"]
    assert proposal["dropped"] == []
    assert proposal["comparison"]["proposed"]["visits_served"] == 18
    assert proposal["violations"] == []
    evening = {
        s["visit_id"]
        for r in proposal["plan"]["routes"]
        for s in r["stops"]
        if s["kind"] == "visit" and s["label"].startswith(("SOIR", "NUIT"))
    }
    assert len(evening) == 8
    # Nothing planned from now on starts in the past.
    for route in proposal["plan"]["routes"]:
        for s in route["stops"]:
            if s["status"] == "planned":
                assert s["start_s"] >= 17 * 3600 + 5 * 60, s
    change = world.rounds.apply(proposal["plan_id"], by="coord")
    assert change["applied"] and world.store.published_plan_id(DAY) == proposal["plan_id"]
    # What was done keeps the times it was done at.
    before = {s["visit_id"]: s["start_s"] for r in plan["routes"] for s in r["stops"]}
    after = world.store.published_plan(DAY)
    assert after is not None
    for r in after["routes"]:
        for s in r["stops"]:
            if before[s["visit_id"]] < 17 * 3600 + 5 * 60:
                assert s["start_s"] == before[s["visit_id"]], s
    assert world.events[-1]["plan_id"] == proposal["plan_id"]
    del a, b


def test_a_plan_that_drops_planned_visits_needs_them_named(world: World) -> None:
    """A visit that no team can serve any more (its window is over) is listed with its reason;
    applying needs its id in confirm_dropped, then it is announced as dropped."""
    world.team("Équipe A")
    world.visit("TOT", 0, ("16:00", "16:40"))
    world.visit("TARD", 1, ("17:30", "18:30"))
    plan = world.plan_whole_day()
    assert len(served(plan)) == 2
    proposal = world.rounds.optimise(DAY, by="coord", time_limit_s=1)
    (dropped,) = proposal["dropped"]
    assert dropped["label"] == "TOT" and "16:00–16:40 est déjà passé" in dropped["reason"]
    with pytest.raises(ConfirmationRequired) as refused:
        world.rounds.apply(proposal["plan_id"], by="coord")
    assert refused.value.code == "confirm_dropped" and "TOT" in refused.value.message
    assert refused.value.details["dropped"][0]["visit_id"] == dropped["visit_id"]
    assert world.store.published_plan_id(DAY) == plan["id"]
    change = world.rounds.apply(
        proposal["plan_id"], by="coord", confirm_dropped=[dropped["visit_id"]]
    )
    assert change["dropped"][0]["visit_id"] == dropped["visit_id"]
    assert world.events[-1]["dropped"][0]["label"] == "TOT"


def test_a_proposal_older_than_the_plan_is_merged_or_refused(world: World) -> None:
    """Two coordinators: a proposal computed before a move of the same team is refused with a
    clear message; one that changed only other teams is merged with the move."""
    a = world.team("Équipe A")
    b = world.team("Équipe B")
    for i in range(4):
        world.visit(f"V{i}", i, ("17:30", "20:00"))
    plan = world.plan_whole_day()
    proposal = world.rounds.optimise(DAY, by="coord1", time_limit_s=1)
    # Meanwhile coordinator 2 moves a visit.
    vid = plan["routes"][0]["stops"][0]["visit_id"]
    other = b["id"] if plan["routes"][0]["team_id"] == a["id"] else a["id"]
    world.rounds.move(DAY, vid, other, apply=True, force=True, by="coord2")
    moved_version = world.store.published_plan_id(DAY)
    draft = world.store.get_plan(proposal["plan_id"])
    base_routes = {r["team_id"]: [s["visit_id"] for s in r["stops"]] for r in plan["routes"]}
    new_routes = {r["team_id"]: [s["visit_id"] for s in r["stops"]] for r in draft["routes"]}
    if any(base_routes.get(t) != new_routes.get(t) for t in (a["id"], b["id"])):
        with pytest.raises(StalePlanError) as refused:
            world.rounds.apply(proposal["plan_id"], by="coord1")
        assert "coord2" in refused.value.message
        assert world.store.published_plan_id(DAY) == moved_version

    # A proposal that changes only a third team's round is merged with the move.
    c = world.team("Équipe C")
    extra = world.visit("C1", 5, ("18:00", "20:00"))
    base = world.store.published_plan(DAY)
    assert base is not None
    world.rounds.move(
        DAY, vid, a["id"] if other == b["id"] else b["id"], apply=True, force=True, by="coord2"
    )
    stale = world.store.save_plan(
        DAY,
        [
            *[{"team_id": r["team_id"], "stops": r["stops"]} for r in base["routes"]],
            {"team_id": c["id"], "stops": [{"visit_id": extra["id"]}]},
        ],
        base_plan_id=base["id"],
    )
    change = world.rounds.apply(stale["id"], by="coord1")
    merged = world.store.published_plan(DAY)
    assert merged is not None and change["plan_id"] == merged["id"]
    routes = {r["team_id"]: [s["visit_id"] for s in r["stops"]] for r in merged["routes"]}
    assert routes[c["id"]] == [extra["id"]]
    owner = a["id"] if other == b["id"] else b["id"]
    assert vid in routes[owner]


def test_a_move_is_judged_on_the_teams_concerned_and_forced_only_when_confirmed(
    world: World,
) -> None:
    """Moving an insulin visit to a team without the skill: the check names that team and the
    visit (names, not ids), in the language asked; applying needs force; then the change says
    which team gained and which lost the visit."""
    nurse = world.team("Infirmières", skills=["insulin"])
    aides = world.team("Aides")
    bystander = world.team("Autre équipe")
    insulin = world.visit("MME-INSULINE", 0, ("17:30", "19:00"), skills=["insulin"])
    world.visit("M-TOILETTE", 1, ("17:30", "19:00"))
    world.visit("HORS-DELAI", 2, ("16:00", "16:30"), team_id=bystander["id"])
    world.plan_whole_day()
    check = world.rounds.move(DAY, insulin["id"], aides["id"], by="coord", locale="en")
    assert check["feasible"] is False
    assert any("Aides" in v and "MME-INSULINE" in v and "skill" in v for v in check["violations"])
    assert not any("Autre équipe" in v for v in check["violations"])
    assert check["slot"]["team_id"] == aides["id"]
    with pytest.raises(ConfirmationRequired) as refused:
        world.rounds.move(DAY, insulin["id"], aides["id"], apply=True, by="coord")
    assert refused.value.code == "confirm_violations" and "compétence" in refused.value.message
    change = world.rounds.move(DAY, insulin["id"], aides["id"], apply=True, force=True, by="coord")
    assert change["change"] == "move"
    assert change["added"] == {str(aides["id"]): [insulin["id"]]}
    assert change["removed"] == {str(nurse["id"]): [insulin["id"]]}
    assert world.store.get_visit(insulin["id"])["team_id"] == aides["id"]
    assert world.events[-1]["teams"] == sorted([nurse["id"], aides["id"]])


def test_an_urgent_visit_gets_its_best_places_then_goes_where_chosen(world: World) -> None:
    """Insertion options are one per team, each with an arrival after now; inserting at the
    chosen one publishes the round with the visit."""
    a = world.team("Équipe A")
    b = world.team("Équipe B")
    for i in range(4):
        world.visit(f"V{i}", i, ("17:30", "20:00"))
    world.plan_whole_day()
    urgent = world.visit("URGENT", 6, ("17:10", "19:00"))
    options = world.rounds.insert_options(DAY, urgent["id"], n=3)
    assert {o["team_id"] for o in options["options"]} == {a["id"], b["id"]}
    assert all(o["feasible"] and o["arrival_s"] >= 17 * 3600 + 5 * 60 for o in options["options"])
    chosen = options["options"][-1]
    change = world.rounds.insert(
        DAY, urgent["id"], team_id=chosen["team_id"], position=chosen["position"], by="coord"
    )
    assert change["added"][str(chosen["team_id"])] == [urgent["id"]]
    assert change["slot"]["position"] == chosen["position"]
    assert world.store.get_visit(urgent["id"])["team_id"] == chosen["team_id"]


def test_teams_leave_from_where_they_are_and_cancelled_visits_leave_the_round(
    world: World,
) -> None:
    """A fresh position far from the base delays the team's next arrival; cancelling a visit
    of a round re-times the round and announces it as removed."""
    a = world.team("Équipe A")
    first = world.visit("PROCHE", 0, ("17:10", "20:00"))
    second = world.visit("SUIVANTE", 1, ("17:10", "20:00"))
    world.plan_whole_day()
    from_base = world.rounds.etas()[a["id"]]
    world.store.insert_positions(
        a["id"],
        [{"client_id": "far", "lon": 2.6150, "lat": 48.5150, "device_time_s": time.time()}],
    )
    from_far = world.rounds.etas()[a["id"]]
    assert min(from_far.values()) > min(from_base.values()) + 300
    cancelled = world.store.update_visit(first["id"], {"status": "cancelled"})
    change = world.rounds.visit_changed(cancelled, by="coord")
    assert change is not None and change["removed"] == {str(a["id"]): [first["id"]]}
    assert served(world.store.published_plan(DAY) or {"routes": []}) == {second["id"]}


def test_a_visit_given_to_another_team_by_hand_moves_round_and_phone(world: World) -> None:
    """Editing a visit's team (the visit form) is a move of the published round, announced to
    both teams; taking it out of any team leaves it waiting, announced as removed."""
    a = world.team("Équipe A")
    b = world.team("Équipe B")
    v = world.visit("EDITEE", 0, ("17:30", "20:00"), team_id=a["id"])
    world.visit("AUTRE", 1, ("17:30", "20:00"), team_id=b["id"])
    plan = world.plan_whole_day()
    owner = next(
        r["team_id"] for r in plan["routes"] if v["id"] in [s["visit_id"] for s in r["stops"]]
    )
    other = b["id"] if owner == a["id"] else a["id"]
    edited = world.store.update_visit(v["id"], {"team_id": other})
    change = world.rounds.visit_changed(edited, by="coord")
    assert change is not None and change["added"] == {str(other): [v["id"]]}
    assert world.store.get_visit(v["id"])["team_id"] == other
    edited = world.store.update_visit(v["id"], {"team_id": None, "status": "planned"})
    change = world.rounds.visit_changed(edited, by="coord")
    assert change is not None and change["removed"] == {str(other): [v["id"]]}
    assert v["id"] not in served(world.store.published_plan(DAY) or {"routes": []})


def test_the_hub_relays_a_change_to_the_rooms_concerned_in_one_batch(world: World) -> None:
    """A move reaches every coordinator (summary, both rounds, the visit) and each of the two
    teams (its round, its summary, the visit added or deleted) in a single batch per room; a
    third team hears nothing, and no phone gets a visit of another day."""
    from dispatch.live.hub import LiveHub, coordinator_room, team_room

    sent: list[tuple[str, dict[str, Any]]] = []
    hub = LiveHub(
        world.store,
        lambda event, payload, room: sent.append((room, payload)),
        service_clock=ServiceClock(start=AT_1705),
    )
    world.bus.subscribe(PLAN_CHANGE, hub.on_plan_change)
    a = world.team("Équipe A")
    b = world.team("Équipe B")
    c = world.team("Équipe C")
    v = world.visit("BOUGEE", 0, ("17:30", "20:00"), team_id=a["id"])
    world.visit("RESTE", 1, ("17:30", "20:00"), team_id=b["id"])
    world.visit("LOIN", 2, ("17:30", "20:00"), team_id=c["id"])
    plan = world.plan_whole_day()
    hub.fanout.flush()
    sent.clear()
    owner = next(
        r["team_id"] for r in plan["routes"] if v["id"] in [s["visit_id"] for s in r["stops"]]
    )
    target = next(t["id"] for t in (a, b, c) if t["id"] != owner)
    world.rounds.move(DAY, v["id"], target, apply=True, force=True, by="coord")
    tomorrow = world.store.add_visit(
        {
            "day": "2026-12-07",
            "pseudonym": "DEMAIN",
            "lon": HOMES[0][0],
            "lat": HOMES[0][1],
            "duration_s": 1200,
            "windows": [["09:00", "10:00"]],
            "team_id": target,
        }
    )
    hub.on_visit(tomorrow)
    hub.fanout.flush()
    rooms = {room: payload for room, payload in sent}
    coord = rooms[coordinator_room(1)]
    assert {p["team_id"] for p in coord["plans"]} == {owner, target}
    assert coord["changes"][-1]["by"] == "coord"
    assert {x["id"] for x in coord["visits"]} == {v["id"], tomorrow["id"]}
    gained, lost = rooms[team_room(target)], rooms[team_room(owner)]
    assert gained["changes"][-1]["added"] == [v["id"]] and gained["plans"][0]["team_id"] == target
    assert [x["id"] for x in gained["visits"]] == [v["id"]]  # not tomorrow's visit
    assert lost["changes"][-1]["removed"] == [v["id"]]
    assert lost["plans"][0]["stops"] == [] or v["id"] not in [
        s["visit_id"] for s in lost["plans"][0]["stops"]
    ]
    assert {"id": v["id"], "deleted": True} in lost["visits"]
    third = next(t["id"] for t in (a, b, c) if t["id"] not in (owner, target))
    assert team_room(third) not in rooms


def test_positions_count_the_round_as_listed_done_visits_included(world: World) -> None:
    """Place 0 is before the first visit of the round as the screens list it: a place before a
    visit already done is refused with a message naming the team and that visit; place 1 after
    it is accepted and comes back as place 1."""
    a = world.team("Équipe A")
    b = world.team("Équipe B")
    world.visit("FAITE", 0, ("09:00", "10:00"), team_id=a["id"])
    world.visit("PLUS-TARD", 1, ("17:30", "20:00"), team_id=a["id"])
    moved = world.visit("A-DEPLACER", 2, ("17:30", "20:00"), team_id=b["id"])
    plan = world.plan_whole_day()
    world.do_visits_before(plan, 12 * 3600)
    with pytest.raises(ValidationError) as refused:
        world.rounds.move(DAY, moved["id"], a["id"], position=0, by="coord")
    assert "Équipe A" in refused.value.message and "FAITE" in refused.value.message
    with pytest.raises(ValidationError) as refused:
        world.rounds.move(DAY, moved["id"], a["id"], position=5, by="coord", locale="en")
    assert "does not exist in Équipe A's round" in refused.value.message
    check = world.rounds.move(DAY, moved["id"], a["id"], position=1, by="coord")
    assert check["slot"] == {**check["slot"], "team_id": a["id"], "position": 1}


def test_the_matrix_cache_extends_to_new_places_with_the_same_figures(melun: Any) -> None:
    """Times and distances from the cache, built in three steps (a reset included), equal the
    router's own table over the same nodes, in the order asked, duplicates included."""
    from dispatch.rounds.day import MatrixCache

    router = Router.for_territory(melun)
    lons = np.array([p[0] for p in HOMES] + [BASE[0]])
    lats = np.array([p[1] for p in HOMES] + [BASE[1]])
    nodes, _ = router.snap_many(lons, lats)
    cache = MatrixCache(router, max_nodes=8)
    cache.matrices(nodes[:3])
    cache.matrices(nodes[2:6])
    assert len(cache) == 6
    asked = np.concatenate([nodes[5:], nodes[:2], nodes[:1]])
    got_t, got_d = cache.matrices(asked)  # 6 cached + 3 new > 8: starts again from these
    want_t, want_d = router.matrix_with_distance(asked, asked)
    assert np.array_equal(got_t, want_t) and np.array_equal(got_d, want_d)
    got_t, got_d = cache.matrices(nodes[[1, 6, 1]])
    want_t, want_d = router.matrix_with_distance(nodes[[1, 6, 1]], nodes[[1, 6, 1]])
    assert np.array_equal(got_t, want_t) and np.array_equal(got_d, want_d)


def test_the_service_builds_each_day_on_its_kept_matrices(world: World) -> None:
    """Building the day again computes no road table: the service's cache already holds every
    place (the change that made a move take a second on Haute-Corse)."""
    world.team("Équipe A")
    world.visit("V", 0, ("17:30", "20:00"))
    world.rounds.day(DAY)
    cache = world.rounds._matrices
    assert cache is not None and len(cache) == 2
    calls: list[int] = []
    original = cache._extend
    cache._extend = lambda new: (calls.append(len(new)), original(new))  # type: ignore[method-assign]
    world.rounds.day(DAY)
    world.rounds.day(DAY)
    assert calls == []
    world.visit("NOUVELLE", 3, ("17:30", "20:00"))
    world.rounds.day(DAY)
    assert calls == [1]


def test_a_forced_move_into_an_empty_round_keeps_the_teams_break(world: World) -> None:
    """Moving a visit the team cannot take into its empty round, at the best place, says only
    what the move breaks (the missing skill), not a missing break: the break is planned."""
    world.team("Infirmières", skills=["insulin"], shift_start="08:00", shift_end="20:00")
    empty = world.team("Aides", shift_start="14:00", shift_end="21:30")  # a break 16:30-19:00
    insulin = world.visit("MME-INSULINE", 0, ("17:30", "19:00"), skills=["insulin"])
    plan = world.plan_whole_day()
    assert empty["id"] not in [r["team_id"] for r in plan["routes"]]
    with_best = world.rounds.move(DAY, insulin["id"], empty["id"], by="coord", locale="en")
    assert with_best["violations"] and all("break" not in v for v in with_best["violations"])


def test_an_optional_visit_reaches_the_optimiser_as_optional(world: World) -> None:
    """A visit stored with mandatory false (the intake form's « facultative ») is optional for
    the optimiser; the others stay mandatory; the flag reads back as a boolean."""
    world.team("Équipe A")
    optional = world.visit("PEUT-ATTENDRE", 0, ("17:30", "20:00"), mandatory="non")
    must = world.visit("URGENTE", 1, ("17:30", "20:00"))
    assert optional["mandatory"] is False and must["mandatory"] is True
    visits = world.rounds.day(DAY).problem.visits_by_id()
    assert visits[str(optional["id"])].mandatory is False
    assert visits[str(must["id"])].mandatory is True
