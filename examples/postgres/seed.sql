-- dotsync PostgreSQL example: 20 customers, two of them with an e-mail address Dotdigital
-- refuses, so the write-back table shows a rejection next to the deliveries.
--   psql "$DATABASE_URL" -f examples/postgres/seed.sql
DROP TABLE IF EXISTS customers;
CREATE TABLE customers (
    id              integer PRIMARY KEY,
    email           text NOT NULL,
    first_name      text,
    last_name       text,
    lifetime_value  double precision,
    vip             boolean NOT NULL DEFAULT false,
    opted_out       boolean NOT NULL DEFAULT false,
    internal_notes  text  -- not mapped: never fetched by dotsync
);
INSERT INTO customers (id, email, first_name, last_name, lifetime_value, vip, opted_out, internal_notes) VALUES
    (1,  'priya.silva@example.com',    'Priya',   'Silva',    1598.45, false, false, 'prefers email'),
    (2,  'eve.kowalski@example.com',   'Eve',     'Kowalski', 2476.40, true,  false, NULL),
    (3,  'tom.okafor@example.com',     'Tom',     'Okafor',    310.00, false, false, NULL),
    (4,  'ana.garcia@example.com',     'Ana',     'Garcia',   5120.99, true,  false, 'key account'),
    (5,  'li.wei@example.com',         'Li',      'Wei',        89.90, false, false, NULL),
    (6,  'sam.jones@example',          'Sam',     'Jones',     450.00, false, false, 'typo in the address'),
    (7,  'nina.berg@example.com',      'Nina',    'Berg',      725.10, false, false, NULL),
    (8,  'omar.haddad@example.com',    'Omar',    'Haddad',   1999.99, true,  false, NULL),
    (9,  'julia.rossi@example.com',    'Julia',   'Rossi',     260.75, false, true,  'asked not to be mailed'),
    (10, 'ken.tanaka@example.com',     'Ken',     'Tanaka',    640.00, false, false, NULL),
    (11, 'maria.santos@example.com',   'Maria',   'Santos',   3300.00, true,  false, NULL),
    (12, 'no-at-sign.example.com',     'Leo',     'Martin',    120.00, false, false, 'address missing @'),
    (13, 'fatima.ali@example.com',     'Fatima',  'Ali',       845.50, false, false, NULL),
    (14, 'jan.novak@example.com',      'Jan',     'Novak',      45.00, false, false, NULL),
    (15, 'grace.lee@example.com',      'Grace',   'Lee',      1420.30, false, false, NULL),
    (16, 'david.brown@example.com',    'David',   'Brown',     980.00, false, false, NULL),
    (17, 'sofia.costa@example.com',    'Sofia',   'Costa',    2750.00, true,  false, NULL),
    (18, 'ivan.petrov@example.com',    'Ivan',    'Petrov',    510.40, false, false, NULL),
    (19, 'chloe.martin@example.com',   'Chloe',   'Martin',    199.99, false, false, NULL),
    (20, 'ahmed.hassan@example.com',   'Ahmed',   'Hassan',   4100.00, true,  false, NULL);
