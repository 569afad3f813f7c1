"""The data files in schemas/: valid schemas, defaults that satisfy them, columns that are complete."""

from __future__ import annotations

import jsonschema

from ns1nwb.nwb.columns import column_specs
from ns1nwb.user_metadata import _defaults, metadata_schema, validate_metadata


def test_metadata_schema_is_valid_draft7():
    jsonschema.Draft7Validator.check_schema(metadata_schema())


def test_defaults_satisfy_the_schema():
    validate_metadata(_defaults(), "default_metadata.yaml")


def test_every_column_has_a_type_and_description():
    specs = column_specs()
    assert set(specs) == {"units", "electrodes", "trials", "stimuli", "recording_blocks"}
    for table, columns in specs.items():
        names = [c["name"] for c in columns]
        assert len(names) == len(set(names)), table
        for column in columns:
            assert column["dtype"] and len(column["description"]) > 20, (table, column["name"])


def test_every_unit_key_is_written_into_the_file(sample_nwb):
    """A column's ``unit`` in the specs reaches the description written into the file ("Unit: ...")."""
    import h5py

    where = {"units": "units", "electrodes": "general/extracellular_ephys/electrodes", "trials": "intervals/trials",
             "stimuli": "processing/stimuli/stimuli", "recording_blocks": "intervals/recording_blocks"}
    with h5py.File(sample_nwb, "r") as f:
        for table, columns in column_specs().items():
            for column in columns:
                if column.get("unit") and column["name"] in f[where[table]]:
                    description = f[where[table]][column["name"]].attrs["description"]
                    assert f"Unit: {column['unit']}." in description, (table, column["name"])
