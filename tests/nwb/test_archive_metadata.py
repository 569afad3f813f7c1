"""Metadata DANDI keeps (issue 22, item A): doi.org URLs, keywords, an open-ended adult age, the ferret's
NCBI taxon URL whatever name the user gives it, and a one-line refusal of a species ns1nwb cannot map."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import pytest

import ns1nwb
from ns1nwb import convert
from ns1nwb.exceptions import MetadataError
from ns1nwb.user_metadata import FERRET_TAXON_URL, load_metadata, schema_text


def _text(values):
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def test_schemas_come_from_this_checkout():
    """The defaults this suite tests are the ones beside the package under test (an editable install's
    package data may point at another checkout)."""
    here = Path(ns1nwb.__file__).resolve().parents[1] / "schemas" / "default_metadata.yaml"
    assert schema_text("default_metadata.yaml") == here.read_text(encoding="utf-8")


def test_sample_file_metadata_as_dandi_extracts_it(sample_nwb):
    pytest.importorskip("dandi")
    from dandi.metadata.nwb import get_metadata
    from dandi.metadata.util import extract_age, extract_related_resource

    with h5py.File(sample_nwb, "r") as f:
        assert f["general/subject/age"][()].decode() == "P6M/"
        assert _text(f["general/keywords"][:]) == ["ferret", "auditory cortex", "natural sounds",
                                                   "dynamic random chords", "spectro-temporal receptive fields"]
        publications = _text(f["general/related_publications"][:])
    assert len(publications) == 3 and all(p.startswith("https://doi.org/10.") for p in publications)
    metadata = get_metadata(sample_nwb)
    related = extract_related_resource(metadata)
    assert [str(r.identifier) for r in related] == publications
    # DANDI looks a taxon URL up online (not done here); what it is given is the ferret's URL.
    assert metadata["species"] == FERRET_TAXON_URL
    age = extract_age(metadata)
    assert age.value.startswith("P6M/") or age.value == "P6M"  # DANDI reads the open range


@pytest.mark.parametrize("species", ["Mustela putorius furo", "mustela  Putorius furo", "ferret", "Domestic ferret",
                                     "Mustela furo", "NCBITaxon:9669", FERRET_TAXON_URL,
                                     "https://purl.obolibrary.org/obo/NCBITaxon_9669"])
def test_any_name_of_the_ferret_becomes_its_taxon_url(tmp_path, species):
    path = tmp_path / "m.yaml"
    path.write_text(f"subject: {{species: '{species}'}}\nsubjects:\n  exp45: {{species: '{species}'}}\n")
    metadata = load_metadata(path)
    assert metadata["subject"]["species"] == FERRET_TAXON_URL
    assert metadata["subjects"]["exp45"]["species"] == FERRET_TAXON_URL


def test_dandi_would_read_the_binomial_as_a_mouse():
    """Why the URL is written: DANDI maps a Latin name by prefix."""
    pytest.importorskip("dandi")
    from dandi.metadata.util import extract_species

    assert "Mus musculus" in extract_species({"species": "Mustela putorius furo"}).name


@pytest.mark.parametrize("text, field", [
    ("subject: {species: Mus musculus}\n", "subject.species"),
    ("subjects:\n  exp42: {species: polecat}\n", "subjects.exp42.species"),
])
def test_a_species_that_cannot_be_mapped_is_refused(tmp_path, text, field):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(MetadataError) as error:
        load_metadata(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and field in message


def test_user_dois_are_written_as_urls(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("related_publications: ['doi:10.1000/xyz', 'https://example.org/paper']\n")
    assert load_metadata(path)["related_publications"] == ["https://doi.org/10.1000/xyz", "https://example.org/paper"]


def test_binomial_species_and_own_keywords_reach_the_file(lean_tree, tmp_path):
    """(A tree without wavs: the row is about the metadata.)"""
    path = tmp_path / "m.yaml"
    path.write_text("keywords: [ferret, A1]\nsubject: {species: Mustela putorius furo, age: P1Y/}\n")
    out = tmp_path / "m.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its wavs are missing
        convert(lean_tree, out, metadata_path=path)
    with h5py.File(out, "r") as f:
        assert f["general/subject/species"][()].decode() == FERRET_TAXON_URL
        assert f["general/subject/age"][()].decode() == "P1Y/"
        assert _text(f["general/keywords"][:]) == ["ferret", "A1"]
