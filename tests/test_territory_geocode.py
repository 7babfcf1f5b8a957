"""Tests of the offline geocoder: streets, house numbers, communes, fuzzy matching."""

from __future__ import annotations

import shutil

import pyrosm
import pytest
import shapely

from dispatch.errors import ValidationError
from dispatch.territory import Geocoder, build_territory
from dispatch.territory.geocode import normalise


@pytest.fixture(scope="module")
def bastia_geocoder(haute_corse):
    return Geocoder(haute_corse)


def test_street_in_named_commune(bastia_geocoder, haute_corse):
    """A street and a commune give a point on that street, inside that commune."""
    best = bastia_geocoder.geocode("avenue de la Libération, Bastia")[0]
    assert best.precision == "street" and best.label == "Avenue de la Libération, Bastia"
    bastia = haute_corse.commune_by_code("2B033")
    assert best.commune == "2B033"
    assert shapely.contains_xy(shapely.buffer(bastia.geometry, 0.002), best.lon, best.lat)


def test_matching_ignores_case_accents_punctuation_and_abbreviations(bastia_geocoder):
    """Case, accents, abbreviations and a missing comma do not change the answer."""
    reference = bastia_geocoder.geocode("avenue de la Libération, Bastia")[0]
    for text in (
        "AVENUE DE LA LIBERATION, BASTIA",
        "av. de la liberation bastia",
        "Avenue de la Libération, 20200 Bastia",
    ):
        got = bastia_geocoder.geocode(text)[0]
        assert (got.lon, got.lat) == (reference.lon, reference.lat), text


def test_typo_still_matches_with_lower_score(bastia_geocoder):
    """A misspelt street is found, scored below an exact match."""
    got = bastia_geocoder.geocode("avenue de la Liberaton, Bastia")[0]
    assert got.label == "Avenue de la Libération, Bastia" and 0.6 < got.score < 1.0


def test_commune_precision_is_the_last_resort(bastia_geocoder, haute_corse):
    """A bare commune gives its populated centre; an unknown street in it falls back to it."""
    corte = bastia_geocoder.geocode("Corte")[0]
    assert corte.precision == "commune" and corte.commune == "2B096"
    assert abs(corte.lon - 9.15) < 0.02 and abs(corte.lat - 42.306) < 0.02, "the town itself"
    fallback = bastia_geocoder.geocode("rue qui n'existe pas, Corte")[0]
    assert fallback.precision == "commune" and fallback.score < 1.0
    assert bastia_geocoder.geocode("l'ile rousse")[0].commune == "2B134"


def test_nothing_found_and_bad_input(bastia_geocoder):
    """Gibberish gives no result; empty text is a ValidationError."""
    assert bastia_geocoder.geocode("xqzwv") == []
    with pytest.raises(ValidationError):
        bastia_geocoder.geocode("  ")


def test_street_name_ending_with_a_commune_name(bastia_geocoder):
    """'Route de Ghisonaccia' is a street, not the commune Ghisonaccia."""
    got = bastia_geocoder.geocode("Route de Ghisonaccia")[0]
    assert got.precision == "street" and got.label.startswith("Route de Ghisonaccia")


def test_normalise():
    """Normalisation folds accents and expands common abbreviations."""
    assert normalise("Bd. Général-de-Gaulle") == "boulevard general de gaulle"
    assert normalise("Ch. de l'Île") == "chemin de l ile"


def test_house_numbers_from_address_tags(settings, tmp_path):
    """Where the extract has address tags (Helsinki), a number gives that building's point."""
    root = tmp_path / "territories"
    (root / "helsinki").mkdir(parents=True)
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(pyrosm.get_data("helsinki_pbf"), data / "Helsinki.osm.pbf")
    (root / "helsinki" / "territory.toml").write_text(
        '[road]\nfile = "Helsinki.osm.pbf"\nformat = "osm"\n'
        '[boundary]\nsource = "road-network"\nbuffer_m = 200\n'
    )
    (root / "helsinki" / "communes.csv").write_text(
        "code_insee,nom,population,lon,lat\n091,Helsinki,1000,24.94,60.17\n"
    )
    local = settings.replace(territories_dir=root, data_path=(data,), cache_dir=tmp_path / "cache")
    territory = build_territory("helsinki", local)
    assert territory.addresses
    number, street, lon, lat = territory.addresses[0]
    got = Geocoder(territory).geocode(f"{number} {street}, Helsinki")[0]
    assert got.precision == "housenumber"
    assert (got.lon, got.lat) == pytest.approx((lon, lat))


def test_a_number_placed_at_the_street_keeps_its_number_in_the_label(bastia_geocoder):
    """Without that building's point the street's middle is given, and the label still says
    the number typed (« 12 Avenue de la Libération, Bastia », precision street)."""
    street = bastia_geocoder.geocode("avenue de la Libération, Bastia")[0]
    got = bastia_geocoder.geocode("12 av. de la Libération, Bastia", keep_number=True)[0]
    assert got.precision == "street" and (got.lon, got.lat) == (street.lon, street.lat)
    assert got.label == "12 Avenue de la Libération, Bastia"
    bis = bastia_geocoder.geocode("12 bis avenue de la Libération Bastia", keep_number=True)
    assert bis[0].label.startswith("12 bis Avenue")
    # By default (the intake's CSV rows) the label names the street only.
    assert bastia_geocoder.geocode("12 av. de la Libération, Bastia")[0].label == street.label
