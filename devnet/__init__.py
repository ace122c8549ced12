"""devnet: a local java-tron full node (HTTP API) for development, tests and demos.

Modules, from the bottom up:
- wire formats: `encoding` (protobuf fields, block ids), `messages` (protobuf
  messages as data: java-tron's JSON in and out), `contracts` (system
  contract schemas), `transactions` (raw_data, txid, java-tron's JSON);
- keys and state: `keys` (addresses, signatures), `params` and `genesis`
  (starting state), `accounts`, `ledger` (state layers: solid, per block,
  pending), `resources` (usage windows);
- rules: `errors`, `signatures`, `bandwidth`, `actuators`, `processor`
  (broadcast and execution), `mempool` (pending -> block);
- the node: `chain` (blocks, views, no clock), `producer` (slots on the wall
  clock), `render*` (java-tron's JSON), `http` and `api*` (aiohttp routes),
  `server` (`Devnet`: everything on one event loop), `builders` (local
  signing for tests and tools) and `__main__` (`python -m devnet`).
"""
