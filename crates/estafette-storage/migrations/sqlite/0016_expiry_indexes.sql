-- Expired UIA sessions and registration nonces are swept by age: without these indexes each
-- sweep reads the whole table (found by the PostgreSQL query-plan test).
CREATE INDEX uia_sessions_created ON uia_sessions (created_ts);
CREATE INDEX registration_nonces_created ON registration_nonces (created_ts);
