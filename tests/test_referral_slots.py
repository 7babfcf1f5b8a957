"""Slots over the coming days for a referrer's request, and their booking into the rounds:
the time of day and the period are kept, at most two a day, urgent requests get the earliest
days, a booked slot is on the team's published round at its time, a slot taken meanwhile is
refused, and the days kept between requests see what changed."""

from __future__ import annotations

from typing import Any

import pytest

from dispatch.clock import ServiceClock
from dispatch.errors import ConflictError, ValidationError
from dispatch.referrals.slots import DaySlot, SlotFinder, parse_slot_id
from dispatch.rounds import Rounds, RoundsOptions
from dispatch.routing import Router
from dispatch.store import Store

#: Two days (Monday, Tuesday), planned the evening before.
DAY1, DAY2 = "2027-01-04", "2027-01-05"
EVE = "2027-01-03T18:00:00+01:00"
BASE = (2.6555, 48.5400)
NEAR = [(2.6600, 48.5430), (2.6450, 48.5350), (2.6520, 48.5300)]
#: Where the requests are: away from the base, next to the Tuesday round's first visit.
FAR = (2.6950, 48.5520)
FAR_NEIGHBOUR = (2.6945, 48.5515)
H = 3600


class World:
    """One structure, one team (07:00-19:00), Melun's roads; rounds published by insertion."""

    def __init__(self, tmp_path: Any, router: Router, territory_id: str) -> None:
        self.store = Store(tmp_path / "slots.sqlite")
        self.rounds = Rounds(
            self.store,
            lambda: (router, territory_id),
            clock=ServiceClock(start=EVE),
            options=RoundsOptions(solver_searches=1),
        )
        self.team = self.store.add_team(
            {
                "name": "Équipe A",
                "base_lon": BASE[0],
                "base_lat": BASE[1],
                "shift_start": "07:00",
                "shift_end": "19:00",
            },
            structure_id=1,
        )["id"]
        self.finder = SlotFinder(self.rounds)

    def visit(self, day: str, lonlat: tuple[float, float], window: tuple[int, int]) -> int:
        return int(
            self.store.add_visit(
                {
                    "day": day,
                    "pseudonym": f"P{lonlat[0]:.4f}",
                    "lon": lonlat[0],
                    "lat": lonlat[1],
                    "duration_s": 1800,
                    "windows": [list(window)],
                },
                structure_id=1,
            )["id"]
        )

    def in_round(self, day: str, lonlat: tuple[float, float], window: tuple[int, int]) -> int:
        vid = self.visit(day, lonlat, window)
        self.rounds.insert(day, vid, team_id=self.team, urgent=False, by="test", structure_id=1)
        return vid

    def propose(self, **kw: Any) -> list[DaySlot]:
        args: dict[str, Any] = {
            "structure_id": 1,
            "lonlat": FAR,
            "duration_s": 1800,
            "from_day": DAY1,
            "days": 2,
            "n": 5,
        }
        return self.finder.propose(**{**args, **kw})

    def stops(self, day: str) -> list[dict[str, Any]]:
        plan = self.store.published_plan(day, structure_id=1)
        assert plan is not None
        return [s for r in plan["routes"] for s in r["stops"] if r["team_id"] == self.team]


@pytest.fixture(scope="module")
def router(melun: Any) -> Router:
    return Router.for_territory(melun)


@pytest.fixture
def world(tmp_path: Any, router: Router, melun: Any):  # type: ignore[no-untyped-def]
    w = World(tmp_path, router, melun.id)
    yield w
    w.store.close()


@pytest.fixture
def two_rounds(world: World) -> World:
    """Monday: a round near the base (the request is a detour); Tuesday: a round whose first
    visit is next door to the request (nearly no detour)."""
    world.in_round(DAY1, NEAR[0], (8 * H, 9 * H))
    world.in_round(DAY1, NEAR[1], (10 * H, 11 * H))
    world.in_round(DAY2, FAR_NEIGHBOUR, (9 * H, 10 * H))
    world.in_round(DAY2, NEAR[2], (11 * H, 12 * H))
    return world


