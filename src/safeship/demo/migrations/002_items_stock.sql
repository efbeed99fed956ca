-- v2 of the demo shows how many of each item are left. A new column with a default: the
-- previous version, which never reads it, keeps working (backward compatible).
ALTER TABLE items ADD COLUMN stock INTEGER NOT NULL DEFAULT 0;
UPDATE items SET stock = 10;
