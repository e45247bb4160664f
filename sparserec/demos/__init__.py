"""Demos and experiment drivers: application code, outside the solver families.

One module per family (``bcd``, ``deconv``, ``dictionary``, ``sbl``, ``selfcal``,
``wht``), each with the ``run(quick=False, random_state=0) -> dict`` that ``sparserec
demo`` calls (the contract is in :mod:`sparserec.cli`), and the experiment helpers that
the gallery, the benchmarks and the tests share: :mod:`sparserec.demos.selfcal_applications`
(blind deblurring and array-calibration problems, phase transitions, error vs SNR) and
:mod:`sparserec.demos.dictionary_comparison` (recovery vs samples against the peers, ECG
windows, atom alignment). The families never import this package (DESIGN.md's layers).
"""
