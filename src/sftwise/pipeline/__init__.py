"""``sftwise run``: one YAML config for the whole workflow (:mod:`.config`), its resumable state of
fingerprints (:mod:`.state`), the steps in order (:mod:`.runner`) and the demo's config (:mod:`.demo`)."""
