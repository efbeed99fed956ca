"""Secret rotation (docs/secrets.md): the Rotator port and its adapters (``base``) and the due
dates (``schedule``). The four-step protocol that rotates a secret through its environments is
``safeship.pipeline.rotation``'s, since it deploys."""
