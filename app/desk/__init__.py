"""The picking desk: every variation of every cue in the browser, picked in seconds.

`python -m app desk SHOW` serves it locally (app.desk.server); app.desk.store reads and
writes the show's variations, marks and picks; app.desk.jobs queues "more like this".
No torch here: the generation backend is imported only when a job first runs.
"""
