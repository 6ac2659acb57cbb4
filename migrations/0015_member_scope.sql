-- A member's scope (docs/protocol.md §8.3 "MemberScope", docs/plugins.md §1.1): what the member may
-- do whatever its role, the way a plugin's member is held to its manifest. NULL capabilities: not
-- confined (the role alone decides). `scope_topics` NULL with capabilities set: any topic.
ALTER TABLE members ADD COLUMN scope_capabilities text[];
ALTER TABLE members ADD COLUMN scope_topics text[];
ALTER TABLE members ADD CONSTRAINT members_scope_check CHECK (
  (scope_capabilities IS NOT NULL OR scope_topics IS NULL)
  AND (scope_capabilities IS NULL OR scope_capabilities <@ ARRAY['read', 'send', 'admin']::text[])
);
