-- What a number look-up provider said of a number ([lookup]), kept so each number is asked about
-- once per `max_age_days`: valid or not, its line type, its carrier. A number it said is not
-- valid is also a dead number (sql/025_dead_numbers.sql).
CREATE TABLE number_lookups (
    e164          text PRIMARY KEY CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    provider      text NOT NULL,
    valid         boolean NOT NULL,
    line_type     text NOT NULL
                  CHECK (line_type IN ('mobile', 'landline', 'voip', 'toll_free', 'other',
                                       'unknown')),
    carrier       text,
    why           text,
    looked_up_at  timestamptz NOT NULL
);
