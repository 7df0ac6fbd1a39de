"""memscope: how much did a transformer memorize, and how much did it generalize?"""
__version__ = "0.1.0"
