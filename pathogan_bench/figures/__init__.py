"""Drawing: the shared look of every figure (:mod:`.style`), slices with their maps (:mod:`.slices`, the paper's
Fig. 2) and sample grids (:mod:`.samples`). The run's and the comparison's figures are assembled beside their data
(``engine.run_figures``, ``comparison.figures``)."""
