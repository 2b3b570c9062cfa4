-- The nodes that ran something, for the filters' choices, are read by
-- walking this index from one name to the next (Run::nodes).
CREATE INDEX runs_node ON runs (node);
