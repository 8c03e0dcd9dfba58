-- Contact strategies: which strategy (and side of a champion/challenger split) each case is on,
-- kept so that reports count a case where it was; and each step a case has had.
CREATE TABLE strategy_cases (
    case_id      bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    campaign_id  bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    split        text NOT NULL,
    side         text NOT NULL CHECK (side IN ('champion', 'challenger')),
    strategy     text NOT NULL,
    since        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, campaign_id, split)
);

CREATE TABLE strategy_steps (
    case_id      bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    strategy     text NOT NULL,
    step         text NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('sent', 'refused')),
    message_id   bigint REFERENCES messages (id) ON DELETE SET NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, strategy, step)
);
