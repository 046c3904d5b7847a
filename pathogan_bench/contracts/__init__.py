"""What a plugin provides, kind by kind: the hooks (:mod:`.hookspecs`), the table of kinds with each one's factory
signature and contract (:mod:`.kinds`), and the contracts themselves, one module per kind (:mod:`.model`,
:mod:`.metric`, :mod:`.threshold_policy`, :mod:`.postprocess`, :mod:`.dataset`, :mod:`.logger`, :mod:`.loss`)."""
