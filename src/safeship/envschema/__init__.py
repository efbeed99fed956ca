"""Environment-as-code: the env.schema.toml model, validation, .env files, parity, drift, audit.

Modules, from the bottom up:

- ``problems``: the error types and ``Problem`` (one finding about one variable);
- ``types``: parsing one value of each schema type and checking its constraints;
- ``schema``: loading env.schema.toml (``extends`` resolved) into ``Schema``;
- ``dotenv_file``: reading .env files with line-numbered problems (python-dotenv's parser);
- ``sources``: collecting an environment's variables (.env files, process, target);
- ``validate``: checking variables against one environment's schema;
- ``example``: writing .env.example and checking its parity with the schema;
- ``fingerprint``: keyed hashes of secret values;
- ``compare``: diff of two environments, snapshots, audit and drift;
- ``gate``: the env check the deploy pipeline runs before a release starts.

Nothing here imports SQLAlchemy or pydantic at module level, so ``safeship env check`` starts fast.
"""

from safeship.envschema.problems import EnvSchemaError, EnvSourceError, InvalidEnvironment, Problem

__all__ = ["EnvSchemaError", "EnvSourceError", "InvalidEnvironment", "Problem"]
