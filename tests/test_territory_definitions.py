"""Tests of territory definitions and of the data search path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dispatch.errors import DataMissingError, NotFoundError, ValidationError
from dispatch.settings import PROJECT_ROOT, load_settings
from dispatch.territory import find_data_file, list_territories, load_definition

DEFINITIONS = PROJECT_ROOT / "data" / "territories"


def test_every_required_territory_is_defined(settings):
    """The five territories of the issue exist, each with communes, a road source and bases."""
    ids = {d.id for d in list_territories(settings)}
    assert {"haute-corse", "corse-du-sud", "corse", "melun", "saint-barthelemy"} <= ids
    for d in list_territories(settings):
        assert d.communes and d.road.file and d.road.url.startswith("https://")
        assert len(d.road.sha256) == 64
        assert d.bases, f"{d.id} has no team base"
        assert all(b.source for b in d.bases), f"{d.id}: every base says where it comes from"


def test_corsican_definitions_partition_the_island(settings):
    """2B and 2A communes together are exactly the island's communes, with no overlap."""
    hc = set(load_definition("haute-corse", settings).commune_codes)
    cs = set(load_definition("corse-du-sud", settings).commune_codes)
    corse = set(load_definition("corse", settings).commune_codes)
    assert len(hc) == 236 and len(cs) == 124
    assert hc.isdisjoint(cs) and hc | cs == corse
    assert all(c.startswith("2B") for c in hc) and all(c.startswith("2A") for c in cs)


def test_unknown_territory_names_the_known_ones(settings):
    """An unknown id raises NotFoundError listing the defined territories."""
    with pytest.raises(NotFoundError, match="haute-corse"):
        load_definition("atlantis", settings)


def test_missing_road_file_says_what_to_put_where(settings, tmp_path):
    """With an empty data path the error names the file, the folder to use and `fetch`."""
    empty = settings.replace(data_path=(tmp_path / "nothing",))
    definition = load_definition("melun", empty)
    with pytest.raises(DataMissingError) as info:
        find_data_file(definition.road, empty)
    message = str(info.value)
    assert "melun_network.xml.gz" in message
    assert str(tmp_path / "nothing" / "melun") in message
    assert "dispatch territory fetch" in message


def test_data_path_from_environment(tmp_path, shared_dir):
    """DISPATCH_DATA_PATH (folders joined by ':') is searched in order, one level deep."""
    folder = tmp_path / "mydata" / "any-name"
    folder.mkdir(parents=True)
    copy = folder / "melun_network.xml.gz"
    shutil.copy(shared_dir / "territories" / "melun" / "melun_network.xml.gz", copy)
    settings = load_settings(
        env={
            "DISPATCH_DATA_PATH": f"{tmp_path / 'mydata'}:{shared_dir / 'territories'}",
            "DISPATCH_VAR_DIR": str(tmp_path / "var"),
        }
    )
    definition = load_definition("melun", settings)
    assert find_data_file(definition.road, settings) == copy


def _copy_definition(tmp_path: Path, territory_id: str) -> Path:
    root = tmp_path / "territories"
    shutil.copytree(DEFINITIONS / territory_id, root / territory_id)
    return root


def test_invalid_definition_is_rejected(settings, tmp_path):
    """A road format that no importer reads is a ValidationError naming the file."""
    root = _copy_definition(tmp_path, "melun")
    toml = root / "melun" / "territory.toml"
    toml.write_text(toml.read_text().replace('format = "matsim"', 'format = "shapefile"'))
    with pytest.raises(ValidationError, match="shapefile"):
        load_definition("melun", settings.replace(territories_dir=root))


def test_fingerprint_follows_the_definition_files(settings, tmp_path):
    """Changing any file of a definition changes its fingerprint (so the cache is rebuilt)."""
    root = _copy_definition(tmp_path, "melun")
    local = settings.replace(territories_dir=root)
    before = load_definition("melun", local).fingerprint()
    bases = root / "melun" / "bases.csv"
    bases.write_text(bases.read_text().replace("2.641", "2.642"))
    assert load_definition("melun", local).fingerprint() != before