def test_slot_ids_round_trip_and_bad_ones_are_refused() -> None:
    slot = DaySlot(DAY1, 7, 0, 9 * H, 9 * H + 600, 9 * H + 1800, 120)
    assert slot.slot_id == f"{DAY1}.7.{9 * H}"
    assert parse_slot_id(slot.slot_id) == (DAY1, 7, 9 * H)
    for bad in ("", "2027-01-04.7", "2027-13-04.7.100", "2027-01-04.x.100", None, "a.b.c.d"):
        with pytest.raises(ValidationError, match="slot_id"):
            parse_slot_id(bad)


def test_slots_keep_to_the_time_of_day_and_the_period_two_a_day(two_rounds: World) -> None:
    afternoon = (14 * H, 18 * H)
    slots = two_rounds.propose(window_s=afternoon)
    assert slots, "the afternoons are free"
    assert {s.day for s in slots} == {DAY1, DAY2}
    for s in slots:
        assert 14 * H <= s.start_s <= s.latest_start_s
        assert s.latest_start_s + 1800 <= 18 * H and s.end_s == s.start_s + 1800
        assert s.team_id == two_rounds.team
    by_day = [sum(1 for s in slots if s.day == d) for d in (DAY1, DAY2)]
    assert max(by_day) <= 2 and len(slots) <= 4
    # Slots of a day are apart: a referrer sees times, not teams.
    for d in (DAY1, DAY2):
        starts = sorted(s.start_s for s in slots if s.day == d)
        assert all(b - a >= 1800 for a, b in zip(starts, starts[1:], strict=False))
    # Chronological order; a one-day period stays in it; past days are skipped.
    assert slots == sorted(slots, key=lambda s: (s.day, s.start_s))
    # Monday's round leaves room before, between and after its two visits: two are offered.
    monday = two_rounds.propose(days=1)
    assert len(monday) == 2 and {s.day for s in monday} == {DAY1}
    # Today (the clock says 18:00 on the 3rd): nothing before now; the days before, nothing.
    today = two_rounds.propose(from_day="2027-01-01", days=3)
    assert today and {s.day for s in today} == {"2027-01-03"}
    assert all(s.start_s >= 18 * H for s in today)
    assert two_rounds.propose(from_day="2027-01-01", days=2) == []
    # A visit longer than the time of day asked has no slot.
    assert two_rounds.propose(window_s=(14 * H, 14 * H + 900)) == []


def test_urgent_requests_get_the_earliest_days_routine_ones_the_cheapest(
    two_rounds: World,
) -> None:
    morning = (8 * H, 12 * H)
    routine = two_rounds.propose(window_s=morning, n=2)
    urgent = two_rounds.propose(window_s=morning, n=2, urgent=True)
    assert [s.day for s in urgent] == [DAY1, DAY1]
    # Tuesday's round passes next door: the routine request's slots are there.
    assert [s.day for s in routine] == [DAY2, DAY2]
    assert max(s.extra_travel_s for s in routine) < min(s.extra_travel_s for s in urgent)


