"""Studies: one package per study (recipe, tables, report)."""
