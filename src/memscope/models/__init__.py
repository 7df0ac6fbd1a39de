"""The models memscope trains and measures: the reference GPT, the ensemble engine, one LanguageModel interface."""
