-- A schema v1 journal, as live/journal.py at commit 73fb5ac wrote it (dumped with
-- sqlite3's iterdump). Trading day 2026-11-20: E1 filled 4 while OpenAlgo reported average 0
-- (v1 booked that slice at price 0 and the next at the full average), then complete at
-- 512.30; its stop S1 trailed to 507.10 and filled 4 @ 507.00 then 6 (average 506.94);
-- INFY entry E2 partly filled (3 of 8) with average 0 still; a failed stop intent; a pending
-- exit intent; U1 (NSE:TCS) seen only in an update, never bound.
BEGIN TRANSACTION;
CREATE TABLE fills (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id            TEXT    NOT NULL REFERENCES orders(order_id),
    key                 TEXT    NOT NULL,
    day                 TEXT    NOT NULL,
    action              TEXT    NOT NULL,
    quantity            INTEGER NOT NULL CHECK (quantity > 0),
    price               TEXT    NOT NULL,
    average_price       TEXT    NOT NULL,
    cumulative_quantity INTEGER NOT NULL,
    ts                  TEXT    NOT NULL,
    UNIQUE (order_id, cumulative_quantity)
);
INSERT INTO "fills" VALUES(1,'E1','NSE:SBIN','2026-11-20','BUY',4,'0','0',4,'2026-11-20T09:22:00+05:30');
INSERT INTO "fills" VALUES(2,'E1','NSE:SBIN','2026-11-20','BUY',6,'512.30','512.30',10,'2026-11-20T09:23:00+05:30');
INSERT INTO "fills" VALUES(3,'S1','NSE:SBIN','2026-11-20','SELL',4,'507.00','507.00',4,'2026-11-20T10:05:00+05:30');
INSERT INTO "fills" VALUES(4,'S1','NSE:SBIN','2026-11-20','SELL',6,'506.9000','506.94',10,'2026-11-20T10:06:00+05:30');
INSERT INTO "fills" VALUES(5,'E2','NSE:INFY','2026-11-20','SELL',3,'0','0',3,'2026-11-20T09:31:00+05:30');
INSERT INTO "fills" VALUES(6,'U1','NSE:TCS','2026-11-20','BUY',5,'3500.25','3500.25',5,'2026-11-20T11:00:00+05:30');
CREATE TABLE intents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT    NOT NULL,
    day        TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    attempt    INTEGER,
    created_at TEXT    NOT NULL,
    detail     TEXT,
    state      TEXT    NOT NULL DEFAULT 'pending',
    error      TEXT,
    closed_at  TEXT,
    UNIQUE (key, day, attempt),
    CHECK ((role = 'entry') = (attempt IS NOT NULL)),
    CHECK (attempt IS NULL OR attempt >= 1),
    CHECK (state IN ('pending', 'bound', 'failed'))
);
INSERT INTO "intents" VALUES(1,'NSE:SBIN','2026-11-20','entry',1,'2026-11-20T09:20:00+05:30',NULL,'bound',NULL,'2026-11-20T09:20:00+05:30');
INSERT INTO "intents" VALUES(2,'NSE:SBIN','2026-11-20','stop',NULL,'2026-11-20T09:23:00+05:30','{"qty": 10, "trigger": "505.05"}','bound',NULL,'2026-11-20T09:23:00+05:30');
INSERT INTO "intents" VALUES(3,'NSE:INFY','2026-11-20','entry',1,'2026-11-20T09:30:00+05:30',NULL,'bound',NULL,'2026-11-20T09:30:00+05:30');
INSERT INTO "intents" VALUES(4,'NSE:INFY','2026-11-20','stop',NULL,'2026-11-20T09:32:00+05:30',NULL,'failed','OrderRejected: price band','2026-11-20T09:32:01+05:30');
INSERT INTO "intents" VALUES(5,'NSE:INFY','2026-11-20','exit',NULL,'2026-11-20T15:16:00+05:30',NULL,'pending',NULL,NULL);
CREATE TABLE orders (
    order_id         TEXT    PRIMARY KEY,
    intent_id        INTEGER REFERENCES intents(id),
    key              TEXT    NOT NULL,
    day              TEXT    NOT NULL,
    role             TEXT    NOT NULL,
    action           TEXT    NOT NULL,
    price_type       TEXT,
    product          TEXT,
    quantity         INTEGER NOT NULL,
    price            TEXT,
    trigger_price    TEXT,
    status           TEXT    NOT NULL,
    filled_quantity  INTEGER NOT NULL DEFAULT 0,
    average_price    TEXT    NOT NULL DEFAULT '0',
    rejection_reason TEXT    NOT NULL DEFAULT '',
    broker_ts        TEXT,
    placed_at        TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);
INSERT INTO "orders" VALUES('E1',1,'NSE:SBIN','2026-11-20','entry','BUY','SL','MIS',10,'512.50','512.35','complete',10,'512.30','',NULL,'2026-11-20T09:20:00+05:30','2026-11-20T09:23:00+05:30');
INSERT INTO "orders" VALUES('S1',2,'NSE:SBIN','2026-11-20','stop','SELL','SL-M','MIS',10,NULL,'507.10','complete',10,'506.94','',NULL,'2026-11-20T09:23:00+05:30','2026-11-20T10:06:00+05:30');
INSERT INTO "orders" VALUES('E2',3,'NSE:INFY','2026-11-20','entry','SELL','LIMIT','MIS',8,'1500.10',NULL,'partial',3,'0','',NULL,'2026-11-20T09:30:00+05:30','2026-11-20T09:31:00+05:30');
INSERT INTO "orders" VALUES('U1',NULL,'NSE:TCS','2026-11-20','unbound','BUY',NULL,NULL,5,'0','0','complete',5,'3500.25','',NULL,'2026-11-20T11:00:00+05:30','2026-11-20T11:00:00+05:30');
CREATE TABLE schema_version (
    version INTEGER NOT NULL
);
INSERT INTO "schema_version" VALUES(1);
CREATE INDEX orders_key_day ON orders (key, day);
CREATE INDEX fills_key_day ON fills (key, day);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('intents',5);
INSERT INTO "sqlite_sequence" VALUES('fills',6);
COMMIT;
