-- Extra LDAP attributes of users, from custom schema fields that the config
-- maps to attribute names: a JSON object of attribute name to a list of
-- values ('{}' when none).

ALTER TABLE users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes));
