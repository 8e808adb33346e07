"""The bundled demo material, kept low in the tree so any stage may use it: the sample task
(:mod:`.sample`, shipped as Gemini JSONL in ``data/``) and the tiny random-weight model
(:mod:`.tiny`) that fast tests and ``sftwise demo --tiny`` train in seconds."""
