"""Metamorphic evaluation (memscope metamorphic): relations, items, statistics, the command, its report."""
from .core import MetamorphicResult, MetamorphicSettings, format_metamorphic, list_relations, metamorphic
from .relations import RELATIONS, Relation, get_relation, register_relation, relations_for

__all__ = ["MetamorphicResult", "MetamorphicSettings", "format_metamorphic", "list_relations", "metamorphic",
           "RELATIONS", "Relation", "get_relation", "register_relation", "relations_for"]