def test_a_booked_slot_is_on_the_published_round_at_its_time(two_rounds: World) -> None:
    # A request for 14:00-14:30 exactly: the visit's window leaves no room to slide.
    exactly = (14 * H, 14 * H + 1800)
    slot = two_rounds.propose(window_s=exactly, n=1)[0]
    assert (slot.start_s, slot.latest_start_s) == (14 * H, 14 * H)
    fields = {"pseudonym": "Demande 1", "lon": FAR[0], "lat": FAR[1], "duration_s": 1800}
    vid = two_rounds.finder.book(
        structure_id=1, slot_id=slot.slot_id, visit_fields=fields, by="test", window_s=exactly
    )
    visit = two_rounds.store.get_visit(vid)
    assert visit["day"] == slot.day
    assert slot.start_s <= visit["windows"][0][0] <= visit["windows"][0][1] <= slot.start_s + 60
    stop = next(s for s in two_rounds.stops(slot.day) if s["visit_id"] == vid)
    assert stop["start_s"] == slot.start_s
    # Another request for the same slot finds it taken; nothing of it is left in a round.
    with pytest.raises(ConflictError) as taken:
        two_rounds.finder.book(
            structure_id=1,
            slot_id=slot.slot_id,
            visit_fields={**fields, "pseudonym": "Demande 2"},
            by="test",
            window_s=exactly,
        )
    assert taken.value.code == "slot_taken" and taken.value.status == 409
    assert sum(1 for s in two_rounds.stops(slot.day) if s["start_s"] == slot.start_s) == 1
    # The next proposals no longer offer that time.
    again = two_rounds.propose(window_s=exactly)
    assert all((s.day, s.start_s) != (slot.day, slot.start_s) for s in again), (
        "the booked time is offered again"
    )


def test_without_a_published_round_the_team_of_the_day_is_offered_and_the_visit_waits(
    world: World,
) -> None:
    waiting = world.visit(DAY1, NEAR[0], (8 * H, 9 * H))
    slots = world.propose(days=1, window_s=(8 * H, 12 * H))
    assert slots and all(s.team_id == world.team for s in slots)
    # An empty round: the request's own visit is the only one, from the team's first hour.
    assert slots[0].start_s < 9 * H
    patient = world.store.add_patients(
        [
            {
                "structure_id": 1,
                "pseudonym": "Patient R",
                "family_name": "Durand",
                "given_name": "Anne",
                "birth_date": "1940-05-02",
                "lon": FAR[0],
                "lat": FAR[1],
                "geocode_precision": "street",
            }
        ],
        actor="test",
    )[0]
    fields = {
        "pseudonym": "Demande",
        "lon": FAR[0],
        "lat": FAR[1],
        "duration_s": 1800,
        "patient_id": patient["id"],
    }
    with pytest.raises(ValidationError, match="patient"):
        world.finder.book(
            structure_id=1,
            slot_id=slots[0].slot_id,
            visit_fields={**fields, "patient_id": patient["id"] + 99},
            by="t",
        )
    vid = world.finder.book(structure_id=1, slot_id=slots[0].slot_id, visit_fields=fields, by="t")
    assert world.store.published_plan(DAY1, structure_id=1) is None
    row = world.store.get_visit(vid)
    assert row["status"] == "planned" and row["windows"][0][0] == slots[0].start_s
    assert row["patient_id"] == patient["id"] and waiting != vid
    # Until the day is planned, the time given is not offered again (the visit free to move,
    # « waiting », does not hold a time).
    again = world.propose(days=1, window_s=(8 * H, 12 * H))
    assert slots[0].start_s not in [s.start_s for s in again]
    with pytest.raises(ConflictError, match="no longer free"):
        world.finder.book(
            structure_id=1,
            slot_id=slots[0].slot_id,
            visit_fields={**fields, "pseudonym": "Demande 2"},
            by="t",
        )
    assert len(world.store.list_visits(day=DAY1, structures=[1])) == 2


def test_the_days_kept_see_a_visit_added_and_a_round_changed(two_rounds: World) -> None:
    finder = two_rounds.finder
    before = two_rounds.propose(window_s=(14 * H, 16 * H), days=1)
    assert before and before[0].start_s < 15 * H
    version = finder.version(1, DAY1)
    # A visit added to the day (not yet in a round) changes the day's version.
    vid = two_rounds.visit(DAY1, FAR_NEIGHBOUR, (14 * H, 14 * H + 600))
    assert finder.version(1, DAY1) != version
    # Once in the round, the team is there at 14:00: the slots move.
    two_rounds.rounds.insert(DAY1, vid, team_id=two_rounds.team, by="test", structure_id=1)
    after = two_rounds.propose(window_s=(14 * H, 16 * H), days=1)
    assert all(s.start_s >= 14 * H + 600 for s in after)
    assert [s.start_s for s in after] != [s.start_s for s in before]


