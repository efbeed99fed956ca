-- The demo's catalogue: what GET /api/v1/items answers when DATABASE_URL is set.
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    price_cents INTEGER NOT NULL
);
INSERT INTO items (id, name, price_cents) VALUES
    (1, 'anvil', 4999),
    (2, 'rocket skates', 12900),
    (3, 'giant magnet', 2500);
