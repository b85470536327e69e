"""Hardware design-space exploration: a space file (:mod:`.space`), candidate evaluation
and the journal (:mod:`.evaluate`), grid / random / NSGA-II search (:mod:`.search`), Pareto
arithmetic (:mod:`.pareto`), reports and plots (:mod:`.report`), and the measurements of
the README's "Hardware exploration" section (:mod:`.study`)."""