def test_a_day_s_best_slot_is_the_one_today_s_single_day_search_gives(two_rounds: World) -> None:
    """The days kept and the request's roads added apart give the same answer as building the
    day with the request's place (POST /api/dispatch/slots)."""
    from dispatch.optimise.model import Visit
    from dispatch.optimise.realtime import propose_slots

    for day in (DAY1, DAY2):
        d = two_rounds.rounds.day(day, structure_id=1, extra=[FAR])
        visit = Visit(id="new", location=d.extra_locations[0], duration_s=1800)
        single = propose_slots(d.problem, d.current, visit, n=1)[0]
        ours = two_rounds.propose(from_day=day, days=1, n=1)[0]
        assert (ours.team_id, ours.cost_s) == (int(single.team_id), single.cost_s)
        # The same start, rounded up to 5 minutes when its range allows.
        assert single.start_s <= ours.start_s < single.start_s + 300
        assert ours.start_s % 300 == 0 or ours.start_s == ours.latest_start_s


def test_two_bookings_of_one_slot_at_once_one_gets_it(two_rounds: World) -> None:
    """Two referrers book the same slot at the same moment: one visit is placed, the other
    is told the slot is taken, and the round holds one visit at that time."""
    import threading

    exactly = (15 * H, 15 * H + 1800)
    slot = two_rounds.propose(window_s=exactly, n=1, days=1)[0]
    results: list[Any] = []

    def book(name: str) -> None:
        fields = {"pseudonym": name, "lon": FAR[0], "lat": FAR[1], "duration_s": 1800}
        try:
            results.append(
                two_rounds.finder.book(
                    structure_id=1,
                    slot_id=slot.slot_id,
                    visit_fields=fields,
                    by=name,
                    window_s=exactly,
                )
            )
        except ConflictError as e:
            results.append(e.code)

    threads = [threading.Thread(target=book, args=(f"R{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str).count("slot_taken") == 1
    booked = next(r for r in results if isinstance(r, int))
    assert [s["visit_id"] for s in two_rounds.stops(DAY1) if s["start_s"] == slot.start_s] == [
        booked
    ]
    with pytest.raises(ValidationError, match="from_day"):
        two_rounds.propose(from_day="04/01/2027")
    with pytest.raises(ValidationError, match="cannot be reached by road"):
        two_rounds.propose(lonlat=(2.35, 48.85))  # Paris: outside Melun's territory
    with pytest.raises(ValidationError, match="n must be"):
        two_rounds.propose(n=0)


def test_slot_times_are_rounded_up_to_five_minutes_within_their_range(two_rounds: World) -> None:
    slots = two_rounds.propose(window_s=(8 * H, 18 * H), n=5)
    assert slots
    for s in slots:
        assert s.start_s % 300 == 0 and s.latest_start_s % 300 == 0, s
        assert s.start_s <= s.latest_start_s and s.end_s == s.start_s + 1800
    # Booking one keeps its rounded start and its whole range as the visit's window.
    slot = slots[0]
    fields = {"pseudonym": "Demande R", "lon": FAR[0], "lat": FAR[1], "duration_s": 1800}
    vid = two_rounds.finder.book(
        structure_id=1,
        slot_id=slot.slot_id,
        visit_fields=fields,
        by="test",
        latest_start_s=slot.latest_start_s,
    )
    window = two_rounds.store.get_visit(vid)["windows"][0]
    assert window[0] == slot.start_s and window[1] >= slot.latest_start_s


def test_a_slot_booked_on_a_day_not_planned_is_held_by_its_team(world: World) -> None:
    """Two teams alike, no published round: a slot booked on the second team keeps that team
    (its preferred team) and its time there is not offered again; a later booking on that
    team leaves the first visit inside its promised window."""
    team_b = world.store.add_team(
        {
            "name": "Équipe B",
            "base_lon": BASE[0],
            "base_lat": BASE[1],
            "shift_start": "07:00",
            "shift_end": "19:00",
        },
        structure_id=1,
    )["id"]
    morning = (8 * H, 12 * H)
    first = world.propose(days=1, window_s=morning)[0]
    on_b = world.finder.check(
        structure_id=1,
        slot_id=f"{DAY1}.{team_b}.{first.start_s}",
        lonlat=FAR,
        duration_s=1800,
        window_s=morning,
    )
    fields = {"pseudonym": "Demande 1", "lon": FAR[0], "lat": FAR[1], "duration_s": 1800}
    vid = world.finder.book(
        structure_id=1,
        slot_id=on_b.slot_id,
        visit_fields=fields,
        by="t",
        window_s=morning,
        latest_start_s=on_b.latest_start_s,
    )
    visit = world.store.get_visit(vid)
    assert visit["preferred_team_id"] == team_b and visit["team_id"] is None
    assert visit["windows"] == [[on_b.start_s, on_b.latest_start_s]]
    again = world.propose(days=1, window_s=morning, lonlat=FAR_NEIGHBOUR)
    assert on_b.slot_id not in [s.slot_id for s in again], "the booked time is offered again"
    # A second booking on team B, next door: the first visit stays in its window.
    later = next(s for s in again if s.team_id == team_b)
    world.finder.book(
        structure_id=1,
        slot_id=later.slot_id,
        visit_fields={
            **fields,
            "pseudonym": "Demande 2",
            "lon": FAR_NEIGHBOUR[0],
            "lat": FAR_NEIGHBOUR[1],
        },  # fmt: skip
        by="t",
        window_s=morning,
        latest_start_s=later.latest_start_s,
    )
    base = world.finder._base(1, DAY1)
    stops = {s.visit_id: s for s in base.states[str(team_b)].timing.stops}
    assert str(vid) in stops, "the first visit left its team's round"
    assert on_b.start_s <= stops[str(vid)].start_s <= on_b.latest_start_s


def test_a_booking_keeps_the_window_offered_or_is_refused(two_rounds: World) -> None:
    """The arrival window promised is the slot as offered: once the round leaves less room
    after its start, booking it is refused rather than promising a narrower window; a later
    booking never moves an earlier booked visit out of its window."""
    afternoon = (14 * H, 17 * H)
    slot = two_rounds.propose(window_s=afternoon, days=1, n=1)[0]
    assert slot.latest_start_s - slot.start_s >= 1800
    # Meanwhile a visit next door is put in the round 40 minutes after the slot's start.
    at = slot.start_s + 2400
    two_rounds.in_round(DAY1, FAR_NEIGHBOUR, (at, at + 60))
    fields = {"pseudonym": "Demande W", "lon": FAR[0], "lat": FAR[1], "duration_s": 1800}
    with pytest.raises(ConflictError) as taken:
        two_rounds.finder.book(
            structure_id=1,
            slot_id=slot.slot_id,
            visit_fields=fields,
            by="t",
            window_s=afternoon,
            latest_start_s=slot.latest_start_s,
        )
    assert taken.value.code == "slot_taken"
    # A slot offered now is booked with its whole window; the next booking keeps it.
    first = two_rounds.propose(window_s=afternoon, days=1, n=1)[0]
    vid = two_rounds.finder.book(
        structure_id=1,
        slot_id=first.slot_id,
        visit_fields=fields,
        by="t",
        window_s=afternoon,
        latest_start_s=first.latest_start_s,
    )
    assert two_rounds.store.get_visit(vid)["windows"] == [[first.start_s, first.latest_start_s]]
    second = two_rounds.propose(window_s=afternoon, days=1, n=1)[0]
    two_rounds.finder.book(
        structure_id=1,
        slot_id=second.slot_id,
        visit_fields={**fields, "pseudonym": "Demande X"},
        by="t",
        window_s=afternoon,
        latest_start_s=second.latest_start_s,
    )
    stop = next(s for s in two_rounds.stops(DAY1) if s["visit_id"] == vid)
    assert first.start_s <= stop["start_s"] <= first.latest_start_s
