"""Read paths: plain functions over a connection that return plain data. They never write."""
