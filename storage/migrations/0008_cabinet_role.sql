-- The role `cabinet`: a person of the Government's meetings (eCabinet). The account, its argon2
-- password, sessions and lock-out are the axis's like any other; such an account sees no agency
-- letters and the clerks' pages refuse it (axis/users.py). The profile lives with the plug-in.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('clerk', 'admin', 'cabinet'));
