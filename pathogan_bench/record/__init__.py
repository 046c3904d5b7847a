"""A run's record as typed data: its facts (``run.json``, :mod:`.facts`) and its scores (``summary.json``,
:mod:`.summary`), each with the one loader that migrates what older versions wrote."""
