"""Tools for working on ganforge itself (not used by the library): `python -m ganforge.devtools.layers`."""
