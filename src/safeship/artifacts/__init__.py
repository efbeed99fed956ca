"""The artifact file store: whole files (database backups, build outputs, reports) kept in a
local directory (``.safeship/artifacts`` by default) or at any fsspec URL (``s3://...`` with
s3fs installed), each with its checksum, indexed in the registry (``stored_files``).

Only the settings are imported with the config; the store itself (:mod:`.store`) is imported
by what uses it, since fsspec is not light.
"""
