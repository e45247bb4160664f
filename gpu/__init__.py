"""CUDA sources of sparserec (installed as ``sparserec._gpu``), compiled by CuPy at run time."""
