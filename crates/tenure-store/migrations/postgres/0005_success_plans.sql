-- Each account's success plan and sales-to-CS handoff brief: goals, success criteria,
-- stakeholders, risks and the brief, as one JSON document, with who changed it last and when.
-- `revision` counts the saves, so that two editors cannot overwrite each other unseen.
CREATE TABLE success_plans (
    account_id TEXT NOT NULL PRIMARY KEY,
    document TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    revision BIGINT NOT NULL
);
