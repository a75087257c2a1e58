-- Teams: whom each user reports to (a manager's email), so that a manager's book can be
-- their team's accounts. Books may now be 'own', 'team' or 'all'.
ALTER TABLE users ADD COLUMN manager TEXT;
CREATE INDEX users_manager_idx ON users (manager);
