"""Human labels: a SQLite store with CSV/JSONL import and export (:mod:`.store`) and the local labelling
web app behind ``sftwise label`` (:mod:`.server`, one page of vanilla JavaScript in ``page.html``)."""
