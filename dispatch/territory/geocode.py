"""Offline geocoding from a territory's named roads, address tags and communes."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from dispatch.errors import ValidationError
from dispatch.territory.model import Territory
from dispatch.territory.speeds import local_xy_m

#: Common French street-type abbreviations, expanded before matching.
ABBREVIATIONS = {
    "av": "avenue",
    "ave": "avenue",
    "bd": "boulevard",
    "bld": "boulevard",
    "blvd": "boulevard",
    "ch": "chemin",
    "chem": "chemin",
    "r": "rue",
    "rte": "route",
    "pl": "place",
    "imp": "impasse",
    "all": "allee",
    "sq": "square",
    "crs": "cours",
    "fbg": "faubourg",
    "qu": "quai",
    "st": "saint",
    "ste": "sainte",
    "pte": "porte",
    "res": "residence",
    "lot": "lotissement",
    "mte": "montee",
    "rn": "route nationale",
    "rd": "route departementale",
    "rt": "route",
}
_SMALL_WORDS = {"de", "du", "des", "la", "le", "les", "l", "d", "a", "au", "aux", "et"}
_HOUSENUMBER = re.compile(r"^\s*(\d+)\s*(bis|ter|quater|[a-d])?\b[\s,]*", re.IGNORECASE)
_POSTCODE = re.compile(r"\b\d{5}\b")


def normalise(text: str) -> str:
    """Lower case, accents and punctuation removed, abbreviations expanded."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    plain = plain.replace("œ", "oe").replace("æ", "ae")
    tokens = re.sub(r"[^a-z0-9]+", " ", plain).split()
    return " ".join(ABBREVIATIONS.get(t, t) for t in tokens)


def _key(text: str) -> str:
    """The normalised text without small words ("avenue liberation" for "Av. de la Libération")."""
    return " ".join(t for t in normalise(text).split() if t not in _SMALL_WORDS)


@dataclass(frozen=True)
class GeocodeResult:
    """One answer: a label, a lon/lat, a score in 0-1 and how precise the point is."""

    label: str
    lon: float
    lat: float
    score: float
    precision: str  # "housenumber" | "street" | "commune"
    commune: str = ""  # INSEE code

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "lon": self.lon,
            "lat": self.lat,
            "score": round(self.score, 3),
            "precision": self.precision,
            "commune": self.commune,
        }


