"""AutoMatrix: durable workflows (spec, expressions, engine, executors, templates, triggers)."""
