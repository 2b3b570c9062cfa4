DROP INDEX runs_node;
