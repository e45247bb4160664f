"""Bundled data files of sparserec (installed as ``sparserec._data``); see MANIFEST."""
