"""Readers for the source formats the dataset tool accepts; `ganforge.data.sources` picks one."""
