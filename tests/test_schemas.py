"""The data files in schemas/: valid schemas, defaults that satisfy them, columns that are complete."""

from __future__ import annotations

import jsonschema

from ns1nwb.metadata import _defaults, column_specs, metadata_schema, validate_metadata


def test_metadata_schema_is_valid_draft7():
    jsonschema.Draft7Validator.check_schema(metadata_schema())


def test_defaults_satisfy_the_schema():
    validate_metadata(_defaults(), "default_metadata.yaml")


def test_every_column_has_a_type_and_description():
    specs = column_specs()
    assert set(specs) == {"units", "electrodes", "trials", "stimuli"}
    for table, columns in specs.items():
        names = [c["name"] for c in columns]
        assert len(names) == len(set(names)), table
        for column in columns:
            assert column["dtype"] and len(column["description"]) > 20, (table, column["name"])
