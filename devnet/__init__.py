"""devnet: a local java-tron full node (HTTP API) for development, tests and demos.

Modules, from the bottom up: `encoding` (protobuf bytes, block ids), `keys`
(addresses, signatures), `params` and `genesis` (starting state), `chain`
(blocks and views, no clock), `producer` (slots on the wall clock), `render`
(java-tron's JSON), `api` (aiohttp routes), `server` (`Devnet`: everything on
one event loop) and `__main__` (`python -m devnet`).
"""
