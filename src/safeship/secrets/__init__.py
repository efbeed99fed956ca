"""The SecretStore port: an environment's secrets by name (see ``base``); the first adapter is
the environment's own variables (``env``). Vault comes with secret rotation."""
