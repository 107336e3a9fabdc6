"""The scale-out topology on one machine, from Debian and PyPI packages: ``make run-cluster``.

Redis, PostgreSQL, a Chroma server, coturn and nginx run as child processes on loopback
ports with their data in one directory, in front of ``teller serve --workers N``. The
tests and ``bench/scale_out.py`` start the same servers through these classes.
"""
