"""Data: safe readers, the dataset index, P x K sampling, frame selection, transforms and the
Lightning datamodule. Import from the submodules, e.g. `from gaitwave.data.readers import
load_sequence`."""