class Geocoder:
    """Geocode free text ("12 av. de la Libération, Bastia") against one territory.

    Street precision: the middle of the named road (its arc nearest to the road's centre)
    within the named commune; house-number precision where the source had address tags;
    commune precision as the last resort. Matching ignores case, accents, punctuation and
    small words, and tolerates typos.
    """

    def __init__(self, territory: Territory) -> None:
        self.territory = territory
        graph = territory.graph
        communes = territory.communes
        self._commune_keys: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(communes):
            self._commune_keys[_key(c.name)].append(i)
        # One street per (road name, commune): its arcs' midpoints.
        named = np.flatnonzero(graph.arc_name >= 0)
        mid_lon = (
            graph.node_lon[graph.arc_tail[named]] + graph.node_lon[graph.arc_head[named]]
        ) / 2
        mid_lat = (
            graph.node_lat[graph.arc_tail[named]] + graph.node_lat[graph.arc_head[named]]
        ) / 2
        commune_of = territory.node_commune[graph.arc_tail[named]]
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for j, (name_i, ci) in enumerate(zip(graph.arc_name[named], commune_of, strict=True)):
            groups[(int(name_i), int(ci))].append(j)
        self._streets: dict[str, list[tuple[str, int, float, float]]] = defaultdict(list)
        for (name_i, ci), members in groups.items():
            lon = mid_lon[members]
            lat = mid_lat[members]
            xy = local_xy_m(lon, lat)
            centre = xy.mean(axis=0)
            k = int(np.argmin(((xy - centre) ** 2).sum(axis=1)))
            name = graph.names[name_i]
            self._streets[_key(name)].append((name, ci, float(lon[k]), float(lat[k])))
        self._street_keys = list(self._streets)
        self._centres = self._commune_centres()
        # Addresses: street key -> [(number, street, lon, lat, commune index)]
        self._addresses: dict[str, list[tuple[str, str, float, float, int]]] = defaultdict(list)
        if territory.addresses:
            from scipy.spatial import cKDTree

            lat0 = float(np.mean(graph.node_lat))
            tree = cKDTree(local_xy_m(graph.node_lon, graph.node_lat, lat0_deg=lat0))
            lons = np.array([a[2] for a in territory.addresses])
            lats = np.array([a[3] for a in territory.addresses])
            _, nearest = tree.query(local_xy_m(lons, lats, lat0_deg=lat0))
            for a, node in zip(territory.addresses, nearest, strict=True):
                ci = int(territory.node_commune[node])
                self._addresses[_key(a[1])].append((a[0], a[1], a[2], a[3], ci))

    def _commune_centres(self) -> dict[int, tuple[float, float]]:
        """Per commune, its most populated spot (the node heading the densest 500 m cell).

        The commune's own point is only "somewhere inside" it; people look for the village.
        """
        t = self.territory
        graph = t.graph
        has = np.flatnonzero((t.node_commune >= 0) & (t.node_population > 0))
        if len(has) == 0:
            return {}
        xy = local_xy_m(graph.node_lon[has], graph.node_lat[has])
        cells = np.floor(xy / 500.0).astype(np.int64)
        cell_id = (cells[:, 0] - cells[:, 0].min()) * 1_000_003 + (cells[:, 1] - cells[:, 1].min())
        key = t.node_commune[has].astype(np.int64) * (1 << 40) + cell_id
        uniq, inverse = np.unique(key, return_inverse=True)
        cell_pop = np.bincount(inverse, t.node_population[has])
        best: dict[int, tuple[float, int]] = {}
        for u, pop in zip(uniq, cell_pop, strict=True):
            ci = int(u >> 40)
            if ci not in best or pop > best[ci][0]:
                best[ci] = (float(pop), int(u))
        out = {}
        for ci, (_, u) in best.items():
            members = has[key == u]
            node = int(members[np.argmax(t.node_population[members])])
            out[ci] = (float(graph.node_lon[node]), float(graph.node_lat[node]))
        return out

    # -- parsing -----------------------------------------------------------------------------
    def _split_commune(self, text: str) -> tuple[str, list[int]]:
        """Separate a trailing commune name; return (rest, commune indices)."""
        whole = self._match_commune(_POSTCODE.sub(" ", text), fuzzy=False)
        if whole:
            return "", whole
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if len(parts) >= 2:
            for i in range(len(parts) - 1, 0, -1):
                found = self._match_commune(_POSTCODE.sub(" ", parts[i]))
                if found:
                    return ", ".join(parts[:i]), found
        words = _POSTCODE.sub(" ", text).split()
        for size in range(min(5, len(words) - 1), 0, -1):  # "rue Napoléon Bastia"
            found = self._match_commune(" ".join(words[-size:]), fuzzy=False)
            if found:
                return " ".join(words[:-size]), found
        return text, []

    def _match_commune(self, text: str, *, fuzzy: bool = True) -> list[int]:
        key = _key(text)
        if not key:
            return []
        if key in self._commune_keys:
            return self._commune_keys[key]
        if fuzzy:
            close = difflib.get_close_matches(key, list(self._commune_keys), n=1, cutoff=0.85)
            if close:
                return self._commune_keys[close[0]]
        return []

    # -- public ------------------------------------------------------------------------------
    def geocode(
        self, text: str, *, limit: int = 5, keep_number: bool = False
    ) -> list[GeocodeResult]:
        """Best matches for ``text``, best first (empty when nothing matches).

        Parameters
        ----------
        text
            Free text: "[number] street[, commune]", or just a commune.
        limit
            At most this many results.
        keep_number
            A house number typed but placed at the street's middle stays in the label
            (« 12 Avenue de la Libération, Bastia », precision "street"), written as in an
            address (« 12 bis »); by default such a label names the street only.
        """
        if not text or not text.strip():
            raise ValidationError("nothing to geocode: give an address or a commune name")
        if limit < 1:
            raise ValidationError("limit must be at least 1")
        text = text.strip()
        number = shown = ""
        m = _HOUSENUMBER.match(text)
        if m:
            number = (m.group(1) + (m.group(2) or "")).lower()
            suffix = (m.group(2) or "").lower()
            # As written in an address: « 12 bis », « 12B ».
            shown = m.group(1) + (f" {suffix}" if len(suffix) > 1 else suffix.upper())
            if _POSTCODE.fullmatch(m.group(1)):  # "20200 Bastia": a postcode, not a number
                number, shown, m = "", "", None
        if not keep_number:
            shown = ""
        rest, commune_ids = self._split_commune(text[m.end() :] if m else text)
        rest = _POSTCODE.sub(" ", rest).strip(" ,")
        results: list[GeocodeResult] = []
        key = _key(rest)
        if key:
            results = self._streets_for(key, number, commune_ids, shown)
        if not results and commune_ids and key and "," not in text:
            # "Route de Ghisonaccia": the trailing word was part of the street name.
            whole = _key(text[m.end() :] if m else text)
            results = self._streets_for(whole, number, [], shown)
        if not results and not commune_ids and not key:
            return []
        if not results:
            ids = commune_ids or self._match_commune(rest)
            for ci in ids:
                c = self.territory.communes[ci]
                score = 0.5 if key and commune_ids else 1.0
                lon, lat = self._centres.get(ci, (c.lon, c.lat))
                results.append(GeocodeResult(c.name, lon, lat, score, "commune", c.code_insee))
        results.sort(key=lambda r: -r.score)
        # Far weaker guesses only add noise next to a good match.
        best = results[0].score if results else 0.0
        return [r for r in results if r.score >= 0.6 * best][:limit]

    def _streets_for(
        self, key: str, number: str, commune_ids: list[int], shown: str = ""
    ) -> list[GeocodeResult]:
        """Streets matching ``key`` (at ``number``'s building where known; else the street's
        middle, its label starting with ``shown``, the number as typed, when given)."""
        if key in self._streets:
            candidates = [(key, 1.0)]
        else:
            candidates = []
        close = difflib.get_close_matches(key, self._street_keys, n=8, cutoff=0.75)
        for other in close:
            if other != key:
                ratio = difflib.SequenceMatcher(None, key, other).ratio()
                candidates.append((other, 0.9 * ratio))
        out: list[GeocodeResult] = []
        wanted = set(commune_ids)
        for street_key, score in candidates:
            for name, ci, lon, lat in self._streets[street_key]:
                in_commune = not wanted or ci in wanted
                s = score if in_commune else score * 0.6
                commune = self.territory.communes[ci] if ci >= 0 else None
                label = f"{name}, {commune.name}" if commune else name
                code = commune.code_insee if commune else ""
                hit = self._housenumber(street_key, number, ci) if number else None
                if hit is not None:
                    out.append(
                        GeocodeResult(
                            f"{shown or number} {label}", hit[0], hit[1], s, "housenumber", code
                        )
                    )
                else:
                    # The number is kept in the label (the home is on that street, somewhere):
                    # the precision says the point is the street's middle.
                    out.append(
                        GeocodeResult(
                            f"{shown} {label}" if shown else label,
                            lon,
                            lat,
                            s * (0.95 if number else 1.0),
                            "street",
                            code,
                        )
                    )
        # Address tags on streets that are not in the road graph (footways, squares).
        if number and key in self._addresses and not any(r.precision == "housenumber" for r in out):
            for num, street, lon, lat, ci in self._addresses[key]:
                if num.lower() == number and (not wanted or ci in wanted):
                    commune = self.territory.communes[ci] if ci >= 0 else None
                    label = f"{num} {street}" + (f", {commune.name}" if commune else "")
                    out.append(
                        GeocodeResult(
                            label,
                            lon,
                            lat,
                            1.0,
                            "housenumber",
                            commune.code_insee if commune else "",
                        )
                    )
                    break
        return out

    def _housenumber(self, street_key: str, number: str, ci: int) -> tuple[float, float] | None:
        for num, _street, lon, lat, aci in self._addresses.get(street_key, ()):
            if num.lower() == number and (aci == ci or ci < 0):
                return lon, lat
        return None
