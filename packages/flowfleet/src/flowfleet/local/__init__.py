"""The whole fleet on one laptop: a local server, a process worker and a demo run.

`python -m flowfleet.local demo|server|worker|down` backs `make demo`, `make server`,
`make worker` and `make down`. Everything it starts is recorded in a PID file in the state
folder (`.state/` by default), and `down` stops only what those files name.
"""
